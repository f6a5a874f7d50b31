#!/usr/bin/env bash
# Subject model benchmark: U-2-Netp on our Swift runtime (SaliencyBench --u2netp) against
# onnxruntime, one thread each, the same model, input size and input, in the same run. The two
# sides alternate for ROUNDS rounds so that both face the same load on a shared machine.
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
for round in $(seq "$rounds"); do
  for isa in $isas; do
    SMARTCROP_ISA=$isa .build/release/SaliencyBench --u2netp "$model" --size "$size" --runs "$runs" --warmup "$warmup" \
      | sed "s/^RESULT /RESULT $isa /" >> "$work/ours.txt"
  done
  "$python" bench/u2netp_ort_bench.py --model "$model" --size "$size" --runs "$runs" --warmup "$warmup" >> "$work/ort.txt"
done
"$python" - "$work/ours.txt" "$work/ort.txt" "$isas" <<'PY'
import statistics, sys
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
vector = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl") if f in flags)
print(f"{key} network, one thread (CPU vector flags: {vector or 'none of avx2/fma/avx512'}):")
print(f"  onnxruntime        {ort:8.1f} ms median  {ort_min:8.1f} ms fastest")
for isa in sys.argv[3].split():
    _, ours, ours_min = read(sys.argv[1], isa)
    print(f"  ours, {isa:<9}   {ours:8.1f} ms median  {ours_min:8.1f} ms fastest   "
          f"{ours / ort:5.2f}x median  {ours_min / ort_min:5.2f}x fastest")
PY
