#!/usr/bin/env python3
"""onnxruntime's half of bench/subject-bench.sh: U-2-Netp at SxS on one thread, on the same
synthetic input as SaliencyBench --u2netp, printing `RESULT u2netp-SxS <median ms> min=<ms>`."""
import argparse
import time

import numpy as np
import onnxruntime as ort

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--size", type=int, default=224)
parser.add_argument("--runs", type=int, default=20)
parser.add_argument("--warmup", type=int, default=3)
args = parser.parse_args()

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
s = args.size
i = np.arange(3 * s * s, dtype=np.int64)
x = ((((i * 37) % 251).astype(np.float32) / np.float32(250) - np.float32(0.5)) * np.float32(4)).reshape(1, 3, s, s)
name = session.get_inputs()[0].name
first = session.get_outputs()[0].name
times = []
for run in range(args.runs + args.warmup):
    start = time.perf_counter()
    session.run([first], {name: x})
    if run >= args.warmup:
        times.append((time.perf_counter() - start) * 1000)
times.sort()
print(f"RESULT u2netp-{s}x{s} {times[len(times) // 2]} min={times[0]}")
