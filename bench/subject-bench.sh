#!/usr/bin/env bash
# Subject model benchmark: U-2-Netp on our Swift runtime (SaliencyBench --u2netp) against
# onnxruntime, one thread each, the same model, input size and input, in the same run. The two
# sides alternate for ROUNDS rounds so that both face the same load on a shared machine.
#
# Needs: U-2-Netp at $SMARTCROP_SUBJECT_MODEL (default ../shared/models/u2netp.onnx) and a Python
# with onnxruntime and numpy ($BENCH_PYTHON, default .venv-bench/bin/python).
# Environment: SIZE (224, the product's default), RUNS (10), WARMUP (2), ROUNDS (3).
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
for round in $(seq "$rounds"); do
  .build/release/SaliencyBench --u2netp "$model" --size "$size" --runs "$runs" --warmup "$warmup" >> "$work/ours.txt"
  "$python" bench/u2netp_ort_bench.py --model "$model" --size "$size" --runs "$runs" --warmup "$warmup" >> "$work/ort.txt"
done
"$python" - "$work/ours.txt" "$work/ort.txt" <<'PY'
import statistics, sys
def read(path):
    medians, fastest = [], float("inf")
    for line in open(path):
        parts = line.split()
        if parts and parts[0] == "RESULT":
            medians.append(float(parts[2]))
            fastest = min(fastest, float(parts[3][4:]))
        key = parts[1]
    return key, statistics.median(medians), fastest
key, ours, ours_min = read(sys.argv[1])
_, ort, ort_min = read(sys.argv[2])
flags = set(open("/proc/cpuinfo").read().split()) if sys.platform.startswith("linux") else set()
vector = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl") if f in flags)
print(f"{key} network, one thread (CPU: {vector or 'unknown'}):")
print(f"  ours        {ours:8.1f} ms median  {ours_min:8.1f} ms fastest")
print(f"  onnxruntime {ort:8.1f} ms median  {ort_min:8.1f} ms fastest")
print(f"  ratio       {ours / ort:8.2f}x median  {ours_min / ort_min:8.2f}x fastest  (target <= 1.0x)")
PY
