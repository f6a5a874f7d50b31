#define _GNU_SOURCE
#include "CVipsShim.h"

#include <dlfcn.h>
#include <gmodule.h>
#include <libgen.h>
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
    return 0;
}

void sc_set_threads(int threads) { vips_concurrency_set(threads); }

VipsImage *sc_open_file(const char *path, const char *options) {
    char name[VIPS_PATH_MAX];
    if (options) {
        vips_snprintf(name, sizeof(name), "%s[%s]", path, options);
        return vips_image_new_from_file(name, NULL);
    }
    return vips_image_new_from_file(path, NULL);
}

VipsImage *sc_open_buffer(const void *data, size_t length, const char *options) {
    return vips_image_new_from_buffer(data, length, options ? options : "", NULL);
}

// Colour options are only set when given: setting them at all changes what thumbnail does.
#define SC_THUMBNAIL(call, ...)                                                            \
    (import_profile && export_profile                                                      \
         ? call(__VA_ARGS__, "import_profile", import_profile, "export_profile",            \
                export_profile, NULL)                                                      \
     : export_profile ? call(__VA_ARGS__, "export_profile", export_profile, NULL)          \
                      : call(__VA_ARGS__, NULL))

int sc_thumbnail_file(const char *path, VipsImage **out, int width, int height,
                      const char *import_profile, const char *export_profile) {
    return SC_THUMBNAIL(vips_thumbnail, path, out, width, "height", height,
                        "size", VIPS_SIZE_FORCE, "fail_on", VIPS_FAIL_ON_TRUNCATED);
}

int sc_thumbnail_buffer(const void *data, size_t length, VipsImage **out, int width, int height,
                        const char *import_profile, const char *export_profile) {
    // thumbnail_buffer in libvips 8.14 does not pass fail_on to the loader; the loader's own
    // option string does.
    return SC_THUMBNAIL(vips_thumbnail_buffer, (void *) data, length, out, width,
                        "height", height, "size", VIPS_SIZE_FORCE,
                        "fail_on", VIPS_FAIL_ON_TRUNCATED, "option_string", "fail_on=truncated");
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
