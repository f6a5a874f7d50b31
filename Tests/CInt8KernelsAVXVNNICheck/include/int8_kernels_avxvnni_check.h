#ifndef SMARTCROP_INT8_KERNELS_AVXVNNI_CHECK_H
#define SMARTCROP_INT8_KERNELS_AVXVNNI_CHECK_H

// For tests only: Sources/CInt8KernelsAVXVNNI/int8_avxvnni.c compiled with AVX-512 VNNI's
// EVEX-encoded 256-bit vpdpbusd in place of AVX-VNNI's VEX one (the same operation), so a CPU
// with AVX-512 VNNI and without AVX-VNNI can hold the AVX-VNNI kernels' code to the reference.
// Call only when smartcrop_cpu_features() reports SMARTCROP_CPU_AVX512_VNNI.

#include "int8_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

void smartcrop_int8_quantize_avxvnni_evex_check(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                                float inverse_scale, int zero_point, int row_begin, int row_end);

void smartcrop_int8_conv_avxvnni_evex_check(const uint8_t *quantized, const int8_t *weights, const float *multiplier,
                                            const float *offset, int relu, float *output, const smartcrop_int8_conv_geometry *g,
                                            int row_begin, int row_end);

#ifdef __cplusplus
}
#endif

#endif
