#!/usr/bin/env bash
# Subject model benchmark: U-2-Netp on our Swift runtime (SaliencyBench --u2netp) against
# onnxruntime, one thread each, the same model, input size and input, in the same run. The two
# sides alternate for ROUNDS rounds so that both face the same load on a shared machine. Ours
# runs in float32 on each kernel set, and in int8 (on the widest set) where the CPU has AVX-512
# VNNI; onnxruntime in float32 and, as a second reference, in int8 (quantize_static, QDQ, with
# our calibration photos: bench/u2netp_ort_quantize.py).
#
# Needs: U-2-Netp at $SMARTCROP_SUBJECT_MODEL (default ../shared/models/u2netp.onnx) and a Python
# with onnxruntime and numpy ($BENCH_PYTHON, default .venv-bench/bin/python).
# Environment: SIZE (224, the product's default), RUNS (10), WARMUP (2), ROUNDS (3), ISAS (the
# kernel sets to bench, default every set this CPU runs; each is forced with SMARTCROP_ISA).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${BENCH_PYTHON:-.venv-bench/bin/python}
model=${SMARTCROP_SUBJECT_MODEL:-../shared/models/u2netp.onnx}
size=${SIZE:-224}
runs=${RUNS:-10}
warmup=${WARMUP:-2}
rounds=${ROUNDS:-3}
if [ ! -f "$model" ]; then
  echo "subject-bench: skipped, no U-2-Netp model at $model (SMARTCROP_SUBJECT_MODEL)"
  exit 0
fi
swift build -c release --static-swift-stdlib -Xswiftc -Xclang-linker -Xswiftc -no-pie --product SaliencyBench >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
isas=${ISAS:-$(.build/release/SaliencyBench --kernel-sets)}
rows=""
for isa in $isas; do rows="$rows $isa"; done
if .build/release/SaliencyBench --precisions | grep -q int8; then rows="$rows int8"; fi
if ! "$python" bench/u2netp_ort_quantize.py --model "$model" --out "$work/u2netp-int8.onnx" --size "$size" >&2 2>/dev/null; then
  echo "subject-bench: onnxruntime's int8 model could not be made; its row is left out" >&2
fi
for round in $(seq "$rounds"); do
  for row in $rows; do
    if [ "$row" = int8 ]; then env=(SMARTCROP_PRECISION=int8); else env=(SMARTCROP_ISA="$row" SMARTCROP_PRECISION=float32); fi
    env "${env[@]}" .build/release/SaliencyBench --u2netp "$model" --size "$size" --runs "$runs" --warmup "$warmup" \
      | sed "s/^RESULT /RESULT $row /" >> "$work/ours.txt"
  done
  "$python" bench/u2netp_ort_bench.py --model "$model" --size "$size" --runs "$runs" --warmup "$warmup" >> "$work/ort.txt"
  if [ -f "$work/u2netp-int8.onnx" ]; then
    "$python" bench/u2netp_ort_bench.py --model "$work/u2netp-int8.onnx" --size "$size" --runs "$runs" --warmup "$warmup" >> "$work/ort-int8.txt"
  fi
done
"$python" - "$work/ours.txt" "$work/ort.txt" "$rows" "$work/ort-int8.txt" <<'PY'
import os, statistics, sys
def read(path, isa=None):
    """(key, median of the rounds' medians, fastest run) of one side's RESULT lines."""
    medians, fastest, key = [], float("inf"), ""
    for line in open(path):
        parts = line.split()
        if isa is not None:
            if len(parts) < 2 or parts[0] != "RESULT" or parts[1] != isa:
                continue
            parts = parts[:1] + parts[2:]
        if parts and parts[0] == "RESULT":
            key = parts[1]
            medians.append(float(parts[2]))
            fastest = min(fastest, float(parts[3][4:]))
    return key, statistics.median(medians), fastest
key, ort, ort_min = read(sys.argv[2])
flags = set(open("/proc/cpuinfo").read().split()) if sys.platform.startswith("linux") else set()
vector = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx_vnni") if f in flags)
print(f"{key} network, one thread (CPU vector flags: {vector or 'none of avx2/fma/avx512'}); ratios against onnxruntime float32:")
print(f"  onnxruntime float32    {ort:8.1f} ms median  {ort_min:8.1f} ms fastest")
if os.path.exists(sys.argv[4]):
    _, ort8, ort8_min = read(sys.argv[4])
    print(f"  onnxruntime int8       {ort8:8.1f} ms median  {ort8_min:8.1f} ms fastest   "
          f"{ort8 / ort:5.2f}x median  {ort8_min / ort_min:5.2f}x fastest")
for row in sys.argv[3].split():
    _, ours, ours_min = read(sys.argv[1], row)
    label = "ours, int8 (VNNI)" if row == "int8" else f"ours, {row} float32"
    print(f"  {label:<22} {ours:8.1f} ms median  {ours_min:8.1f} ms fastest   "
          f"{ours / ort:5.2f}x median  {ours_min / ort_min:5.2f}x fastest")
PY
