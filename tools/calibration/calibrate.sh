#!/usr/bin/env bash
# Measures the activation ranges U-2-Netp's int8 path quantises with, and embeds them
# (`make calibration`). The float32 network runs on our own runtime (SaliencyBench --calibrate)
# over a calibration set: the sample photos (.assets/samples, `make samples`) and every 4th photo
# of the dev salient-object set (../shared/eval/salient, images only, never copied here), each
# stretched to the model's square input as the product does. Writes
# Sources/Inference/Calibration/json/<model name>-<sha256 prefix>.json, then regenerates
# CalibratedModels.swift, which embeds every json file there.
#
# Needs: the model ($SMARTCROP_SUBJECT_MODEL, default ../shared/models/u2netp.onnx), a Python with
# Pillow to decode and resize the photos ($BENCH_PYTHON, default .venv-bench/bin/python).
# SIZE (224, the product's default input) is the input side; PERCENTILE (0.9999) where the top of
# each range is put among the tensor's values (1 for the largest); FLOAT_THRESHOLD (0.005) the
# mean change of the mask (0...1) above which a layer quantised alone is left in float32. Takes
# about 5 minutes on one core: every layer is tried alone on every 5th photo.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${BENCH_PYTHON:-.venv-bench/bin/python}
model=${SMARTCROP_SUBJECT_MODEL:-../shared/models/u2netp.onnx}
eval_dir=${SALIENT_EVAL:-../shared/eval/salient}
size=${SIZE:-224}
percentile=${PERCENTILE:-0.9999}
threshold=${FLOAT_THRESHOLD:-0.005}
out_dir=Sources/Inference/Calibration/json
[ -f "$model" ] || { echo "calibrate: no model at $model (SMARTCROP_SUBJECT_MODEL)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
photos=()
for f in .assets/samples/*; do photos+=("$f"); done
if [ -d "$eval_dir" ]; then
  i=0
  while IFS= read -r f; do
    if (( i % 4 == 0 )); then photos+=("$f"); fi
    i=$((i + 1))
  done < <(find "$eval_dir" -path '*/images/*' -name '*.jpg' | sort)
fi
"$python" - "$work" "$size" "${photos[@]}" <<'PY'
import sys
from PIL import Image
work, size, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for i, path in enumerate(paths):
    image = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    open(f"{work}/{i:04d}.rgb", "wb").write(image.tobytes())
PY
swift build -c release --static-swift-stdlib -Xswiftc -Xclang-linker -Xswiftc -no-pie --product SaliencyBench >&2
# Named by the measured file; the table also serves other exports of the same weights (readers).
name=$(basename "$model" .onnx)-$(sha256sum "$model" | cut -c1-8)
.build/release/SaliencyBench --calibrate "$model" "$out_dir/$name.json" "$size" "$percentile" "$threshold" "$work"/*.rgb
tools/calibration/embed.sh

