#!/usr/bin/env bash
# Face detection benchmark: our Swift runtime (FaceBench) against onnxruntime, single-threaded,
# same models, same input sizes, in the same run. Prints both medians and the ratio ours/ort.
#
# Needs: the MTCNN models (`make models`), the sample photos (`make samples`), YuNet at
# $SMARTCROP_YUNET_MODEL (default ../shared/models/face_detection_yunet_2023mar.onnx) and a
# Python with onnxruntime, onnx, numpy and pillow ($BENCH_PYTHON, default .venv-bench/bin/python).
# Environment: RUNS (30), WARMUP (5), SWIFT_SCRATCH (.build), PHOTO (astronaut.png).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${BENCH_PYTHON:-.venv-bench/bin/python}
yunet=${SMARTCROP_YUNET_MODEL:-../shared/models/face_detection_yunet_2023mar.onnx}
assets=${SMARTCROP_ASSETS:-.assets}
mtcnn=$assets/models/mtcnn
photo=${PHOTO:-$assets/samples/astronaut.png}
runs=${RUNS:-30}
warmup=${WARMUP:-5}
scratch=${SWIFT_SCRATCH:-.build}

for f in "$yunet" "$mtcnn/pnet.onnx" "$photo" "$python"; do
  [ -e "$f" ] || { echo "face-bench: missing $f (see the header of $0)" >&2; exit 1; }
done

swift build -c release --scratch-path "$scratch" --product FaceBench >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
read -r width height < <("$python" bench/make_rgb.py "$photo" 640 "$work/photo.rgb")

"$scratch/release/FaceBench" --yunet "$yunet" --mtcnn "$mtcnn" --rgb "$work/photo.rgb" --width "$width" --height "$height" \
  --runs "$runs" --warmup "$warmup" --calls-out "$work/calls.json" | tee "$work/ours.txt" >&2
"$python" bench/ort_bench.py --yunet "$yunet" --mtcnn "$mtcnn" --calls "$work/calls.json" \
  --runs "$runs" --warmup "$warmup" | tee "$work/ort.txt" >&2

"$python" - "$work/ours.txt" "$work/ort.txt" "${width}x${height}" <<'PY'
import sys
def results(path):
    out = {}
    for line in open(path):
        parts = line.split()
        if parts and parts[0] == "RESULT":
            out[parts[1]] = float(parts[2])
    return out
ours, ort, size = results(sys.argv[1]), results(sys.argv[2]), sys.argv[3]
rows = [
    ("YuNet 640x640, network", ours.get("yunet_net_640x640"), ort.get("yunet_net_640x640")),
    ("YuNet 640x640, detect (input+net+decode)", ours.get("yunet_detect_640x640"), ort.get("yunet_net_640x640")),
    ("YuNet 640x480, network", ours.get("yunet_net_640x480"), ort.get("yunet_net_640x480")),
    ("YuNet 640x480, detect (input+net+decode)", ours.get("yunet_detect_640x480"), ort.get("yunet_net_640x480")),
    (f"MTCNN {size}, networks of the cascade", ours.get(f"mtcnn_nets_{size}"), ort.get("mtcnn_nets")),
    (f"MTCNN {size}, full cascade", ours.get(f"mtcnn_detect_{size}"), ort.get("mtcnn_nets")),
]
print(f"{'single thread, median ms':44} {'ours':>8} {'onnxruntime':>12} {'ours/ort':>9}")
for name, a, b in rows:
    if a is None or b is None:
        continue
    print(f"{name:44} {a:8.2f} {b:12.2f} {a / b:9.2f}")
print("(detect and full-cascade rows include our pre/post-processing; the onnxruntime column is network time only)")
PY
