// Plain C wrappers around the variadic libvips calls SmartCrop uses: Swift cannot call
// C varargs. Each wrapper passes exactly the options Swift gives it and nothing clever.
#ifndef SMARTCROP_VIPS_SHIM_H
#define SMARTCROP_VIPS_SHIM_H

#include <vips/vips.h>

int sc_init(const char *argv0);
void sc_set_threads(int threads);
/// Whether this libvips (before 8.15) frees orc programs without a lock, so that sc_init
/// turns its orc kernels off.
int sc_orc_frees_unlocked(void);
void sc_release_freed_memory(void);
// glibc's M_ARENA_MAX: at most `arenas` malloc heaps (0 restores glibc's 8 per core). It only
// binds arenas made after it, so it is set at process start. 0 on success, -1 where unsupported.
int sc_malloc_arena_max(int arenas);
// How many malloc arenas the process has now, or -1 where that cannot be read.
int sc_malloc_arena_count(void);

// A request's stop signal for libvips work: a deadline and a cancel switch. libvips checks an
// image's kill flag before computing each tile, and `sc_stop_watch` sets that flag from the
// image's progress signal once the deadline has passed or the request was cancelled, so work
// in progress stops within a tile. Reference-counted: an image keeps its handler (and a
// reference) for as long as it lives, which may be longer than the request.
typedef struct SCStop SCStop;
// `seconds` <= 0 means no deadline.
SCStop *sc_stop_new(double seconds);
void sc_stop_unref(SCStop *stop);
void sc_stop_cancel(SCStop *stop);
// 0 running, 1 past the deadline, 2 cancelled.
int sc_stop_state(const SCStop *stop);
// Makes `image` signal its own progress and kill itself when `stop` fires. Call it on the
// image about to be evaluated (saved, copied to memory, measured).
void sc_stop_watch(VipsImage *image, SCStop *stop);

// Loading, with one named loader ("jpegload", "pngload_buffer"…): libvips never probes every
// loader for the input's type, so a hostile file only ever meets the loader of its magic bytes.
// `options` is a libvips option string such as "access=sequential,fail_on=truncated" (may be
// NULL). Give `path` for a file, else `data` and `length`.
VipsImage *sc_load(const char *loader, const char *path, const void *data, size_t length, const char *options);
// Resizes an already loaded image to exactly `width` × `height` (after EXIF orientation),
// with libvips' colour handling; the profiles are only set when given.
int sc_thumbnail_image(VipsImage *in, VipsImage **out, int width, int height,
                       const char *import_profile, const char *export_profile);

// Geometry.
int sc_resize(VipsImage *in, VipsImage **out, double hscale, double vscale);
int sc_extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height);
int sc_autorot(VipsImage *in, VipsImage **out);
int sc_rot(VipsImage *in, VipsImage **out, VipsAngle angle);
int sc_flip(VipsImage *in, VipsImage **out, VipsDirection direction);
int sc_embed(VipsImage *in, VipsImage **out, int x, int y, int width, int height,
             const double *background, int n);

// Analysis.
int sc_smartcrop(VipsImage *in, VipsImage **out, int width, int height,
                 VipsInteresting interesting, int *left, int *top);
int sc_find_trim(VipsImage *in, double threshold, const double *background, int n,
                 int *left, int *top, int *width, int *height);
int sc_deviate(VipsImage *in, double *out);

// Pixels and colour.
int sc_gaussblur(VipsImage *in, VipsImage **out, double sigma);
int sc_shrink(VipsImage *in, VipsImage **out, double hshrink, double vshrink);
int sc_sharpen(VipsImage *in, VipsImage **out, double sigma);
int sc_flatten(VipsImage *in, VipsImage **out, const double *background, int n);
int sc_colourspace(VipsImage *in, VipsImage **out, VipsInterpretation space);
// libvips' own profile of that name ("srgb", "p3", "cmyk"): a blob the caller unrefs.
VipsBlob *sc_profile_load(const char *name);
int sc_icc_transform(VipsImage *in, VipsImage **out, const char *output_profile,
                     const char *input_profile);
int sc_cast(VipsImage *in, VipsImage **out, VipsBandFormat format);
int sc_extract_band(VipsImage *in, VipsImage **out, int band, int n);
int sc_bandjoin(VipsImage **in, VipsImage **out, int n);
int sc_copy(VipsImage *in, VipsImage **out);
int sc_draw_rect(VipsImage *image, const double *ink, int n, int left, int top,
                 int width, int height, int fill);

// Saving. `suffix` picks the saver and carries its options, e.g. ".webp[Q=85]".
int sc_write_to_buffer(VipsImage *in, const char *suffix, void **buf, size_t *length);

// Animations: libvips holds one as a strip of frames stacked top to bottom (`across` 1).
int sc_arrayjoin(VipsImage **in, VipsImage **out, int n, int across);

#endif
