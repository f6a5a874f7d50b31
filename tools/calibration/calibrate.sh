#!/usr/bin/env bash
# Measures the activation ranges a model's int8 path quantises with, and embeds them
# (`make calibration`). `calibrate.sh subject` (the default) does U-2-Netp, `calibrate.sh face`
# YuNet. The float32 network runs on our own runtime over a calibration set, never copied here:
#  - subject: SaliencyBench --calibrate over the sample photos (.assets/samples, `make samples`)
#    and every 4th photo of the dev salient-object set (../shared/eval/salient, images only),
#    each stretched to the model's square input as the product does.
#  - face: FaceBench --calibrate over the sample photos and every 4th photo of the dev faces and
#    portraits sets (../shared/eval/{faces,portraits}), each scaled to fit the detector's 640
#    proxy (never enlarged) at the top left of a black 640x640 input, as the detector pads it.
# Writes Sources/Inference/Calibration/json/<model name>-<sha256 prefix>.json, then regenerates
# CalibratedModels.swift, which embeds every json file there.
#
# Needs: the model ($SMARTCROP_SUBJECT_MODEL, default ../shared/models/u2netp.onnx, or
# $SMARTCROP_YUNET_MODEL, default ../shared/models/face_detection_yunet_2023mar.onnx), a Python
# with Pillow to decode and resize the photos ($BENCH_PYTHON, default .venv-bench/bin/python).
# Subject: SIZE (224, the product's default input) is the input side; PERCENTILE (0.9999) where
# the top of each range is put among the tensor's values (1 for the largest); FLOAT_THRESHOLD
# (0.005) the mean change of the mask (0...1) above which a layer quantised alone is left in
# float32. Takes about 5 minutes on one core: every layer is tried alone on every 5th photo.
# Face: PERCENTILE (1, each range's largest value); FACE_THRESHOLD (0.05) the change of a face score (0...1) above
# which a layer quantised alone is left in float32 (the largest change per photo, averaged over
# every 3rd photo; see Sources/FaceBench/Calibration.swift). About a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${BENCH_PYTHON:-.venv-bench/bin/python}
which=${1:-subject}
out_dir=Sources/Inference/Calibration/json
release_flags=(-c release --static-swift-stdlib -Xswiftc -Xclang-linker -Xswiftc -no-pie)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
photos=()
for f in .assets/samples/*; do photos+=("$f"); done
# Every 4th file of each listed folder's photos, in name order.
every_4th() {
  local i=0
  while IFS= read -r f; do
    if (( i % 4 == 0 )); then photos+=("$f"); fi
    i=$((i + 1))
  done < <(find "$@" -name '*.jpg' | sort)
}
case "$which" in
subject)
  model=${SMARTCROP_SUBJECT_MODEL:-../shared/models/u2netp.onnx}
  eval_dir=${SALIENT_EVAL:-../shared/eval/salient}
  size=${SIZE:-224}
  percentile=${PERCENTILE:-0.9999}
  threshold=${FLOAT_THRESHOLD:-0.005}
  [ -f "$model" ] || { echo "calibrate: no model at $model (SMARTCROP_SUBJECT_MODEL)" >&2; exit 1; }
  if [ -d "$eval_dir" ]; then every_4th "$eval_dir" -path '*/images/*'; fi
  "$python" - "$work" "$size" "${photos[@]}" <<'PY'
import sys
from PIL import Image
work, size, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for i, path in enumerate(paths):
    image = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    open(f"{work}/{i:04d}.rgb", "wb").write(image.tobytes())
PY
  swift build "${release_flags[@]}" --product SaliencyBench >&2
  # Named by the measured file; the table also serves other exports of the same weights (readers).
  name=$(basename "$model" .onnx)-$(sha256sum "$model" | cut -c1-8)
  .build/release/SaliencyBench --calibrate "$model" "$out_dir/$name.json" "$size" "$percentile" "$threshold" "$work"/*.rgb
  ;;
face)
  model=${SMARTCROP_YUNET_MODEL:-../shared/models/face_detection_yunet_2023mar.onnx}
  eval_dir=${FACE_EVAL:-../shared/eval}
  # The largest value, not a quantile: YuNet's activations are peaky, and clipping their top
  # 0.01 % moved its face scores 2.6 times as much (0.109 against 0.042, all layers in int8).
  percentile=${PERCENTILE:-1}
  threshold=${FACE_THRESHOLD:-0.05}
  [ -f "$model" ] || { echo "calibrate: no model at $model (SMARTCROP_YUNET_MODEL)" >&2; exit 1; }
  for set in faces portraits; do
    if [ -d "$eval_dir/$set" ]; then every_4th "$eval_dir/$set"; fi
  done
  "$python" - "$work" 640 "${photos[@]}" <<'PY'
import sys
from PIL import Image
work, side, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for i, path in enumerate(paths):
    image = Image.open(path).convert("RGB")
    scale = min(1.0, side / max(image.size))
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (side, side))
    canvas.paste(image, (0, 0))
    open(f"{work}/{i:04d}.rgb", "wb").write(canvas.tobytes())
PY
  swift build "${release_flags[@]}" --product FaceBench >&2
  name=yunet-$(sha256sum "$model" | cut -c1-8)
  # YuNet's int8 runs only when asked (SMARTCROP_PRECISION=int8): on the dev sets it lost 0.6 and
  # 0.7 point of faces kept and missed 14 of 698 float32 faces (README, "Int8 on CPUs with VNNI").
  AUTOMATIC=${AUTOMATIC:-false} .build/release/FaceBench --calibrate "$model" "$out_dir/$name.json" 640 "$percentile" "$threshold" "$work"/*.rgb
  ;;
*) echo "calibrate: say subject or face, not $which" >&2; exit 2 ;;
esac
tools/calibration/embed.sh
