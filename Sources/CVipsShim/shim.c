#define _GNU_SOURCE
#include "CVipsShim.h"
#include <vips/vector.h>

#include <dlfcn.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <gmodule.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sc_drop_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {}

// libvips loads every module in its modules folder at start-up: ImageMagick, PDF, OpenSlide,
// JPEG XL and HEIF. We only accept formats from the last one, and loading the others costs
// about 40 ms and 7 MB per process (and is attack surface). So libvips is started with its
// automatic module loading pointed at nowhere, and the HEIF module is loaded by hand from the
// folder next to the libvips we are linked against.
static void sc_load_heif_module(void) {
    Dl_info info;
    if (!dladdr((void *) vips_init, &info) || !info.dli_fname) return;
    char library[VIPS_PATH_MAX], module[VIPS_PATH_MAX];
    vips_strncpy(library, info.dli_fname, sizeof(library));
    vips_snprintf(module, sizeof(module), "%s/vips-modules-%d.%d/vips-heif.so",
                  dirname(library), VIPS_MAJOR_VERSION, VIPS_MINOR_VERSION);
    GModule *heif = g_module_open(module, G_MODULE_BIND_LAZY);
    if (heif) g_module_make_resident(heif);
}

int sc_init(const char *argv0) {
    // Someone who set VIPSHOME chose their modules; leave that alone.
    int own_home = getenv("VIPSHOME") == NULL;
    if (own_home) setenv("VIPSHOME", "/nonexistent/smartcrop-no-vips-modules", 1);
    int status = VIPS_INIT(argv0);
    if (own_home) unsetenv("VIPSHOME");
    if (status) return -1;
    // Also a no-op when the host application started libvips (with its modules) before us.
    if (!vips_type_find("VipsOperation", "heifload")) sc_load_heif_module();
    // libvips reports recoverable trouble (a truncated file…) as GLib warnings on stderr as well
    // as in its error buffer; callers get the error buffer as a Swift error, once.
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, sc_drop_log, NULL);
    // Only the loaders we document are reachable from untrusted bytes: ImageMagick, PDF,
    // SVG, Matlab and friends are marked untrusted by libvips and stay off.
    vips_block_untrusted_set(TRUE);
    // Every request decodes a different image, so the operation cache only holds memory.
    vips_cache_set_max(0);
    // libvips before 8.15 runs some uchar kernels (reducev in every resize, integer convolution)
    // as orc programs. libvips compiles them under its lock, but frees them without one, and
    // orc 0.4.33 splits and merges its code-memory list outside its own mutex: one request
    // finishing while another builds a resize corrupts that list and kills the process (seen
    // in CI; 8 threads resizing crash 3 runs out of 3 here). 8.15 replaced orc by highway.
    if (sc_orc_frees_unlocked()) vips_vector_set_enabled(FALSE);
    return 0;
}

void sc_set_threads(int threads) { vips_concurrency_set(threads); }

int sc_orc_frees_unlocked(void) { return vips_version(0) == 8 && vips_version(1) < 15; }

void sc_release_freed_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

int sc_malloc_arena_max(int arenas) {
#ifdef __GLIBC__
    return mallopt(M_ARENA_MAX, arenas) == 1 ? 0 : -1;
#else
    return -1;
#endif
}

int sc_malloc_arena_count(void) {
#ifdef __GLIBC__
    // glibc has no call that returns the count; malloc_info writes one <heap nr="N"> element
    // per arena.
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    if (!stream) return -1;
    int written = malloc_info(0, stream) == 0;
    fclose(stream);
    int count = 0;
    for (const char *at = text; written && at && (at = strstr(at, "<heap nr=")); at++) count++;
    free(text);
    return written ? count : -1;
#else
    return -1;
#endif
}

struct SCStop {
    gint64 deadline_us;
    gint cancelled;
};

SCStop *sc_stop_new(double seconds) {
    SCStop *stop = g_atomic_rc_box_new0(SCStop);
    stop->deadline_us = seconds > 0 ? g_get_monotonic_time() + (gint64) (seconds * 1e6) : G_MAXINT64;
    return stop;
}

void sc_stop_unref(SCStop *stop) { g_atomic_rc_box_release(stop); }

void sc_stop_cancel(SCStop *stop) { g_atomic_int_set(&stop->cancelled, 1); }

int sc_stop_state(const SCStop *stop) {
    if (g_atomic_int_get(&stop->cancelled)) return 2;
    return g_get_monotonic_time() >= stop->deadline_us ? 1 : 0;
}

static void sc_stop_on_eval(VipsImage *image, VipsProgress *progress, gpointer data) {
    if (sc_stop_state(data)) vips_image_set_kill(image, TRUE);
}

static void sc_stop_release(gpointer data, GClosure *closure) { sc_stop_unref(data); }

void sc_stop_watch(VipsImage *image, SCStop *stop) {
    // Set directly rather than with vips_image_set_progress(), which keeps a signaller
    // inherited from upstream: that one may be a memory image whose pixels are done, and
    // killing it would stop nothing.
    image->progress_signal = image;
    g_signal_connect_data(image, "eval", G_CALLBACK(sc_stop_on_eval), g_atomic_rc_box_acquire(stop),
                          sc_stop_release, 0);
}

VipsImage *sc_load(const char *loader, const char *path, const void *data, size_t length, const char *options) {
    VipsOperation *operation = vips_operation_new(loader);
    if (!operation) return NULL;
    if (path) {
        g_object_set(operation, "filename", path, NULL);
    } else {
        // The caller keeps the bytes alive for as long as any image made from them.
        VipsBlob *blob = vips_blob_new(NULL, data, length);
        g_object_set(operation, "buffer", blob, NULL);
        vips_area_unref(VIPS_AREA(blob));
    }
    if ((options && vips_object_set_from_string(VIPS_OBJECT(operation), options)) ||
        vips_cache_operation_buildp(&operation)) {
        vips_object_unref_outputs(VIPS_OBJECT(operation));
        g_object_unref(operation);
        return NULL;
    }
    VipsImage *out = NULL;
    g_object_get(operation, "out", &out, NULL);
    vips_object_unref_outputs(VIPS_OBJECT(operation));
    g_object_unref(operation);
    return out;
}

// Colour options are only set when given: setting them at all changes what thumbnail does.
int sc_thumbnail_image(VipsImage *in, VipsImage **out, int width, int height,
                       const char *import_profile, const char *export_profile) {
    if (import_profile && export_profile)
        return vips_thumbnail_image(in, out, width, "height", height, "size", VIPS_SIZE_FORCE,
                                    "import_profile", import_profile, "export_profile", export_profile, NULL);
    if (export_profile)
        return vips_thumbnail_image(in, out, width, "height", height, "size", VIPS_SIZE_FORCE,
                                    "export_profile", export_profile, NULL);
    return vips_thumbnail_image(in, out, width, "height", height, "size", VIPS_SIZE_FORCE, NULL);
}

int sc_resize(VipsImage *in, VipsImage **out, double hscale, double vscale) {
    return vips_resize(in, out, hscale, "vscale", vscale, NULL);
}

int sc_extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height) {
    return vips_extract_area(in, out, left, top, width, height, NULL);
}

int sc_autorot(VipsImage *in, VipsImage **out) { return vips_autorot(in, out, NULL); }

int sc_rot(VipsImage *in, VipsImage **out, VipsAngle angle) { return vips_rot(in, out, angle, NULL); }

int sc_flip(VipsImage *in, VipsImage **out, VipsDirection direction) {
    return vips_flip(in, out, direction, NULL);
}

int sc_embed(VipsImage *in, VipsImage **out, int x, int y, int width, int height,
             const double *background, int n) {
    VipsArrayDouble *bg = vips_array_double_new(background, n);
    int result = vips_embed(in, out, x, y, width, height, "extend", VIPS_EXTEND_BACKGROUND,
                            "background", bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return result;
}

int sc_smartcrop(VipsImage *in, VipsImage **out, int width, int height,
                 VipsInteresting interesting, int *left, int *top) {
    if (vips_smartcrop(in, out, width, height, "interesting", interesting, NULL)) return -1;
    // libvips records the chosen window as a negative offset of the cropped image.
    *left = -vips_image_get_xoffset(*out);
    *top = -vips_image_get_yoffset(*out);
    return 0;
}

int sc_find_trim(VipsImage *in, double threshold, const double *background, int n,
                 int *left, int *top, int *width, int *height) {
    VipsArrayDouble *bg = vips_array_double_new(background, n);
    int result = vips_find_trim(in, left, top, width, height, "threshold", threshold,
                                "background", bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return result;
}

int sc_deviate(VipsImage *in, double *out) { return vips_deviate(in, out, NULL); }

int sc_gaussblur(VipsImage *in, VipsImage **out, double sigma) {
    return vips_gaussblur(in, out, sigma, NULL);
}

int sc_shrink(VipsImage *in, VipsImage **out, double hshrink, double vshrink) {
    return vips_shrink(in, out, hshrink, vshrink, NULL);
}

int sc_sharpen(VipsImage *in, VipsImage **out, double sigma) {
    return vips_sharpen(in, out, "sigma", sigma, NULL);
}

int sc_flatten(VipsImage *in, VipsImage **out, const double *background, int n) {
    VipsArrayDouble *bg = vips_array_double_new(background, n);
    int result = vips_flatten(in, out, "background", bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return result;
}

int sc_colourspace(VipsImage *in, VipsImage **out, VipsInterpretation space) {
    return vips_colourspace(in, out, space, NULL);
}

VipsBlob *sc_profile_load(const char *name) {
    VipsBlob *profile = NULL;
    if (vips_profile_load(name, &profile, NULL)) return NULL;
    return profile;
}

int sc_icc_transform(VipsImage *in, VipsImage **out, const char *output_profile,
                     const char *input_profile) {
    return vips_icc_transform(in, out, output_profile, "input_profile", input_profile,
                              "embedded", TRUE, "intent", VIPS_INTENT_RELATIVE, NULL);
}

int sc_cast(VipsImage *in, VipsImage **out, VipsBandFormat format) {
    return vips_cast(in, out, format, NULL);
}

int sc_extract_band(VipsImage *in, VipsImage **out, int band, int n) {
    return vips_extract_band(in, out, band, "n", n, NULL);
}

int sc_bandjoin(VipsImage **in, VipsImage **out, int n) { return vips_bandjoin(in, out, n, NULL); }

int sc_copy(VipsImage *in, VipsImage **out) { return vips_copy(in, out, NULL); }

int sc_draw_rect(VipsImage *image, const double *ink, int n, int left, int top,
                 int width, int height, int fill) {
    return vips_draw_rect(image, (double *) ink, n, left, top, width, height, "fill", fill, NULL);
}

int sc_write_to_buffer(VipsImage *in, const char *suffix, void **buf, size_t *length) {
    return vips_image_write_to_buffer(in, suffix, buf, length, NULL);
}

int sc_arrayjoin(VipsImage **in, VipsImage **out, int n, int across) {
    return vips_arrayjoin(in, out, n, "across", across, NULL);
}
