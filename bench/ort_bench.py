#!/usr/bin/env python3
"""onnxruntime's half of bench/face-bench.sh: the same networks on the same input sizes,
single-threaded, printing `RESULT <key> <median ms> min=<fastest ms>` lines with the keys FaceBench uses.

YuNet is timed at 640x640 and 640x480 (network only, as onnxruntime does nothing else). Its graph
declares a fixed 1x3x640x640 input, so for 640x480 the spatial input dims are made symbolic in
memory (the Reshape targets are already [1, -1, C]). MTCNN replays the exact list of network
calls FaceBench's cascade made (--calls, written by `FaceBench --calls-out`), since onnxruntime
has no MTCNN cascade of its own.

Usage: ort_bench.py --yunet FILE --mtcnn DIR [--calls FILE] [--runs N] [--warmup N] [--only yunet|mtcnn]
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import onnx
import onnxruntime as ort


def session(model_bytes):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def size_generic_yunet(path):
    model = onnx.load(path)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for index, name in ((2, "height"), (3, "width")):
        dims[index].ClearField("dim_value")
        dims[index].dim_param = name
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    return model.SerializeToString()


def time_ms(fn, runs, warmup):
    """Median and fastest of `runs` timed calls after `warmup` untimed ones, in ms."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples)


def synthetic(count, scale):
    i = np.arange(count, dtype=np.int64)
    return ((i * 37) % 251).astype(np.float32) / np.float32(250) * np.float32(scale)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--yunet", required=True)
    parser.add_argument("--mtcnn", required=True)
    parser.add_argument("--calls")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", choices=("yunet", "mtcnn"))
    args = parser.parse_args()

    yunet = session(size_generic_yunet(args.yunet)) if args.only != "mtcnn" else None
    for width, height in ((640, 640), (640, 480)) if yunet else ():
        x = synthetic(3 * width * height, 255).reshape(1, 3, height, width)
        ms, fastest = time_ms(lambda: yunet.run(None, {"input": x}), args.runs, args.warmup)
        print(f"RESULT yunet_net_{width}x{height} {ms:.3f} min={fastest:.3f}", flush=True)

    if args.only != "yunet" and args.calls and os.path.exists(args.calls):
        with open(args.calls) as f:
            calls = json.load(f)
        nets = {name: session(open(os.path.join(args.mtcnn, f"{name}.onnx"), "rb").read()) for name in ("pnet", "rnet", "onet")}
        feeds = []
        for call in calls:
            net = nets[call["network"]]
            shape = call["shape"]
            x = (synthetic(int(np.prod(shape)), 2) - np.float32(1)).reshape(shape)
            feeds.append((net, {net.get_inputs()[0].name: x}))

        def replay():
            for net, feed in feeds:
                net.run(None, feed)

        ms, fastest = time_ms(replay, args.runs, args.warmup)
        print(f"RESULT mtcnn_nets {ms:.3f} min={fastest:.3f} calls={len(calls)}", flush=True)


if __name__ == "__main__":
    main()
