#!/usr/bin/env bash
# The smartcrop binary on CPUs older than this one: runs `detect` under QEMU's user-mode
# emulation of a Nehalem (x86-64-v2: no AVX, which QEMU faults like the real CPU would) and of a
# Haswell (AVX2, no AVX-512), and checks that each run picks the widest kernels that CPU has and
# finds the same faces as the native run. Only the kernel targets may use more than the
# x86-64 baseline; anything else built for AVX would die here with SIGILL. Then checks that
# neither picks int8 (no VNNI), and that forcing it is an error.
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
# Int8 inference needs AVX-512 VNNI, which neither emulated CPU has: float32 must be picked, and
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
