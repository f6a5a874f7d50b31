#include "cpu_features.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

unsigned smartcrop_cpu_features(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    unsigned features = 0;
    int sse42 = (ecx >> 20) & 1, ssse3 = (ecx >> 9) & 1, popcnt = (ecx >> 23) & 1;
    int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (sse42 && ssse3 && popcnt) features |= SMARTCROP_CPU_X86_64_V2;
    // The instructions exist only if the OS saves the registers they use (XCR0): bits 1-2 for
    // xmm/ymm, 5-7 for the opmask registers and the upper zmm halves.
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return features;
    const unsigned leaf7_subleaves = eax;
    int avx2 = (ebx >> 5) & 1;
    int avx512f = (ebx >> 16) & 1, avx512dq = (ebx >> 17) & 1, avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
    if ((features & SMARTCROP_CPU_X86_64_V2) && avx && avx2 && fma && ymm) features |= SMARTCROP_CPU_AVX2_FMA;
    if ((features & SMARTCROP_CPU_AVX2_FMA) && avx512f && avx512dq && avx512bw && avx512vl && zmm) features |= SMARTCROP_CPU_AVX512;
    int avx512vnni = (ecx >> 11) & 1;
    if ((features & SMARTCROP_CPU_AVX512) && avx512vnni) features |= SMARTCROP_CPU_AVX512_VNNI;
    // AVX-VNNI is in subleaf 1, which exists only where subleaf 0 says so (EAX: the last subleaf).
    if (leaf7_subleaves >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) {
        int avxvnni = (eax >> 4) & 1;
        if ((features & SMARTCROP_CPU_AVX2_FMA) && avxvnni) features |= SMARTCROP_CPU_AVX_VNNI;
    }
    return features;
}

void smartcrop_cpu_brand(char *out) {
    unsigned regs[12] = {0};
    unsigned eax, ebx, ecx, edx;
    out[0] = 0;
    if (!__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) || eax < 0x80000004) return;
    for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    memcpy(out, regs, 48);
    out[48] = 0;
}
#else
unsigned smartcrop_cpu_features(void) { return 0; }
void smartcrop_cpu_brand(char *out) { out[0] = 0; }
#endif
