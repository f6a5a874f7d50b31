#!/usr/bin/env python3
"""onnxruntime's own int8 YuNet, the second reference of bench/face-bench.sh: quantize_static in
QDQ form with the calibration photos our int8 path uses (tools/calibration/calibrate.sh face: the
sample photos and every 4th dev faces and portraits photo, each scaled to fit 640 at the top left
of a black 640x640 input; min and max per tensor; u8 activations, s8 weights per output channel).
Every convolution is quantised, as onnxruntime does by default. Writes the model to --out."""
import argparse
import glob
import os

import numpy as np
import onnx
from onnx import version_converter
from PIL import Image
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--samples", default=".assets/samples")
parser.add_argument("--eval", default="../shared/eval")
args = parser.parse_args()

photos = sorted(glob.glob(os.path.join(args.samples, "*")))
for name in ("faces", "portraits"):
    photos += sorted(glob.glob(os.path.join(args.eval, name, "**", "*.jpg"), recursive=True))[::4]


def tensor(path):
    image = Image.open(path).convert("RGB")
    scale = min(1.0, 640 / max(image.size))
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (640, 640))
    canvas.paste(image, (0, 0))
    # Planar BGR, 0...255, as the detector feeds YuNet.
    return np.asarray(canvas, dtype=np.float32)[:, :, ::-1].transpose(2, 0, 1)[None].copy()


class Reader(CalibrationDataReader):
    def __init__(self):
        self.items = iter(photos)

    def get_next(self):
        path = next(self.items, None)
        return None if path is None else {"input": tensor(path)}


# Per-channel DequantizeLinear (its axis) needs opset 13; the model is opset 11.
model = onnx.load(args.model)
if model.opset_import[0].version < 13:
    model = version_converter.convert_version(model, 13)
source = args.out + ".opset13.onnx"
onnx.save(model, source)
quantize_static(source, args.out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
os.remove(source)
print(f"quantised {args.model} over {len(photos)} photos into {args.out}")
