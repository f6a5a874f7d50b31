// See include/vpdpbusd_trap.h. The signal frame holds the registers in XSAVE's standard format:
// the legacy area (xmm0-15 at byte 160), the XSAVE header (at 512; bit 2 of its first word says
// whether the ymm upper halves are saved or in their initial, zero state) and the ymm upper
// halves (16 bytes each from 576). Whatever the handler writes there is what sigreturn restores.
#include "vpdpbusd_trap.h"

#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

static struct sigaction previous;
static unsigned long emulated;

enum { XMM_OFFSET = 160, SW_BYTES_OFFSET = 464, HEADER_OFFSET = 512, YMM_HIGH_OFFSET = 576 };
static const uint32_t xstate_magic = 0x46505853; // FP_XSTATE_MAGIC1: the frame has an XSAVE area

static void handler(int signal, siginfo_t *info, void *context) {
    (void)signal;
    (void)info;
    ucontext_t *uc = context;
    const uint8_t *code = (const uint8_t *)uc->uc_mcontext.gregs[REG_RIP];
    uint8_t *area = (uint8_t *)uc->uc_mcontext.fpregs;
    uint32_t magic;
    if (area) memcpy(&magic, area + SW_BYTES_OFFSET, 4);
    // VEX3 (C4), map 0F38, W0, prefix 66, opcode 50, register operand: vpdpbusd x/ymm, x/ymm, x/ymm.
    if (!area || magic != xstate_magic || code[0] != 0xC4 || (code[1] & 0x1F) != 2 || (code[2] & 0x83) != 1
        || code[3] != 0x50 || (code[4] >> 6) != 3) {
        sigaction(SIGILL, &previous, NULL);
        return;
    }
    const int destination = ((code[4] >> 3) & 7) | (~code[1] >> 7 & 1) << 3;  // ModRM.reg, VEX.R
    const int unsigned_source = (~code[2] >> 3) & 15;                          // VEX.vvvv
    const int signed_source = (code[4] & 7) | (~code[1] >> 5 & 1) << 3;        // ModRM.rm, VEX.B
    const int lanes = (code[2] >> 2) & 1 ? 8 : 4;                              // VEX.L: ymm or xmm
    uint64_t header;
    memcpy(&header, area + HEADER_OFFSET, 8);
    if (!(header & 4)) {
        // The upper halves were in their initial state (zero) and the area's bytes are stale.
        memset(area + YMM_HIGH_OFFSET, 0, 256);
        header |= 4;
        memcpy(area + HEADER_OFFSET, &header, 8);
    }
    uint8_t d[32], u[32], s[32];
    memcpy(d, area + XMM_OFFSET + 16 * destination, 16);
    memcpy(d + 16, area + YMM_HIGH_OFFSET + 16 * destination, 16);
    memcpy(u, area + XMM_OFFSET + 16 * unsigned_source, 16);
    memcpy(u + 16, area + YMM_HIGH_OFFSET + 16 * unsigned_source, 16);
    memcpy(s, area + XMM_OFFSET + 16 * signed_source, 16);
    memcpy(s + 16, area + YMM_HIGH_OFFSET + 16 * signed_source, 16);
    for (int lane = 0; lane < 8; lane++) {
        uint32_t sum = 0;
        if (lane < lanes) {
            memcpy(&sum, d + 4 * lane, 4);
            // Four u8 × s8 products added to the lane, wrapping as the instruction does.
            for (int k = 0; k < 4; k++) sum += (uint32_t)((int32_t)u[4 * lane + k] * (int32_t)(int8_t)s[4 * lane + k]);
        }
        // A VEX.128 form zeroes the destination's upper half.
        memcpy(d + 4 * lane, &sum, 4);
    }
    memcpy(area + XMM_OFFSET + 16 * destination, d, 16);
    memcpy(area + YMM_HIGH_OFFSET + 16 * destination, d + 16, 16);
    uc->uc_mcontext.gregs[REG_RIP] += 5;
    __atomic_add_fetch(&emulated, 1, __ATOMIC_RELAXED);
}

static int installed;

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    installed = sigaction(SIGILL, &action, &previous) == 0;
}

int smartcrop_test_emulate_vpdpbusd(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install);
    return installed;
}

unsigned long smartcrop_test_vpdpbusd_emulated(void) { return __atomic_load_n(&emulated, __ATOMIC_RELAXED); }
#else
int smartcrop_test_emulate_vpdpbusd(void) { return 0; }
unsigned long smartcrop_test_vpdpbusd_emulated(void) { return 0; }
#endif
