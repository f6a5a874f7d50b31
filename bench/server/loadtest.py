#!/usr/bin/env python3
"""`make loadtest`: the release server under wrk on loopback, against the library in-process.

1. Starts `smartcrop serve` on a free loopback port and warms it up.
2. Runs wrk for --seconds with --connections against POST /v1/transform, every request a
   2 MP JPEG (base64 JSON) to a 256x256 WebP avatar; samples the server's RSS meanwhile.
3. Stops the server with SIGTERM (it must exit cleanly).
4. Runs the same pipeline on the same bytes in-process (LoadBench), one thread per core.
Prints requests/s, p50/p99 latency, errors and peak RSS, the in-process figure and the ratio,
and checks the targets: 0 errors, throughput >= 0.85x in-process, peak RSS <= 300 MB.
"""
import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="the smartcrop binary")
    ap.add_argument("--bench", required=True, help="the LoadBench binary")
    ap.add_argument("--image", required=True)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    args = ap.parse_args()
    cores = os.cpu_count()

    work = tempfile.mkdtemp(prefix="smartcrop-loadtest-")
    body_path = os.path.join(work, "body.json")
    image = open(args.image, "rb").read()
    body = {"file": {"type": "base64", "name": "photo.jpg", "base64": base64.b64encode(image).decode()},
            "operations": [{"type": "smart_crop", "width_in_px": 256, "height_in_px": 256}, {"type": "convert", "format": "webp"}]}
    with open(body_path, "w") as f:
        json.dump(body, f)
    body_bytes = open(body_path, "rb").read()

    env = dict(os.environ, SMARTCROP_DOWNLOAD_DIR=os.path.join(work, "downloads"))
    server = subprocess.Popen([args.server, "serve", "--host", "127.0.0.1", "--port", "0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    log = []
    deadline = time.time() + 60
    while port is None and time.time() < deadline:
        line = server.stderr.readline()
        if not line:
            break
        log.append(line)
        m = re.search(r"port=(\d+)", line)
        if m:
            port = int(m.group(1))
    if port is None:
        server.kill()
        sys.exit("the server did not start:\n" + "".join(log))
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    url = f"http://127.0.0.1:{port}/v1/transform"

    for _ in range(10):
        req = urllib.request.Request(url, data=body_bytes, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            data = json.load(r)["data"]
            assert data["width"] == 256 and data["mime_type"] == "image/webp", data
    print(f"== server: {args.connections} connections, {args.seconds} s, {len(image) / 1e6:.2f} MB JPEG "
          f"({data['source']['width']}x{data['source']['height']}) to a 256x256 WebP, {cores} cores", flush=True)

    peak_sampled = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak_sampled[0] = max(peak_sampled[0], rss_kib(server.pid, "VmRSS"))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    wrk = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "30s", "--latency",
                          "-s", os.path.join(HERE, "post.lua"), url], env=dict(os.environ, LOADTEST_BODY=body_path),
                         capture_output=True, text=True)
    stop.set()
    sampler.join()
    peak = max(peak_sampled[0], rss_kib(server.pid, "VmHWM"))
    server.send_signal(signal.SIGTERM)
    try:
        status = server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        status = "killed"
    if wrk.returncode != 0:
        sys.exit("wrk failed:\n" + wrk.stdout + wrk.stderr)
    out = wrk.stdout
    fields = dict(re.findall(r"^([A-Z0-9_]+) ([\d.]+)$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = int(fields["NON200"]) + int(fields["SOCKET_ERRORS"])
    print(out.strip())
    print(f"server: {rps:.1f} req/s, p50 {float(fields['P50_MS']):.1f} ms, p99 {float(fields['P99_MS']):.1f} ms, "
          f"errors {errors}, peak RSS {peak / 1024:.1f} MiB, exit after SIGTERM: {status}", flush=True)

    print(f"== in-process: the same pipeline on {cores} threads for {args.seconds} s", flush=True)
    bench = subprocess.run([args.bench, args.image, str(args.seconds), str(cores)], capture_output=True, text=True)
    if bench.returncode != 0:
        sys.exit("LoadBench failed:\n" + bench.stderr)
    inproc = json.loads(bench.stdout.strip().splitlines()[-1])
    ratio = rps / inproc["per_second"]
    print(f"in-process: {inproc['per_second']:.1f} per second ({inproc['completed']} in {inproc['seconds']:.1f} s, {inproc['errors']} errors)")

    checks = [("errors", errors == 0, f"{errors} (target 0)"),
              ("throughput", ratio >= 0.85, f"{ratio:.2f}x in-process (target >= 0.85x)"),
              ("peak RSS", peak / 1024 <= 300 * 1e6 / 2**20, f"{peak / 1024:.1f} MiB (target <= 300 MB)"),
              ("graceful exit", status == 0, f"{status}")]
    for name, ok, text in checks:
        print(f"{'OK  ' if ok else 'FAIL'} {name}: {text}")
    sys.exit(0 if all(ok for _, ok, _ in checks) else 1)


if __name__ == "__main__":
    main()
