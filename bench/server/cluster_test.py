#!/usr/bin/env python3
"""`make cluster-test`: three release replicas behind haproxy, one killed mid-run.

1. Serves the sample photos from a local origin (http.server on loopback, allowed by fetch_allow).
2. Starts 3 `smartcrop serve` replicas on loopback ports, sharing one download directory and one
   URL-signing key, and haproxy (deploy/haproxy/haproxy.cfg) in front, health-checking /readyz.
3. Shows a smart-crop tool upload through replica 1 downloaded through replica 2.
4. Runs wrk through haproxy for --seconds with a mix of signed GET URLs (several sizes of
   several sources) and POST /v1/transform requests. At a third of the run it kills replica 1
   with SIGKILL, and brings it back --down seconds later.
5. Prints requests/s, p50/p99, errors inside the kill window (from the kill to --window seconds
   after it) and outside it. Target: 0 errors outside the window. Exits 1 when it is missed.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KEY, SALT = "cluster-test-key", "cluster-test-salt"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_path(operations, source, ext):
    part = f"{b64(json.dumps(operations).encode())}/{b64(source.encode())}.{ext}"
    signature = b64(hmac.new(KEY.encode(), f"{SALT}/{part}".encode(), hashlib.sha256).digest())
    return f"/v1/img/{signature}/{part}"


def wait_ready(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.1)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="the smartcrop binary (smartcrop-server beside it)")
    ap.add_argument("--samples", required=True)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--down", type=float, default=5, help="seconds the killed replica stays down")
    ap.add_argument("--window", type=float, default=5, help="seconds after the kill that count as its window")
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="smartcrop-cluster-")
    processes = []
    try:
        # The origin: the sample photos over HTTP on loopback.
        photos = sorted(f for f in os.listdir(args.samples) if f.endswith((".png", ".jpg")))
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=args.samples, **k)
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=origin.serve_forever, daemon=True).start()
        origin_base = f"http://127.0.0.1:{origin.server_address[1]}"

        downloads = os.path.join(work, "downloads")
        env = dict(os.environ, SMARTCROP_DOWNLOAD_DIR=downloads, SMARTCROP_URL_SIGNING_KEY=KEY, SMARTCROP_URL_SIGNING_SALT=SALT,
                   SMARTCROP_FETCH_ALLOW="127.0.0.1", SMARTCROP_WORKERS="1", SMARTCROP_QUEUE_SIZE="16")
        ports = [free_port() for _ in range(3)]
        logs = [open(os.path.join(work, f"replica{i + 1}.log"), "w") for i in range(3)]

        def start(i):
            return subprocess.Popen([args.server, "serve", "--host", "127.0.0.1", "--port", str(ports[i])], env=env,
                                    stdout=logs[i], stderr=subprocess.STDOUT)

        replicas = [start(i) for i in range(3)]
        processes += replicas
        for port in ports:
            if not wait_ready(port):
                sys.exit(f"cluster-test: a replica on port {port} did not start (logs in {work})")

        lb_port = free_port()
        lb_env = dict(os.environ, SMARTCROP_LB_PORT=str(lb_port), SMARTCROP_REPLICA1_PORT=str(ports[0]),
                      SMARTCROP_REPLICA2_PORT=str(ports[1]), SMARTCROP_REPLICA3_PORT=str(ports[2]))
        haproxy = subprocess.Popen(["haproxy", "-f", os.path.join(ROOT, "deploy/haproxy/haproxy.cfg"), "-db"], env=lb_env,
                                   stdout=open(os.path.join(work, "haproxy.log"), "w"), stderr=subprocess.STDOUT)
        processes.append(haproxy)
        if not wait_ready(lb_port):
            sys.exit("cluster-test: haproxy did not start")

        # A tool upload through replica 1, downloaded through replica 2.
        boundary = "----cluster-test"
        photo = open(os.path.join(args.samples, "astronaut.png"), "rb").read()
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"astronaut.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + photo + (
                f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"settings\"\r\n\r\n"
                '{"mode": "auto", "width": 128, "height": 128}'
                f"\r\n--{boundary}--\r\n").encode()
        request = urllib.request.Request(f"http://127.0.0.1:{ports[0]}/api/v1/tools/smart-crop", data=body,
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        tool = json.load(urllib.request.urlopen(request, timeout=30))
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}{tool['downloadUrl']}", timeout=30) as r:
            downloaded = r.read()
        shared_ok = len(downloaded) == tool["processedSize"]
        print(f"tool upload through replica 1 (:{ports[0]}), download through replica 2 (:{ports[1]}): "
              f"{len(downloaded)} bytes, {'same as made' if shared_ok else 'DIFFERENT from ' + str(tool['processedSize'])}")

        # The request mix: signed GETs of several sizes of each photo, and POSTs.
        lines = []
        for name in photos:
            for side, ext in [(48, "webp"), (128, "webp"), (256, "jpg"), (400, "avif")]:
                operations = [{"type": "smart_crop", "width_in_px": side, "height_in_px": side}]
                lines.append("GET " + signed_path(operations, f"{origin_base}/{name}", ext))
        post_body = os.path.join(work, "post.json")
        with open(post_body, "w") as f:
            json.dump({"file": {"type": "url", "url": f"{origin_base}/{photos[0]}"},
                       "operations": [{"type": "smart_crop", "width_in_px": 200, "height_in_px": 100},
                                      {"type": "convert", "format": "jpeg"}]}, f)
        for _ in range(max(1, len(lines) // 4)):
            lines.append(f"POST /v1/transform {post_body}")
        requests_file = os.path.join(work, "requests.txt")
        with open(requests_file, "w") as f:
            f.write("\n".join(lines) + "\n")

        wrk_env = dict(os.environ, CLUSTER_REQUESTS=requests_file)
        started = time.time()
        wrk = subprocess.Popen(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "--timeout", "30s",
                                "-s", os.path.join(HERE, "mixed.lua"), f"http://127.0.0.1:{lb_port}"],
                               env=wrk_env, stdout=subprocess.PIPE, text=True)
        time.sleep(args.seconds / 3)
        killed_at = time.time()
        replicas[0].send_signal(signal.SIGKILL)
        replicas[0].wait()
        print(f"killed replica 1 with SIGKILL at {killed_at - started:.1f} s")
        time.sleep(args.down)
        replicas[0] = start(0)
        processes.append(replicas[0])
        back = wait_ready(ports[0])
        print(f"replica 1 back at {time.time() - started:.1f} s ({'ready' if back else 'NOT ready'})")
        out, _ = wrk.communicate()

        bad_inside = bad_outside = 0
        values = {}
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "BAD":
                second, count = int(parts[1]), int(parts[2])
                # os.time() has one-second resolution: the window is widened by a second each side.
                if killed_at - 1 <= second <= killed_at + args.window + 1:
                    bad_inside += count
                else:
                    bad_outside += count
            elif len(parts) == 2 and parts[0] in ("P50_MS", "P99_MS", "REQUESTS", "DURATION_S", "SOCKET_ERRORS"):
                values[parts[0]] = float(parts[1])
        rate = values.get("REQUESTS", 0) / max(values.get("DURATION_S", 1), 1e-9)
        print(f"through haproxy, 3 replicas, {args.connections} connections, {args.seconds} s, {len(lines)} distinct requests "
              f"({len(photos)} sources x 4 sizes of signed GETs, and POSTs):")
        print(f"  {values.get('REQUESTS', 0):.0f} requests, {rate:.1f} requests/s, p50 {values.get('P50_MS', 0):.1f} ms, "
              f"p99 {values.get('P99_MS', 0):.1f} ms")
        print(f"  errors in the kill window ({args.window:.0f} s from the kill): {bad_inside}; outside it: {bad_outside}; "
              f"socket errors: {values.get('SOCKET_ERRORS', 0):.0f}")
        ok = bad_outside == 0 and values.get("SOCKET_ERRORS", 0) == 0 and shared_ok and back
        print("cluster-test: " + ("passed (0 errors outside the kill window)" if ok else "FAILED"))
        sys.exit(0 if ok else 1)
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
