#!/usr/bin/env python3
"""`make image-loadtest`: the image's server through its published port against the very same
binary (the stripped copy the image holds) run directly on this machine, under the same wrk load
as `make loadtest`: 2 MP JPEGs to 256x256 WebP avatars, one worker per core, the same models and
the same API key. Rounds alternate (outside, inside, outside, ...) so that drift in what else the
machine is doing falls on both. Prints req/s, p50/p99 and errors of each, and the ratio."""
import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
POST_LUA = os.path.join(HERE, "..", "..", "bench", "server", "post.lua")
KEY = "loadtest-key"


def wait_ready(base, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.1)
    return False


def warm_up(url, body):
    for _ in range(10):
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(request) as reply:
            data = json.load(reply)["data"]
            assert data["width"] == 256 and data["mime_type"] == "image/webp", data
    return data


def wrk(url, body_path, args):
    out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "30s", "--latency",
                          "-s", POST_LUA, url], env=dict(os.environ, LOADTEST_BODY=body_path, LOADTEST_KEY=KEY),
                         capture_output=True, text=True, check=True).stdout
    fields = dict(re.findall(r"^([A-Z0-9_]+) ([\d.]+)$", out, re.M))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": float(fields["P50_MS"]),
            "p99": float(fields["P99_MS"]), "errors": int(fields["NON200"]) + int(fields["SOCKET_ERRORS"])}


def outside(args, env, body, body_path):
    server = subprocess.Popen([args.server, "--host", "127.0.0.1", "--port", "0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    while port is None:
        line = server.stderr.readline()
        if not line:
            sys.exit("the server did not start")
        match = re.search(r"port=(\d+)", line)
        port = match and int(match.group(1))
    subprocess.Popen(["cat"], stdin=server.stderr, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1/transform"
        warm_up(url, body)
        return wrk(url, body_path, args)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def inside(args, env, body, body_path):
    name = f"smartcrop-loadtest-{os.getpid()}"
    engine = [args.engine]
    # The image's own settings otherwise (its models, its download folder under /tmp).
    flags = ["-e", f"SMARTCROP_API_KEYS={KEY}"]
    subprocess.run(engine + ["run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "-p", "127.0.0.1::8080", *flags, args.image],
                   check=True, capture_output=True)
    try:
        published = subprocess.run(engine + ["port", name, "8080/tcp"], capture_output=True, text=True, check=True).stdout.split()[0]
        base = "http://" + published
        if not wait_ready(base):
            sys.exit("the container did not become ready")
        warm_up(base + "/v1/transform", body)
        return wrk(base + "/v1/transform", body_path, args)
    finally:
        subprocess.run(engine + ["stop", "-t", "60", name], capture_output=True)
        subprocess.run(engine + ["rm", "-f", name], capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--server", required=True, help="the stripped smartcrop-server the image holds")
    ap.add_argument("--photo", required=True)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="smartcrop-image-loadtest-")
    body_path = os.path.join(work, "body.json")
    body = json.dumps({"file": {"type": "base64", "name": "photo.jpg", "base64": base64.b64encode(open(args.photo, "rb").read()).decode()},
                       "operations": [{"type": "smart_crop", "width_in_px": 256, "height_in_px": 256},
                                      {"type": "convert", "format": "webp"}]}).encode()
    open(body_path, "wb").write(body)
    # The models the image holds, where the image holds them, so both sides do the same work.
    models = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.server))), "models")
    env = dict(os.environ, SMARTCROP_API_KEYS=KEY, SMARTCROP_DOWNLOAD_DIR=os.path.join(work, "downloads"),
               SMARTCROP_FACE_MODEL=os.path.join(models, "face_detection_yunet_2023mar.onnx") if os.path.exists(os.path.join(models, "face_detection_yunet_2023mar.onnx")) else "",
               SMARTCROP_SUBJECT_MODEL=os.path.join(models, "u2netp.onnx") if os.path.exists(os.path.join(models, "u2netp.onnx")) else "")
    print(f"== {args.connections} connections, {args.seconds} s a round, {len(body) / 1e6:.2f} MB request (2 MP JPEG) to a 256x256 WebP, "
          f"{os.cpu_count()} cores, {args.rounds} rounds each", flush=True)
    results = {"outside": [], "inside": []}
    for round_ in range(args.rounds):
        for where, run in (("outside", outside), ("inside", inside)):
            result = run(args, env, body, body_path)
            results[where].append(result)
            print(f"round {round_ + 1} {where + ' the container:':24} {result['rps']:6.1f} req/s, p50 {result['p50']:.0f} ms, "
                  f"p99 {result['p99']:.0f} ms, errors {result['errors']}", flush=True)
    mean = {k: sum(r["rps"] for r in v) / len(v) for k, v in results.items()}
    errors = sum(r["errors"] for v in results.values() for r in v)
    ratio = mean["inside"] / mean["outside"]
    print(f"mean: outside {mean['outside']:.1f} req/s, inside {mean['inside']:.1f} req/s through the published port: "
          f"{ratio:.3f}x, errors {errors}")
    ok = errors == 0 and ratio >= 0.9
    print(f"{'OK  ' if ok else 'FAIL'} the container costs under 10 % and loses no request")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
