#ifndef SMARTCROP_VPDPBUSD_TRAP_H
#define SMARTCROP_VPDPBUSD_TRAP_H

// For tests only: runs AVX-VNNI's VEX-encoded vpdpbusd on CPUs that lack it, by catching the
// SIGILL it raises and doing its arithmetic on the thread's saved registers, so the AVX-VNNI
// kernels' own machine code (not a rebuild of their source) can be held to the reference here.
// Handles the register forms the kernels use (ymm or xmm, no memory operand); any other illegal
// instruction gets the previous SIGILL disposition, so it still crashes as it would have.
// x86-64 Linux only; needs AVX (the saved ymm halves) and runs every trapped instruction through
// the kernel, thousands of times slower than the CPU would.

#ifdef __cplusplus
extern "C" {
#endif

/// Installs the SIGILL handler, once per process; 0 when it cannot (another OS or architecture).
int smartcrop_test_emulate_vpdpbusd(void);

/// How many vpdpbusd instructions the handler has executed so far.
unsigned long smartcrop_test_vpdpbusd_emulated(void);

#ifdef __cplusplus
}
#endif

#endif
