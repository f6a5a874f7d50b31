#!/usr/bin/env python3
"""onnxruntime's own int8 U-2-Netp, the second reference of bench/subject-bench.sh: quantize_static
in QDQ form with the calibration our int8 path uses (tools/calibration/calibrate.sh: the sample
photos and every 4th dev salient photo, stretched to SxS; min and max per tensor; u8 activations,
s8 weights per output channel). Writes the quantised model to --out."""
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
parser.add_argument("--size", type=int, default=224)
parser.add_argument("--samples", default=".assets/samples")
parser.add_argument("--eval", default="../shared/eval/salient")
args = parser.parse_args()

photos = sorted(glob.glob(os.path.join(args.samples, "*")))
dev = sorted(glob.glob(os.path.join(args.eval, "*", "images", "*.jpg")))
photos += dev[::4]
mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def tensor(path):
    rgb = np.asarray(Image.open(path).convert("RGB").resize((args.size, args.size), Image.Resampling.LANCZOS), dtype=np.float32)
    chw = rgb.transpose(2, 0, 1) / max(float(rgb.max()), 1.0)
    return ((chw - mean) / std)[None].astype(np.float32)


class Reader(CalibrationDataReader):
    def __init__(self, model):
        import onnxruntime as ort
        self.name = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
        self.items = iter(photos)

    def get_next(self):
        path = next(self.items, None)
        return None if path is None else {self.name: tensor(path)}


# Per-channel DequantizeLinear (its axis) needs opset 13; the model is opset 11.
model = onnx.load(args.model)
if model.opset_import[0].version < 13:
    model = version_converter.convert_version(model, 13)
source = args.out + ".opset13.onnx"
onnx.save(model, source)
quantize_static(source, args.out, Reader(source), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
os.remove(source)
print(f"quantised {args.model} over {len(photos)} photos into {args.out}")
