#ifndef SMARTCROP_INT8_KERNELS_H
#define SMARTCROP_INT8_KERNELS_H

// Int8 convolution: u8 activations (per-tensor scale and zero point) times s8 weights
// (symmetric, per output channel), summed in int32, then scaled back to float. The float
// tensors around it stay NCHWc8 (see KernelInterface/Layout.swift); only the layer's input is
// quantised, into a padded byte buffer, so the rest of the runtime does not change. That buffer
// is [padded row][group of 4 channels][padded column][4]: the four bytes one VNNI lane sums are
// adjacent, and consecutive pixels of a group are 4 bytes apart, so a tile of pixels at stride 1
// reads them at constant offsets from one pointer.
//
// The arithmetic, which the portable reference (here) and the VNNI kernel
// (CInt8KernelsVNNI) compute alike, bit for bit:
//   q   = clamp(round_half_even(x * inverse_scale) + zero_point, 0, 255), in float32
//   acc = sum over taps and input channels of q * w                        (exact, int32)
//   y   = fma(float(acc), multiplier[oc], offset[oc]), then ReLU if asked
// where multiplier = input_scale * weight_scale[oc] and offset = bias[oc] - multiplier *
// zero_point * sum(w[oc]). The padding of the quantised buffer holds the zero point, so a tap
// outside the image adds exactly what the offset subtracts: zero.

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int in_channels, in_height, in_width;
    int out_channels, out_height, out_width;
    int kernel_height, kernel_width;
    int stride_y, stride_x, dilation_y, dilation_x;
    int pad_top, pad_left;
} smartcrop_int8_conv_geometry;

/// Output pixels of a row the widest register tile covers; the quantised buffer is that much
/// wider than the last tile needs, so tiles never test for the row's end while reading.
#define SMARTCROP_INT8_TILE_MAX 24

/// Input channels in the quantised buffer: whole NCHWc8 blocks (a multiple of the four bytes one
/// VNNI lane sums).
static inline int smartcrop_int8_channels(const smartcrop_int8_conv_geometry *g) { return (g->in_channels + 7) / 8 * 8; }

static inline int smartcrop_int8_padded_height(const smartcrop_int8_conv_geometry *g) {
    int reach = (g->out_height - 1) * g->stride_y + (g->kernel_height - 1) * g->dilation_y + 1;
    int image = g->pad_top + g->in_height;
    return reach > image ? reach : image;
}

static inline int smartcrop_int8_padded_width(const smartcrop_int8_conv_geometry *g) {
    int tiles = (g->out_width + SMARTCROP_INT8_TILE_MAX - 1) / SMARTCROP_INT8_TILE_MAX * SMARTCROP_INT8_TILE_MAX;
    int reach = (tiles - 1) * g->stride_x + (g->kernel_width - 1) * g->dilation_x + 1;
    int image = g->pad_left + g->in_width;
    return reach > image ? reach : image;
}

/// Bytes of the quantised input buffer: [padded height][channels / 4][padded width][4].
static inline size_t smartcrop_int8_input_bytes(const smartcrop_int8_conv_geometry *g) {
    return (size_t)smartcrop_int8_padded_height(g) * (size_t)smartcrop_int8_padded_width(g) * (size_t)smartcrop_int8_channels(g);
}

/// Groups of four input channels (one VNNI lane's reduction).
static inline int smartcrop_int8_channel_groups(const smartcrop_int8_conv_geometry *g) { return smartcrop_int8_channels(g) / 4; }

/// Blocks of 16 output channels (one zmm of int32 sums).
static inline int smartcrop_int8_output_groups(const smartcrop_int8_conv_geometry *g) { return (g->out_channels + 15) / 16; }

/// Bytes of packed weights: [output group][ky][kx][channel group][16 outputs][4 inputs], s8,
/// zero past the real channels. multiplier and offset hold 16 floats per output group.
static inline size_t smartcrop_int8_weight_bytes(const smartcrop_int8_conv_geometry *g) {
    return (size_t)smartcrop_int8_output_groups(g) * (size_t)(g->kernel_height * g->kernel_width)
        * (size_t)smartcrop_int8_channel_groups(g) * 64;
}

/// Starts row `row` of the quantised buffer for a SIMD quantiser: a row of padding is filled with
/// the zero point and NULL returned (nothing to quantise); otherwise each 4-channel group's left
/// and right padding gets the zero point and the row's start is returned, its pixels left to the
/// caller.
static inline uint8_t *smartcrop_int8_start_row(uint8_t *quantized, const smartcrop_int8_conv_geometry *g, int row, int zero_point) {
    const int channels = smartcrop_int8_channels(g), width = smartcrop_int8_padded_width(g);
    uint8_t *out = quantized + (size_t)row * (size_t)width * (size_t)channels;
    const int y = row - g->pad_top;
    if (y < 0 || y >= g->in_height) {
        memset(out, zero_point, (size_t)width * (size_t)channels);
        return NULL;
    }
    const size_t group_bytes = (size_t)width * 4, left = (size_t)g->pad_left * 4;
    const size_t right = (size_t)(g->pad_left + g->in_width) * 4;
    for (int group = 0; group < channels / 4; group++) {
        memset(out + (size_t)group * group_bytes, zero_point, left);
        memset(out + (size_t)group * group_bytes + right, zero_point, group_bytes - right);
    }
    return out;
}

/// Quantises rows [row_begin, row_end) of the padded buffer from an NCHWc8 float input (rows of
/// padding get the zero point).
void smartcrop_int8_quantize_reference(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                       float inverse_scale, int zero_point, int row_begin, int row_end);

/// Output rows [row_begin, row_end) into an NCHWc8 float output.
void smartcrop_int8_conv_reference(const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset,
                                   int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end);

/// Depthwise 3×3 (in_channels == out_channels, one channel per group), same quantisation and
/// epilogue as the convolution: acc = sum over the 9 taps of q * w, y = fma(float(acc),
/// multiplier[c], offset[c]). Its input buffer holds 16 channels of a pixel together, since no
/// sum runs across channels: [padded row][group of 16 channels][padded column][16], u8, channels
/// past the real ones at the zero point; padded as the convolution's (smartcrop_int8_padded_*).
static inline int smartcrop_int8_dw_groups(const smartcrop_int8_conv_geometry *g) { return (g->in_channels + 15) / 16; }

static inline size_t smartcrop_int8_dw_input_bytes(const smartcrop_int8_conv_geometry *g) {
    return (size_t)smartcrop_int8_padded_height(g) * (size_t)smartcrop_int8_padded_width(g) * (size_t)smartcrop_int8_dw_groups(g) * 16;
}

/// Bytes of packed depthwise weights: [group of 16][tap][16 channels] as int32 lanes holding the
/// s8 weight in their low byte and zeros above (what vpdpbusd multiplies a zero-extended u8
/// input lane by), zero past the real channels.
static inline size_t smartcrop_int8_dw_weight_bytes(const smartcrop_int8_conv_geometry *g) {
    return (size_t)smartcrop_int8_dw_groups(g) * 9 * 64;
}

/// Quantises rows [row_begin, row_end) of the depthwise input buffer from an NCHWc8 float input.
void smartcrop_int8_dw_quantize_reference(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                          float inverse_scale, int zero_point, int row_begin, int row_end);

/// Depthwise 3×3 output rows [row_begin, row_end) into an NCHWc8 float output.
void smartcrop_int8_dw_reference(const uint8_t *quantized, const int32_t *weights, const float *multiplier, const float *offset,
                                 int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end);

#ifdef __cplusplus
}
#endif

#endif
