#!/usr/bin/env python3
"""Times whole commands against a reference command in the same run.

Each case runs the two commands alternately (after warm-up), so both see the same machine
state, and reports the median wall time and the median peak RSS of each, and their ratios.

  cli_bench.py --runs 20 --case NAME 'OUR COMMAND' 'REFERENCE COMMAND' [--target-time 1.1 --target-rss 1.2]
               [--share detect]

With --share PHASE, our command must print smartcrop's --json; the median time of that phase
(from its timings_ms) is reported as a share of our median wall time.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def measure(cmd):
    """Wall time, peak RSS (MiB) and stdout of one run."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.exit(f"command failed: {cmd}\n{err.read().decode(errors='replace')}")
    return elapsed, usage.ru_maxrss / 1024, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--target-time", type=float)
    ap.add_argument("--target-rss", type=float)
    ap.add_argument("--share", help="a phase of our --json timings_ms to report as a share of our time")
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
    ot, orss = statistics.median(o[0] for o in ours), statistics.median(o[1] for o in ours)
    rt, rrss = statistics.median(o[0] for o in ref), statistics.median(o[1] for o in ref)
    time_ratio, rss_ratio = ot / rt, orss / rrss
    verdict = []
    if args.target_time:
        verdict.append(f"time {'OK' if time_ratio <= args.target_time else 'OVER'} (target <= {args.target_time}x)")
    if args.target_rss:
        verdict.append(f"rss {'OK' if rss_ratio <= args.target_rss else 'OVER'} (target <= {args.target_rss}x)")
    print(f"{args.case}: ours {ot * 1000:.1f} ms / {orss:.1f} MiB, reference {rt * 1000:.1f} ms / {rrss:.1f} MiB, "
          f"ratio time {time_ratio:.2f}x, rss {rss_ratio:.2f}x  {'; '.join(verdict)}")
    if args.share:
        phase = statistics.median(json.loads(o[2])["timings_ms"].get(args.share, 0.0) for o in ours)
        print(f"{args.case}: {args.share} {phase:.1f} ms median, {100 * phase / (ot * 1000):.0f}% of our wall time")


if __name__ == "__main__":
    main()
