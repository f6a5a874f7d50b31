// The portable int8 convolution: the arithmetic of int8_kernels.h in plain loops. Tests hold the
// VNNI kernel to it bit for bit, and it runs the int8 path on CPUs without VNNI when a test asks.

#include "int8_kernels.h"

#include <math.h>
#include <string.h>

static inline uint8_t quantize_one(float x, float inverse_scale, int zero_point) {
    // nearbyintf rounds half to even in the default rounding mode, as cvtps2dq does.
    float r = nearbyintf(x * inverse_scale);
    if (r > 1024.0f) r = 1024.0f;
    if (r < -1024.0f) r = -1024.0f;
    int q = (int)r + zero_point;
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

void smartcrop_int8_quantize_reference(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                       float inverse_scale, int zero_point, int row_begin, int row_end) {
    const int channels = smartcrop_int8_channels(g), width = smartcrop_int8_padded_width(g);
    const size_t plane = (size_t)g->in_height * (size_t)g->in_width;
    for (int row = row_begin; row < row_end; row++) {
        uint8_t *out = quantized + (size_t)row * (size_t)width * (size_t)channels;
        int y = row - g->pad_top;
        for (int c = 0; c < channels; c++) {
            for (int column = 0; column < width; column++) {
                int x = column - g->pad_left;
                uint8_t *destination = out + ((size_t)(c / 4) * (size_t)width + (size_t)column) * 4 + c % 4;
                if (y < 0 || y >= g->in_height || x < 0 || x >= g->in_width) {
                    *destination = (uint8_t)zero_point;
                    continue;
                }
                const float *source = input + ((size_t)(c / 8) * plane + (size_t)y * (size_t)g->in_width + (size_t)x) * 8 + c % 8;
                *destination = quantize_one(*source, inverse_scale, zero_point);
            }
        }
    }
}

void smartcrop_int8_conv_reference(const uint8_t *quantized, const int8_t *weights, const float *multiplier, const float *offset,
                                   int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end) {
    const int channels = smartcrop_int8_channels(g), width = smartcrop_int8_padded_width(g);
    const int groups = smartcrop_int8_channel_groups(g), taps = g->kernel_height * g->kernel_width;
    const int out_blocks = (g->out_channels + 7) / 8;
    const size_t out_plane = (size_t)g->out_height * (size_t)g->out_width;
    for (int oy = row_begin; oy < row_end; oy++) {
        for (int ox = 0; ox < g->out_width; ox++) {
            for (int oc = 0; oc < out_blocks * 8; oc++) {
                const int og = oc / 16, lane = oc % 16;
                int32_t acc = 0;
                for (int ky = 0; ky < g->kernel_height; ky++) {
                    for (int kx = 0; kx < g->kernel_width; kx++) {
                        const uint8_t *row = quantized + (size_t)(oy * g->stride_y + ky * g->dilation_y) * (size_t)width * (size_t)channels;
                        const int column = ox * g->stride_x + kx * g->dilation_x;
                        const int8_t *w = weights + ((size_t)(og * taps + ky * g->kernel_width + kx) * (size_t)groups) * 64 + lane * 4;
                        for (int group = 0; group < groups; group++) {
                            const uint8_t *pixel = row + ((size_t)group * (size_t)width + (size_t)column) * 4;
                            for (int i = 0; i < 4; i++) acc += (int32_t)pixel[i] * (int32_t)w[group * 64 + i];
                        }
                    }
                }
                float y = fmaf((float)acc, multiplier[oc], offset[oc]);
                if (relu && y < 0) y = 0;
                output[((size_t)(oc / 8) * out_plane + (size_t)oy * (size_t)g->out_width + (size_t)ox) * 8 + oc % 8] = y;
            }
        }
    }
}

void smartcrop_int8_dw_quantize_reference(const float *input, uint8_t *quantized, const smartcrop_int8_conv_geometry *g,
                                          float inverse_scale, int zero_point, int row_begin, int row_end) {
    const int groups = smartcrop_int8_dw_groups(g), width = smartcrop_int8_padded_width(g);
    const size_t plane = (size_t)g->in_height * (size_t)g->in_width;
    for (int row = row_begin; row < row_end; row++) {
        uint8_t *out = quantized + (size_t)row * (size_t)width * (size_t)groups * 16;
        int y = row - g->pad_top;
        for (int c = 0; c < groups * 16; c++) {
            for (int column = 0; column < width; column++) {
                int x = column - g->pad_left;
                uint8_t *destination = out + ((size_t)(c / 16) * (size_t)width + (size_t)column) * 16 + c % 16;
                if (c >= g->in_channels || y < 0 || y >= g->in_height || x < 0 || x >= g->in_width) {
                    *destination = (uint8_t)zero_point;
                    continue;
                }
                const float *source = input + ((size_t)(c / 8) * plane + (size_t)y * (size_t)g->in_width + (size_t)x) * 8 + c % 8;
                *destination = quantize_one(*source, inverse_scale, zero_point);
            }
        }
    }
}

void smartcrop_int8_dw_reference(const uint8_t *quantized, const int32_t *weights, const float *multiplier, const float *offset,
                                 int relu, float *output, const smartcrop_int8_conv_geometry *g, int row_begin, int row_end) {
    const int groups = smartcrop_int8_dw_groups(g), width = smartcrop_int8_padded_width(g);
    const int out_blocks = (g->out_channels + 7) / 8;
    const size_t out_plane = (size_t)g->out_height * (size_t)g->out_width;
    for (int oy = row_begin; oy < row_end; oy++) {
        for (int ox = 0; ox < g->out_width; ox++) {
            for (int c = 0; c < out_blocks * 8; c++) {
                int32_t acc = 0;
                for (int ky = 0; ky < 3; ky++) {
                    const uint8_t *row = quantized + (size_t)(oy * g->stride_y + ky * g->dilation_y) * (size_t)width * (size_t)groups * 16;
                    for (int kx = 0; kx < 3; kx++) {
                        const int column = ox * g->stride_x + kx * g->dilation_x;
                        acc += (int32_t)row[((size_t)(c / 16) * (size_t)width + (size_t)column) * 16 + c % 16]
                            * (int32_t)(int8_t)weights[((size_t)(c / 16) * 9 + (size_t)(ky * 3 + kx)) * 16 + c % 16];
                    }
                }
                float y = fmaf((float)acc, multiplier[c], offset[c]);
                if (relu && y < 0) y = 0;
                output[((size_t)(c / 8) * out_plane + (size_t)oy * (size_t)g->out_width + (size_t)ox) * 8 + c % 8] = y;
            }
        }
    }
}
