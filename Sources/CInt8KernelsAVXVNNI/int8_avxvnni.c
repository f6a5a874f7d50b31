// The int8 convolution with AVX-VNNI: vpdpbusd in its VEX encoding on ymm registers (four u8 × s8
// products summed into each of 8 int32 lanes), for CPUs that have it without AVX-512. This target
// alone is compiled with -mavxvnni (and AVX2, FMA; see Package.swift), and the runtime calls it
// only when cpuid says AVX-VNNI is there. The arithmetic is int8_kernels.h's, bit for bit.
//
// The packed weights are the AVX-512 kernel's, so the runtime packs once for both: a 64-byte
// [16 outputs][4 inputs] block per output group, tap and channel group is two ymm, outputs 0-7
// and 8-15. With 16 ymm registers a register tile is 6 output pixels × those 16 outputs: 12
// accumulators, 2 weight vectors and the broadcast input. Six divides SMARTCROP_INT8_TILE_MAX, so
// tiles read only what the quantised buffer's padding provides.
//
// Tests/CInt8KernelsAVXVNNICheck compiles this same file with SMARTCROP_INT8_AVXVNNI_AS_EVEX, where
// the dot product is AVX-512 VNNI's 256-bit form (the same operation, EVEX-encoded) and the
// functions are renamed: CPUs with AVX-512 VNNI but not AVX-VNNI (AMD Zen 4, Intel Ice Lake to
// Emerald Rapids) then hold this code to the reference too. The tests also run this build's own
// machine code there, each vpdpbusd trapped and emulated (vpdpbusd_trap.c in that folder).

#if defined(SMARTCROP_INT8_AVXVNNI_AS_EVEX)
#include "int8_kernels_avxvnni_check.h"
#define DPBUSD(acc, u8, s8) _mm256_dpbusd_epi32((acc), (u8), (s8))
#define KERNEL(name) name##_evex_check
#else
#include "int8_kernels_avxvnni.h"
#define DPBUSD(acc, u8, s8) _mm256_dpbusd_avx_epi32((acc), (u8), (s8))
#define KERNEL(name) name
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

/// One pixel's eight channels as round(x · inverse_scale) + zero_point, in int32, not yet clamped
/// to 0...255 (the packs below do that).
static inline __m256i quantize8(const float *source, __m256 scale, __m256 low, __m256 high, __m256i zero) {
    const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(source), scale), low), high);
    return _mm256_add_epi32(_mm256_cvtps_epi32(v), zero);
}

void KERNEL(smartcrop_int8_quantize_avxvnni)(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                             float inverse_scale, int zero_point, int row_begin, int row_end) {
    const int channels = smartcrop_int8_channels(g), width = smartcrop_int8_padded_width(g);
    const int blocks = channels / 8;
    const size_t plane = (size_t)g->in_height * (size_t)g->in_width;
    const __m256 scale = _mm256_set1_ps(inverse_scale), low = _mm256_set1_ps(-1024.0f), high = _mm256_set1_ps(1024.0f);
    const __m256i zero = _mm256_set1_epi32(zero_point);
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
            // Four pixels a, b, c, d at a time. The two signed saturating packs are the clamp to
            // 0...255: the values lie in [-1024, 1024 + 255], so the first (i32 to u16) floors
            // them at 0 and leaves them below 32768, where the second (i16 to u8) caps them at
            // 255. They work per 128-bit half, so the low half ends up as a0-3 b0-3 c0-3 d0-3
            // (the first group's 16 bytes in pixel order) and the high half as a4-7 … d4-7 (the
            // second group's), with no shuffle.
            for (; x + 4 <= g->in_width; x += 4) {
                const float *p = source + (size_t)x * 8;
                const __m256i ab = _mm256_packus_epi32(quantize8(p, scale, low, high, zero), quantize8(p + 8, scale, low, high, zero));
                const __m256i cd = _mm256_packus_epi32(quantize8(p + 16, scale, low, high, zero), quantize8(p + 24, scale, low, high, zero));
                const __m256i bytes = _mm256_packus_epi16(ab, cd);
                _mm_storeu_si128((__m128i *)(first + (size_t)x * 4), _mm256_castsi256_si128(bytes));
                _mm_storeu_si128((__m128i *)(second + (size_t)x * 4), _mm256_extracti128_si256(bytes, 1));
            }
            for (; x < g->in_width; x++) {
                const __m256i q = quantize8(source + (size_t)x * 8, scale, low, high, zero);
                const __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(q, q), _mm256_setzero_si256());
                const int32_t low_four = _mm_cvtsi128_si32(_mm256_castsi256_si128(bytes));
                const int32_t high_four = _mm_cvtsi128_si32(_mm256_extracti128_si256(bytes, 1));
                memcpy(first + (size_t)x * 4, &low_four, 4);
                memcpy(second + (size_t)x * 4, &high_four, 4);
            }
        }
    }
}

#define TILE 6

/// One tile: TILE pixels from (oy, ox) × the 16 outputs of `group`; stores the first `valid`
/// pixels. Inlined with a constant stride where it is 1, so the accumulators live in registers and
/// the pixels are constant offsets from one pointer.
static inline __attribute__((always_inline)) void conv_tile(
    const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset, int relu, float *output,
    const smartcrop_int8_conv_geometry *g, int oy, int ox, int group, int valid, const int stride) {
    const int channels = smartcrop_int8_channels(g), width = smartcrop_int8_padded_width(g);
    const int groups = smartcrop_int8_channel_groups(g), taps = g->kernel_height * g->kernel_width;
    const size_t group_bytes = (size_t)width * 4;
    __m256i low[TILE], high[TILE];
    for (int p = 0; p < TILE; p++) low[p] = high[p] = _mm256_setzero_si256();
    for (int ky = 0; ky < g->kernel_height; ky++) {
        for (int kx = 0; kx < g->kernel_width; kx++) {
            const uint8_t *pixel = quantized + (size_t)(oy * g->stride_y + ky * g->dilation_y) * (size_t)width * (size_t)channels
                + (size_t)(ox * stride + kx * g->dilation_x) * 4;
            const int8_t *w = weights + ((size_t)group * (size_t)taps + (size_t)(ky * g->kernel_width + kx)) * (size_t)groups * 64;
            for (int c = 0; c < groups; c++) {
                const __m256i w_low = _mm256_load_si256((const __m256i *)(w + (size_t)c * 64));
                const __m256i w_high = _mm256_load_si256((const __m256i *)(w + (size_t)c * 64 + 32));
                for (int p = 0; p < TILE; p++) {
                    int32_t four;
                    memcpy(&four, pixel + (size_t)c * group_bytes + (size_t)(p * stride * 4), 4);
                    const __m256i b = _mm256_set1_epi32(four);
                    low[p] = DPBUSD(low[p], b, w_low);
                    high[p] = DPBUSD(high[p], b, w_high);
                }
            }
        }
    }
    const int out_blocks = (g->out_channels + 7) / 8;
    const size_t out_plane = (size_t)g->out_height * (size_t)g->out_width;
    const int first = group * 16;
    const __m256 scale_low = _mm256_loadu_ps(multiplier + first), shift_low = _mm256_loadu_ps(offset + first);
    const __m256 scale_high = _mm256_loadu_ps(multiplier + first + 8), shift_high = _mm256_loadu_ps(offset + first + 8);
    float *low_out = output + ((size_t)(first / 8) * out_plane + (size_t)oy * (size_t)g->out_width + (size_t)ox) * 8;
    float *high_out = low_out + out_plane * 8;
    const int has_high = first / 8 + 1 < out_blocks;
    for (int p = 0; p < TILE; p++) {
        if (p >= valid) break;
        __m256 y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(low[p]), scale_low, shift_low);
        if (relu) y = _mm256_max_ps(y, _mm256_setzero_ps());
        _mm256_storeu_ps(low_out + (size_t)p * 8, y);
        if (has_high) {
            __m256 z = _mm256_fmadd_ps(_mm256_cvtepi32_ps(high[p]), scale_high, shift_high);
            if (relu) z = _mm256_max_ps(z, _mm256_setzero_ps());
            _mm256_storeu_ps(high_out + (size_t)p * 8, z);
        }
    }
}

void KERNEL(smartcrop_int8_conv_avxvnni)(const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset,
                                         int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end) {
    const int out_groups = smartcrop_int8_output_groups(g);
    for (int oy = row_begin; oy < row_end; oy++) {
        for (int group = 0; group < out_groups; group++) {
            for (int ox = 0; ox < g->out_width; ox += TILE) {
                const int valid = g->out_width - ox < TILE ? g->out_width - ox : TILE;
                // Stride 1 (every U-2-Netp layer) gets its own copy, where a tile's pixels are constant offsets.
                if (g->stride_x == 1)
                    conv_tile(quantized, weights, multiplier, offset, relu, output, g, oy, ox, group, valid, 1);
                else
                    conv_tile(quantized, weights, multiplier, offset, relu, output, g, oy, ox, group, valid, g->stride_x);
            }
        }
    }
}
#else
#include <stdlib.h>
// Other architectures have no AVX-VNNI; the runtime never picks these.
void KERNEL(smartcrop_int8_quantize_avxvnni)(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                             float inverse_scale, int zero_point, int row_begin, int row_end) { abort(); }
void KERNEL(smartcrop_int8_conv_avxvnni)(const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset,
                                         int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end) { abort(); }
#endif
