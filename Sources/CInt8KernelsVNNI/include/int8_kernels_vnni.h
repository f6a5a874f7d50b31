#ifndef SMARTCROP_INT8_KERNELS_VNNI_H
#define SMARTCROP_INT8_KERNELS_VNNI_H

// The int8 kernels of CInt8Kernels/include/int8_kernels.h with AVX-512 VNNI. Call only when
// smartcrop_cpu_features() reports SMARTCROP_CPU_AVX512_VNNI: on any other CPU they fault.

#include "int8_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

void smartcrop_int8_quantize_vnni(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                  float inverse_scale, int zero_point, int row_begin, int row_end);

void smartcrop_int8_conv_vnni(const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset,
                              int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end);

void smartcrop_int8_dw_quantize_vnni(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                     float inverse_scale, int zero_point, int row_begin, int row_end);

void smartcrop_int8_dw_vnni(const uint8_t *quantized, const int32_t *weights, const float *multiplier, const float *offset,
                            int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end);

#ifdef __cplusplus
}
#endif

#endif
