#!/usr/bin/env bash
# Face detection benchmark: our Swift runtime (FaceBench) against onnxruntime, single-threaded,
# same models, same input sizes, in the same run. Prints both medians and the ratio ours/ort.
#
# Needs: the MTCNN models (`make models`), the sample photos (`make samples`), YuNet at
# $SMARTCROP_YUNET_MODEL (default ../shared/models/face_detection_yunet_2023mar.onnx) and a
# Python with onnxruntime, onnx, numpy and pillow ($BENCH_PYTHON, default .venv-bench/bin/python).
# Environment: RUNS (30), WARMUP (5), ROUNDS (3), SWIFT_SCRATCH (.build), PHOTO (astronaut.png),
# FACEBENCH (a FaceBench binary to use instead of building one), ISAS (the kernel sets to bench,
# default every set this CPU runs: avx512, avx2, baseline; each is forced with SMARTCROP_ISA).
#
# Each kernel set runs in float32 (SMARTCROP_PRECISION=float32); where the CPU has AVX-512 VNNI
# an int8 row follows (YuNet only: its 1×1 layers in int8 on the widest set, from its calibration
# table), and onnxruntime's own int8 YuNet (quantize_static, QDQ, our calibration photos:
# bench/yunet_ort_quantize.py) is timed as a second reference.
#
# The machine is shared, so the two sides alternate for ROUNDS rounds (each round runs ours,
# then onnxruntime) and both face the same load. The table gives the median of the per-round
# medians and the fastest single run overall; the ratio of the fastest runs is the steadier
# one on a busy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${BENCH_PYTHON:-.venv-bench/bin/python}
yunet=${SMARTCROP_YUNET_MODEL:-../shared/models/face_detection_yunet_2023mar.onnx}
assets=${SMARTCROP_ASSETS:-.assets}
mtcnn=$assets/models/mtcnn
photo=${PHOTO:-$assets/samples/astronaut.png}
runs=${RUNS:-30}
warmup=${WARMUP:-5}
rounds=${ROUNDS:-3}
scratch=${SWIFT_SCRATCH:-.build}

for f in "$yunet" "$mtcnn/pnet.onnx" "$photo" "$python"; do
  [ -e "$f" ] || { echo "face-bench: missing $f (see the header of $0)" >&2; exit 1; }
done

facebench=${FACEBENCH:-}
if [ -z "$facebench" ]; then
  swift build -c release --scratch-path "$scratch" --product FaceBench >&2
  facebench=$scratch/release/FaceBench
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
read -r width height < <("$python" bench/make_rgb.py "$photo" 640 "$work/photo.rgb")

isas=${ISAS:-$("$facebench" --kernel-sets)}
rows=$isas
if "$facebench" --precisions | grep -q int8; then
  rows="$rows int8"
  if ! "$python" bench/yunet_ort_quantize.py --model "$yunet" --out "$work/yunet-int8.onnx" \
       --samples "$assets/samples" --eval "${SMARTCROP_EVAL_DIR:-../shared/eval}" >&2; then
    echo "face-bench: onnxruntime's int8 YuNet could not be made; its row is left out" >&2
  fi
fi
touch "$work/ort-int8.txt"
for round in $(seq "$rounds"); do
  echo "face-bench: round $round of $rounds" >&2
  for row in $rows; do
    echo "face-bench: our kernels: $row" >&2
    if [ "$row" = int8 ]; then
      env=(SMARTCROP_PRECISION=int8); only=(--only yunet)
    else
      env=(SMARTCROP_ISA="$row" SMARTCROP_PRECISION=float32); only=()
    fi
    env "${env[@]}" "$facebench" --yunet "$yunet" --mtcnn "$mtcnn" --rgb "$work/photo.rgb" --width "$width" --height "$height" \
      --runs "$runs" --warmup "$warmup" --calls-out "$work/calls-$row.json" "${only[@]}" > "$work/run.txt"
    cat "$work/run.txt" >&2
    sed "s/^RESULT /RESULT $row:/" "$work/run.txt" >> "$work/ours.txt"
  done
  "$python" bench/ort_bench.py --yunet "$yunet" --mtcnn "$mtcnn" --calls "$work/calls-${isas%% *}.json" \
    --runs "$runs" --warmup "$warmup" | tee -a "$work/ort.txt" >&2
  if [ -f "$work/yunet-int8.onnx" ]; then
    "$python" bench/ort_bench.py --yunet "$work/yunet-int8.onnx" --mtcnn "$mtcnn" --only yunet \
      --runs "$runs" --warmup "$warmup" | sed 's/^RESULT /RESULT ort-int8:/' | tee -a "$work/ort-int8.txt" >&2
  fi
done

"$python" - "$work/ours.txt" "$work/ort.txt" "${width}x${height}" "$rows" "$work/ort-int8.txt" <<'PY'
import statistics
import sys
def results(path):
    """key -> (median of the rounds' medians, fastest run of all rounds)"""
    medians, fastest = {}, {}
    for line in open(path):
        parts = line.split()
        if parts and parts[0] == "RESULT":
            medians.setdefault(parts[1], []).append(float(parts[2]))
            for extra in parts[3:]:
                if extra.startswith("min="):
                    fastest[parts[1]] = min(fastest.get(parts[1], float("inf")), float(extra[4:]))
    return {k: (statistics.median(v), fastest.get(k, float("nan"))) for k, v in medians.items()}
ours, ort, size, isas = results(sys.argv[1]), results(sys.argv[2]), sys.argv[3], sys.argv[4].split()
ort_int8 = results(sys.argv[5])
rows = [
    ("YuNet 640x640, network", "yunet_net_640x640", "yunet_net_640x640"),
    ("YuNet 640x640, detect (input+net+decode)", "yunet_detect_640x640", "yunet_net_640x640"),
    ("YuNet 640x480, network", "yunet_net_640x480", "yunet_net_640x480"),
    ("YuNet 640x480, detect (input+net+decode)", "yunet_detect_640x480", "yunet_net_640x480"),
    (f"MTCNN {size}, networks of the cascade", f"mtcnn_nets_{size}", "mtcnn_nets"),
    (f"MTCNN {size}, full cascade", f"mtcnn_detect_{size}", "mtcnn_nets"),
]
flags = set(open("/proc/cpuinfo").read().split()) if sys.platform.startswith("linux") else set()
vector = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl") if f in flags)
if "avx512_vnni" in flags:
    vector += " avx512_vnni"
print(f"CPU vector flags: {vector or 'none of avx2/fma/avx512'}")
print(f"{'single thread, ms':44} {'kernels':>8} {'ours':>8} {'ort':>8} {'ratio':>6}   {'ours min':>8} {'ort min':>8} {'ratio':>6}")
for name, ours_key, ort_key in rows:
    for isa in isas:
        a, b = ours.get(f"{isa}:{ours_key}"), ort.get(ort_key)
        if a is None or b is None:
            continue
        print(f"{name:44} {isa:>8} {a[0]:8.2f} {b[0]:8.2f} {a[0] / b[0]:6.2f}   {a[1]:8.2f} {b[1]:8.2f} {a[1] / b[1]:6.2f}")
    a, b = ort_int8.get(f"ort-int8:{ort_key}"), ort.get(ort_key)
    if ort_key.startswith("yunet_net") and ours_key == ort_key and a is not None and b is not None:
        label = "ort-int8"
        print(f"{name:44} {label:>8} {a[0]:8.2f} {b[0]:8.2f} {a[0] / b[0]:6.2f}   {a[1]:8.2f} {b[1]:8.2f} {a[1] / b[1]:6.2f}")
print("(medians of the rounds' medians, then fastest runs; detect and full-cascade rows include our")
print(" pre/post-processing, the onnxruntime column is network time only, with its own choice of kernels;")
print(" the kernel sets run float32, int8 is YuNet's int8 path on the widest set, target <= 0.6 of onnxruntime float32;")
print(" ort-int8 is onnxruntime's own int8 YuNet, quantize_static QDQ with our calibration photos, against its float32)")
PY
