#ifndef SMARTCROP_CPU_FEATURES_H
#define SMARTCROP_CPU_FEATURES_H

/// Instruction-set levels the inference kernels are compiled for, as bits.
enum {
    /// x86-64-v2: SSE4.2, SSSE3, POPCNT.
    SMARTCROP_CPU_X86_64_V2 = 1 << 0,
    /// AVX2 and FMA, with the OS saving ymm state.
    SMARTCROP_CPU_AVX2_FMA = 1 << 1,
    /// AVX-512 F, BW, DQ and VL, with the OS saving zmm and mask state.
    SMARTCROP_CPU_AVX512 = 1 << 2,
    /// AVX-512 VNNI (vpdpbusd) on top of SMARTCROP_CPU_AVX512: what the int8 kernels need.
    SMARTCROP_CPU_AVX512_VNNI = 1 << 3,
    /// AVX-VNNI (the VEX-encoded vpdpbusd on ymm) on top of SMARTCROP_CPU_AVX2_FMA: what the
    /// 256-bit int8 kernels need. Intel Alder Lake and later clients and Sierra Forest have it
    /// without AVX-512; Sapphire Rapids and AMD Zen 5 have both.
    SMARTCROP_CPU_AVX_VNNI = 1 << 4,
};

/// What this CPU and OS can run (0 on other architectures than x86-64). Swift cannot execute
/// cpuid or xgetbv itself, hence this C function.
unsigned smartcrop_cpu_features(void);

/// The CPU's brand string from cpuid (empty on other architectures); `out` holds at least 49 bytes.
void smartcrop_cpu_brand(char *out);

#endif
