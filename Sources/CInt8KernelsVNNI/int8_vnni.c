// The int8 convolution with AVX-512 VNNI (vpdpbusd: four u8 × s8 products summed into each
// int32 lane, 64 multiply-adds an instruction where a float FMA does 16). This target alone is
// compiled with -mavx512vnni (see Package.swift), and the runtime calls it only when cpuid says
// VNNI is there. The arithmetic is int8_kernels.h's, bit for bit.
//
// A register tile is P output pixels of one row × M groups of 16 output channels, M·P int32
// accumulators: (M, P) = (4, 6), (2, 12) or (1, 24), at most 24 of the 32 zmm registers. Each
// reduction step loads the M weight vectors of one tap and four input channels, and broadcasts
// those four input bytes of each pixel.

#include "int8_kernels_vnni.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

void smartcrop_int8_quantize_vnni(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                  float inverse_scale, int zero_point, int row_begin, int row_end) {
    const int channels = smartcrop_int8_channels(g), width = smartcrop_int8_padded_width(g);
    const int blocks = channels / 8;
    const size_t plane = (size_t)g->in_height * (size_t)g->in_width;
    const __m256 scale = _mm256_set1_ps(inverse_scale), low = _mm256_set1_ps(-1024.0f), high = _mm256_set1_ps(1024.0f);
    const __m256i zero = _mm256_set1_epi32(zero_point), floor = _mm256_setzero_si256(), ceiling = _mm256_set1_epi32(255);
    const size_t group_bytes = (size_t)width * 4, left = (size_t)g->pad_left * 4;
    for (int row = row_begin; row < row_end; row++) {
        uint8_t *out = smartcrop_int8_start_row(quantized, g, row, zero_point);
        if (!out) continue;
        const int y = row - g->pad_top;
        for (int block = 0; block < blocks; block++) {
            const float *source = input + ((size_t)block * plane + (size_t)y * (size_t)g->in_width) * 8;
            // A block's eight channels are two groups: bytes 0-3 and 4-7 of each pixel.
            uint8_t *first = out + (size_t)(2 * block) * group_bytes + left, *second = first + group_bytes;
            int x = 0;
            // Four pixels at a time: 32 floats to 32 bytes, regrouped as each group's 16.
            const __m512 scale16 = _mm512_set1_ps(inverse_scale), low16 = _mm512_set1_ps(-1024.0f), high16 = _mm512_set1_ps(1024.0f);
            const __m512i zero16 = _mm512_set1_epi32(zero_point), floor16 = _mm512_setzero_si512();
            for (; x + 4 <= g->in_width; x += 4) {
                __m512 a = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(source + (size_t)x * 8), scale16), low16), high16);
                __m512 b = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(source + (size_t)x * 8 + 16), scale16), low16), high16);
                // Unsigned saturation to 0...255 after the floor at 0.
                __m128i qa = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(a), zero16), floor16));
                __m128i qb = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(b), zero16), floor16));
                // qa = [p0 first, p0 second, p1 first, p1 second] as 4-byte lanes; likewise qb.
                qa = _mm_shuffle_epi32(qa, 0xD8);
                qb = _mm_shuffle_epi32(qb, 0xD8);
                _mm_storeu_si128((__m128i *)(first + (size_t)x * 4), _mm_unpacklo_epi64(qa, qb));
                _mm_storeu_si128((__m128i *)(second + (size_t)x * 4), _mm_unpackhi_epi64(qa, qb));
            }
            for (; x < g->in_width; x++) {
                __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(source + (size_t)x * 8), scale), low), high);
                __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), zero);
                q = _mm256_min_epi32(_mm256_max_epi32(q, floor), ceiling);
                const __m128i bytes = _mm256_cvtepi32_epi8(q);
                const int32_t low_four = _mm_cvtsi128_si32(bytes), high_four = _mm_extract_epi32(bytes, 1);
                memcpy(first + (size_t)x * 4, &low_four, 4);
                memcpy(second + (size_t)x * 4, &high_four, 4);
            }
        }
    }
}

/// One tile: P pixels from (oy, ox) × M output groups from `group`; stores the first `valid`
/// pixels. Inlined with constant M and P, so the accumulators live in registers.
static inline __attribute__((always_inline)) void conv_tile(
    const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset, int relu, float *output,
    const smartcrop_int8_conv_geometry *g, int oy, int ox, int group, int valid, const int M, const int P, const int stride) {
    const int channels = smartcrop_int8_channels(g), width = smartcrop_int8_padded_width(g);
    const int groups = smartcrop_int8_channel_groups(g), taps = g->kernel_height * g->kernel_width;
    const size_t group_stride = (size_t)taps * (size_t)groups * 64;
    const size_t group_bytes = (size_t)width * 4;
    __m512i acc[4][SMARTCROP_INT8_TILE_MAX];
    for (int m = 0; m < M; m++)
        for (int p = 0; p < P; p++) acc[m][p] = _mm512_setzero_si512();
    for (int ky = 0; ky < g->kernel_height; ky++) {
        for (int kx = 0; kx < g->kernel_width; kx++) {
            const uint8_t *pixel = quantized + (size_t)(oy * g->stride_y + ky * g->dilation_y) * (size_t)width * (size_t)channels
                + (size_t)(ox * stride + kx * g->dilation_x) * 4;
            const int8_t *w = weights + ((size_t)group * (size_t)taps + (size_t)(ky * g->kernel_width + kx)) * (size_t)groups * 64;
            for (int c = 0; c < groups; c++) {
                __m512i wv[4];
                for (int m = 0; m < M; m++) wv[m] = _mm512_load_si512((const void *)(w + (size_t)m * group_stride + (size_t)c * 64));
                for (int p = 0; p < P; p++) {
                    int32_t four;
                    memcpy(&four, pixel + (size_t)c * group_bytes + (size_t)(p * stride * 4), 4);
                    const __m512i b = _mm512_set1_epi32(four);
                    for (int m = 0; m < M; m++) acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], b, wv[m]);
                }
            }
        }
    }
    const int out_blocks = (g->out_channels + 7) / 8;
    const size_t out_plane = (size_t)g->out_height * (size_t)g->out_width;
    for (int m = 0; m < M; m++) {
        const int first = (group + m) * 16;
        const __m512 scale = _mm512_loadu_ps(multiplier + first), shift = _mm512_loadu_ps(offset + first);
        float *low = output + ((size_t)(first / 8) * out_plane + (size_t)oy * (size_t)g->out_width + (size_t)ox) * 8;
        float *high = low + out_plane * 8;
        const int has_high = first / 8 + 1 < out_blocks;
        for (int p = 0; p < P; p++) {
            if (p >= valid) break;
            __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[m][p]), scale, shift);
            if (relu) y = _mm512_max_ps(y, _mm512_setzero_ps());
            _mm256_storeu_ps(low + (size_t)p * 8, _mm512_castps512_ps256(y));
            if (has_high) _mm256_storeu_ps(high + (size_t)p * 8, _mm512_extractf32x8_ps(y, 1));
        }
    }
}

// Stride 1 (every U-2-Netp layer) gets its own copy, where a tile's pixels are constant offsets.
#define TILE_LOOP(M, P)                                                                                              \
    for (int ox = 0; ox < g->out_width; ox += (P)) {                                                                 \
        int valid = g->out_width - ox < (P) ? g->out_width - ox : (P);                                               \
        if (g->stride_x == 1)                                                                                        \
            conv_tile(quantized, weights, multiplier, offset, relu, output, g, oy, ox, group, valid, (M), (P), 1);   \
        else                                                                                                         \
            conv_tile(quantized, weights, multiplier, offset, relu, output, g, oy, ox, group, valid, (M), (P),       \
                      g->stride_x);                                                                                  \
    }

void smartcrop_int8_conv_vnni(const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset,
                              int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end) {
    const int out_groups = smartcrop_int8_output_groups(g);
    for (int oy = row_begin; oy < row_end; oy++) {
        int group = 0;
        for (; group + 4 <= out_groups; group += 4) { TILE_LOOP(4, 6) }
        for (; group + 2 <= out_groups; group += 2) { TILE_LOOP(2, 12) }
        for (; group < out_groups; group++) { TILE_LOOP(1, 24) }
    }
}

void smartcrop_int8_dw_quantize_vnni(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                     float inverse_scale, int zero_point, int row_begin, int row_end) {
    const int groups = smartcrop_int8_dw_groups(g), width = smartcrop_int8_padded_width(g);
    const int blocks = (g->in_channels + 7) / 8;
    const size_t plane = (size_t)g->in_height * (size_t)g->in_width, row_bytes = (size_t)width * (size_t)groups * 16;
    const __m512 scale = _mm512_set1_ps(inverse_scale), low = _mm512_set1_ps(-1024.0f), high = _mm512_set1_ps(1024.0f);
    const __m512i zero = _mm512_set1_epi32(zero_point), floor = _mm512_setzero_si512();
    for (int row = row_begin; row < row_end; row++) {
        uint8_t *out = quantized + (size_t)row * row_bytes;
        // Padding columns, and the channels of a last group past the last block, hold the zero point.
        memset(out, zero_point, row_bytes);
        int y = row - g->pad_top;
        if (y < 0 || y >= g->in_height) continue;
        for (int block = 0; block < blocks; block++) {
            const float *source = input + ((size_t)block * plane + (size_t)y * (size_t)g->in_width) * 8;
            uint8_t *destination = out + ((size_t)(block / 2) * (size_t)width + (size_t)g->pad_left) * 16 + (size_t)(block % 2) * 8;
            int x = 0;
            // Two pixels (16 floats) at a time; each pixel's 8 bytes go to its own 16-byte slot.
            for (; x + 2 <= g->in_width; x += 2) {
                __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(source + (size_t)x * 8), scale), low), high);
                __m128i q = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(v), zero), floor));
                _mm_storel_epi64((__m128i *)(destination + (size_t)x * 16), q);
                _mm_storel_epi64((__m128i *)(destination + (size_t)(x + 1) * 16), _mm_unpackhi_epi64(q, q));
            }
            if (x < g->in_width) {
                __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(0xFF, source + (size_t)x * 8), scale), low), high);
                __m128i q = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(v), zero), floor));
                _mm_storel_epi64((__m128i *)(destination + (size_t)x * 16), q);
            }
        }
    }
}

/// Stores 16 channels of one output pixel (two NCHWc8 blocks; the second only if it exists).
static inline __attribute__((always_inline)) void dw_store(__m512i acc, __m512 scale, __m512 shift, int relu, float *low,
                                                           float *high, int has_high) {
    __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), scale, shift);
    if (relu) y = _mm512_max_ps(y, _mm512_setzero_ps());
    _mm256_storeu_ps(low, _mm512_castps512_ps256(y));
    if (has_high) _mm256_storeu_ps(high, _mm512_extractf32x8_ps(y, 1));
}

// Each tap is one vpdpbusd: the 16 input bytes of a pixel zero-extended to int32 lanes ([q, 0, 0,
// 0]) times the lane's weight in its low byte. The nine weight vectors of a group stay in
// registers; four pixels at a time keep four sums in flight.
void smartcrop_int8_dw_vnni(const uint8_t *quantized, const int32_t *weights, const float *multiplier, const float *offset,
                            int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end) {
    const int groups = smartcrop_int8_dw_groups(g), width = smartcrop_int8_padded_width(g);
    const int out_blocks = (g->out_channels + 7) / 8;
    const size_t out_plane = (size_t)g->out_height * (size_t)g->out_width, row_bytes = (size_t)width * (size_t)groups * 16;
    const size_t step = (size_t)g->stride_x * 16;
    for (int group = 0; group < groups; group++) {
        __m512i w[9];
        for (int t = 0; t < 9; t++) w[t] = _mm512_loadu_si512((const void *)(weights + ((size_t)group * 9 + (size_t)t) * 16));
        const __m512 scale = _mm512_loadu_ps(multiplier + group * 16), shift = _mm512_loadu_ps(offset + group * 16);
        const int has_high = 2 * group + 1 < out_blocks;
        for (int oy = row_begin; oy < row_end; oy++) {
            const uint8_t *taps[9];
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    taps[ky * 3 + kx] = quantized + (size_t)(oy * g->stride_y + ky * g->dilation_y) * row_bytes
                        + ((size_t)group * (size_t)width + (size_t)(kx * g->dilation_x)) * 16;
            float *low = output + ((size_t)(2 * group) * out_plane + (size_t)oy * (size_t)g->out_width) * 8;
            float *high = low + out_plane * 8;
            int ox = 0;
            for (; ox + 4 <= g->out_width; ox += 4) {
                __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
                const size_t at = (size_t)ox * step;
                for (int t = 0; t < 9; t++) {
                    const uint8_t *p = taps[t] + at;
                    a0 = _mm512_dpbusd_epi32(a0, _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)), w[t]);
                    a1 = _mm512_dpbusd_epi32(a1, _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + step))), w[t]);
                    a2 = _mm512_dpbusd_epi32(a2, _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 2 * step))), w[t]);
                    a3 = _mm512_dpbusd_epi32(a3, _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 3 * step))), w[t]);
                }
                dw_store(a0, scale, shift, relu, low + (size_t)ox * 8, high + (size_t)ox * 8, has_high);
                dw_store(a1, scale, shift, relu, low + (size_t)(ox + 1) * 8, high + (size_t)(ox + 1) * 8, has_high);
                dw_store(a2, scale, shift, relu, low + (size_t)(ox + 2) * 8, high + (size_t)(ox + 2) * 8, has_high);
                dw_store(a3, scale, shift, relu, low + (size_t)(ox + 3) * 8, high + (size_t)(ox + 3) * 8, has_high);
            }
            for (; ox < g->out_width; ox++) {
                __m512i a = _mm512_setzero_si512();
                for (int t = 0; t < 9; t++)
                    a = _mm512_dpbusd_epi32(a, _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(taps[t] + (size_t)ox * step))), w[t]);
                dw_store(a, scale, shift, relu, low + (size_t)ox * 8, high + (size_t)ox * 8, has_high);
            }
        }
    }
}
#else
#include <stdlib.h>
// Other architectures have no VNNI; the runtime never picks these.
void smartcrop_int8_quantize_vnni(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                  float inverse_scale, int zero_point, int row_begin, int row_end) { abort(); }
void smartcrop_int8_conv_vnni(const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset,
                              int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end) { abort(); }
void smartcrop_int8_dw_quantize_vnni(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                     float inverse_scale, int zero_point, int row_begin, int row_end) { abort(); }
void smartcrop_int8_dw_vnni(const uint8_t *quantized, const int32_t *weights, const float *multiplier, const float *offset,
                            int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end) { abort(); }
#endif
