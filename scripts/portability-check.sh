#!/usr/bin/env bash
# The smartcrop binary on CPUs older than this one: runs `detect` under QEMU's user-mode
# emulation of a Nehalem (x86-64-v2: no AVX, which QEMU faults like the real CPU would) and of a
# Haswell (AVX2, no AVX-512), and checks that each run picks the widest kernels that CPU has and
# finds the same faces as the native run. Only the kernel targets may use more than the
# x86-64 baseline; anything else built for AVX would die here with SIGILL. Then checks that
# neither picks int8 (no VNNI), that forcing it is an error, and what can be checked of the
# AVX-VNNI int8 kernels (for AVX2 CPUs without AVX-512) without such a CPU.
#
# Usage: scripts/portability-check.sh SMARTCROP_BINARY PHOTO
set -euo pipefail
binary=$1 photo=$2
if [ "$(uname -m)" != x86_64 ]; then echo "portability-check: x86-64 only, skipped on $(uname -m)"; exit 0; fi
native=$("$binary" detect "$photo" --json --detector mtcnn)
faces() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([[round(f[k]) for k in ("x","y","width","height")] for f in d["faces"]]))'; }
kernels() { python3 -c 'import json,sys; print(json.load(sys.stdin)["kernels"])'; }
expected_faces=$(faces <<<"$native")
for pair in Nehalem:baseline Haswell:avx2; do
  cpu=${pair%%:*} want=${pair#*:}
  out=$(qemu-x86_64 -cpu "$cpu" "$binary" detect "$photo" --json --detector mtcnn 2>/dev/null) || {
    echo "portability-check: smartcrop failed on an emulated $cpu (exit $?)" >&2; exit 1; }
  got=$(kernels <<<"$out")
  [ "$got" = "$want" ] || { echo "portability-check: $cpu ran the $got kernels, expected $want" >&2; exit 1; }
  [ "$(faces <<<"$out")" = "$expected_faces" ] || {
    echo "portability-check: $cpu found $(faces <<<"$out"), natively $expected_faces" >&2; exit 1; }
  echo "portability-check: emulated $cpu runs the $got kernels and finds the same faces ($expected_faces)"
done
# Int8 inference needs AVX-512 VNNI or AVX-VNNI, which neither emulated CPU has: float32 must be picked, and
# SMARTCROP_PRECISION=int8 must be refused with a message, not run into an illegal instruction.
# (SaliencyBench, built beside smartcrop by `make test`, reports the runtime's choice.)
bench=$(dirname "$binary")/SaliencyBench
if [ -x "$bench" ]; then
  for cpu in Nehalem Haswell; do
    got=$(qemu-x86_64 -cpu "$cpu" "$bench" --precisions)
    [ "$got" = float32 ] || { echo "portability-check: $cpu offers precisions '$got', expected float32" >&2; exit 1; }
    status=0
    message=$(SMARTCROP_PRECISION=int8 qemu-x86_64 -cpu "$cpu" "$bench" --precisions 2>/dev/null) || status=$?
    if [ "$status" -ne 2 ] || ! grep -q VNNI <<<"$message"; then
      echo "portability-check: SMARTCROP_PRECISION=int8 on $cpu gave exit $status: $message" >&2; exit 1
    fi
    echo "portability-check: emulated $cpu runs float32, and refuses int8 ($message)"
  done
fi
# The AVX-VNNI kernels run on CPUs without AVX-512, so none of their instructions may be
# EVEX-encoded (AVX-512's encoding, which such a CPU faults on; vpdpbusd has both forms): no
# zmm, mask or ymm16-31 register, and every vpdpbusd {vex}. Their flags keep the compiler from
# it; this keeps a flag added later from undoing that unseen.
if command -v objdump >/dev/null; then
  for symbol in smartcrop_int8_conv_avxvnni smartcrop_int8_quantize_avxvnni; do
    code=$(objdump -d --no-show-raw-insn --disassemble="$symbol" "$binary" | grep -E '^ +[0-9a-f]+:' || true)
    [ -n "$code" ] || { echo "portability-check: $symbol is not in $binary" >&2; exit 1; }
    evex=$(grep -E '%zmm|%k[0-7]|mm(1[6-9]|2[0-9]|3[01])\b|\{evex\}|:\s+vpdpbusd' <<<"$code" | head -3 || true)
    [ -z "$evex" ] || { echo "portability-check: $symbol has EVEX (AVX-512) instructions: $evex" >&2; exit 1; }
  done
  echo "portability-check: the AVX-VNNI int8 kernels are VEX-encoded only ($(grep -c '{vex} vpdpbusd' <<<"$(objdump -d --disassemble=smartcrop_int8_conv_avxvnni "$binary")") vpdpbusd, no AVX-512)"
else
  echo "portability-check: no objdump (binutils), the AVX-VNNI kernels' encoding is not checked"
fi
# An AVX2 CPU with AVX-VNNI and no AVX-512 (Alder Lake) must pick int8 on the AVX-VNNI kernels for
# a calibrated U-2-Netp, with the reference kernels' mask. QEMU emulates AVX-VNNI in none of the
# versions we tried (Debian 12's 7.2, and 10.0): it drops the flag from the emulated CPU's
# cpuid with a warning, and the CPU then picks float32. Checked where the QEMU can; said otherwise.
if [ -x "$bench" ]; then
  cpu=Haswell,+avx-vnni
  if [ "$(qemu-x86_64 -cpu "$cpu" "$bench" --int8-kernels 2>/dev/null)" = avx-vnni ]; then
    got=$(qemu-x86_64 -cpu "$cpu" "$bench" --precisions)
    [ "$got" = "float32 int8" ] || { echo "portability-check: $cpu offers precisions '$got', expected float32 int8" >&2; exit 1; }
    model=${SMARTCROP_SUBJECT_MODEL:-}
    if [ -f "$model" ]; then
      status=0
      message=$(qemu-x86_64 -cpu "$cpu" "$bench" --int8-parity "$model" 2>/dev/null) || status=$?
      if [ "$status" -ne 0 ] || ! grep -q 'avx-vnni kernels (avx2 float' <<<"$message"; then
        echo "portability-check: U-2-Netp int8 on $cpu gave exit $status: $message" >&2; exit 1
      fi
      echo "portability-check: emulated $cpu runs $message"
    else
      echo "portability-check: emulated $cpu offers int8; no SMARTCROP_SUBJECT_MODEL file, so its mask is not compared"
    fi
  else
    echo "portability-check: this QEMU ($(qemu-x86_64 --version | head -1)) does not emulate AVX-VNNI, so the AVX-VNNI kernels are not run here (Int8ConvolutionTests runs them with vpdpbusd trapped, on AVX-512 VNNI CPUs)"
  fi
fi
