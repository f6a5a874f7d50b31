#!/usr/bin/env python3
"""Times whole commands against a reference command in the same run.

Each case runs the two commands alternately (after warm-up), so both see the same machine
state, and reports the median wall time and the median peak RSS of each, and their ratios.

  cli_bench.py --runs 20 --case NAME 'OUR COMMAND' 'REFERENCE COMMAND' [--target-time 1.1 --target-rss 1.2]
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time


def measure(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {cmd}\n{err}")
    return elapsed, usage.ru_maxrss / 1024  # MiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--target-time", type=float)
    ap.add_argument("--target-rss", type=float)
    ap.add_argument("ours")
    ap.add_argument("reference")
    args = ap.parse_args()

    for _ in range(args.warmup):
        measure(args.ours)
        measure(args.reference)
    ours, ref = [], []
    for _ in range(args.runs):
        ours.append(measure(args.ours))
        ref.append(measure(args.reference))
    ot, orss = statistics.median(t for t, _ in ours), statistics.median(r for _, r in ours)
    rt, rrss = statistics.median(t for t, _ in ref), statistics.median(r for _, r in ref)
    time_ratio, rss_ratio = ot / rt, orss / rrss
    verdict = []
    if args.target_time:
        verdict.append(f"time {'OK' if time_ratio <= args.target_time else 'OVER'} (target <= {args.target_time}x)")
    if args.target_rss:
        verdict.append(f"rss {'OK' if rss_ratio <= args.target_rss else 'OVER'} (target <= {args.target_rss}x)")
    print(f"{args.case}: ours {ot * 1000:.1f} ms / {orss:.1f} MiB, reference {rt * 1000:.1f} ms / {rrss:.1f} MiB, "
          f"ratio time {time_ratio:.2f}x, rss {rss_ratio:.2f}x  {'; '.join(verdict)}")


if __name__ == "__main__":
    main()
