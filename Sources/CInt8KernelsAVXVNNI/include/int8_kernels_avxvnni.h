#ifndef SMARTCROP_INT8_KERNELS_AVXVNNI_H
#define SMARTCROP_INT8_KERNELS_AVXVNNI_H

// The int8 kernels of CInt8Kernels/include/int8_kernels.h with AVX-VNNI: the 256-bit, VEX-encoded
// vpdpbusd of CPUs with AVX2 and no AVX-512 (Intel Alder Lake and later clients, Sierra Forest).
// Call only when smartcrop_cpu_features() reports SMARTCROP_CPU_AVX_VNNI: on any other CPU they
// fault. Same inputs, same layouts, same results bit for bit as the reference and the AVX-512
// VNNI kernels.

#include "int8_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

void smartcrop_int8_quantize_avxvnni(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                     float inverse_scale, int zero_point, int row_begin, int row_end);

void smartcrop_int8_conv_avxvnni(const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset,
                                 int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end);

#ifdef __cplusplus
}
#endif

#endif
