#include <vips/vips.h>
// Not part of vips.h: the switch for libvips' orc kernels (see sc_init).
#include <vips/vector.h>
