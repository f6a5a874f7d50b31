#!/usr/bin/env python3
"""`make soak`: mixed normal and hostile requests against the release server on loopback.

    python3 tools/soak/soak.py [--seconds 600] [--warmup 60] [--clients 4] [--hostile 0.2]

1. Starts `smartcrop-server` on a free loopback port (default settings; downloads in a temp dir).
2. For --seconds, --clients threads send requests one after another: mostly normal ones (the
   sample photos as JPEG, PNG and WebP, some at twice their size, through smart_crop to 48x48,
   256x256 or 1200x630 WebP/JPEG/AVIF on /v1/transform as multipart or base64 JSON,
   /v1/transform/variants, /v1/detect, and the smart-crop tool with its download), and a share
   (--hostile, 20 %) drawn from the fuzz corpus: its image files with a normal pipeline, and its
   json operation lists with a valid photo.
   Meanwhile one client disconnects mid-request (mid-body, or before reading the answer of a
   costly request) every couple of seconds, and --slow connections at a time trickle their
   headers or body a few bytes a second.
3. Samples the server's VmRSS every 5 s.
4. When the load stops, measures how long /readyz takes to answer 200, waits for the clients,
   and stops the server with SIGTERM.
Reports RSS after the warm-up and at the end (the median of the samples of a window at each
end), growth and peak; counts per status; p50/p99 latency of the normal requests; the /readyz
recovery; and exits 1 if RSS grew 10 % or more after the warm-up, any answer was a 5xx other
than 503/504, the server died, or /readyz took more than 5 s.
"""
import argparse
import base64
import collections
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fuzz"))
import fuzzlib  # noqa: E402

SIZES = [(48, 48), (256, 256), (1200, 630)]
FORMATS = ["webp", "jpeg", "avif"]
SAMPLE_NAMES = ["astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg"]


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def median(values):
    return percentile(values, 50)


def prepare_inputs(samples, folder):
    """The sample photos as JPEG, PNG and WebP, and as JPEG at twice their size (cached)."""
    os.makedirs(folder, exist_ok=True)
    inputs = []
    for name in SAMPLE_NAMES:
        src = os.path.join(samples, name)
        if not os.path.exists(src):
            sys.exit(f"missing sample photo {src} (run `make samples`)")
        stem = os.path.splitext(name)[0]
        targets = [(f"{stem}.jpg", ["copy", src, "{}[Q=90,strip]"]), (f"{stem}.png", ["copy", src, "{}[strip]"]),
                   (f"{stem}.webp", ["copy", src, "{}[Q=85,strip]"]), (f"{stem}-2x.jpg", ["resize", src, "{}[Q=90,strip]", "2"])]
        for out, cmd in targets:
            path = os.path.join(folder, out)
            if not os.path.exists(path):
                subprocess.run(["vips"] + [c.format(path + ".tmp." + out.rsplit(".", 1)[1]) if "{}" in c else c for c in cmd],
                               check=True, stderr=subprocess.PIPE)
                os.replace(path + ".tmp." + out.rsplit(".", 1)[1], path)
            with open(path, "rb") as f:
                inputs.append((out, f.read()))
    return inputs


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.status = collections.defaultdict(collections.Counter)  # category -> Counter(status)
        self.latency = collections.defaultdict(list)  # normal kind -> seconds
        self.bad = []  # (category, kind, what, status, detail)
        self.leaky = []  # (category, kind, what, reason)

    def add(self, category, kind, status, seconds=None, what="", detail=""):
        with self.lock:
            self.status[category][status] += 1
            if seconds is not None and category == "normal":
                self.latency[kind].append(seconds)
            if isinstance(status, int) and status >= 500 and status not in (503, 504) or status in ("conn-error", "timeout"):
                if category in ("normal", "hostile"):
                    self.bad.append((category, kind, what, status, detail))


class Soak:
    def __init__(self, args, server, inputs, corpus_files, json_files):
        self.args, self.server, self.inputs = args, server, inputs
        self.corpus_files, self.json_files = corpus_files, json_files
        self.stats = Stats()
        self.stop = threading.Event()
        self.timeout = args.deadline + 30
        self.server_lock = threading.Lock()
        self.deaths = []

    # -- requests --------------------------------------------------------------------------

    def send(self, category, kind, path, body, content_type, what):
        r = fuzzlib.post(self.server, path, body, content_type, self.timeout)
        status = r["status"] if r["status"] is not None else ("timeout" if r["outcome"] == "hang" else "conn-error")
        self.stats.add(category, kind, status, r["seconds"], what, r["detail"])
        if r["leaky"]:
            with self.stats.lock:
                self.stats.leaky.append((category, kind, what, r["leaky"] + ": " + r["detail"][:200]))
        self.check_server()
        return r, status

    def check_server(self):
        if self.server.alive():
            return
        with self.server_lock:
            if not self.server.alive():
                self.deaths.append((time.time(), self.server.exit_description()))
                print(f"\n!! the server died ({self.server.exit_description()}); restarting", flush=True)
                self.server.start()

    def normal(self, r):
        name, data = r.choice(self.inputs)
        w, h = r.choice(SIZES)
        fmt = r.choice(FORMATS)
        ops = [{"type": "smart_crop", "width_in_px": w, "height_in_px": h}, {"type": "convert", "format": fmt}]
        what = f"{name} -> {w}x{h} {fmt}"
        roll = r.random()
        if roll < 0.35:
            body, ct = fuzzlib.multipart({"operations": json.dumps(ops)}, {"file": (name, data)})
            self.send("normal", "transform", "/v1/transform", body, ct, what)
        elif roll < 0.5:
            body = json.dumps({"file": {"type": "base64", "name": name, "base64": base64.b64encode(data).decode()},
                               "operations": ops}).encode()
            self.send("normal", "transform-json", "/v1/transform", body, "application/json", what)
        elif roll < 0.65:
            variants = [{"name": "avatar", "operations": [{"type": "smart_crop", "width_in_px": 48}, {"type": "convert", "format": "webp"}]},
                        {"name": "thumb", "operations": [{"type": "smart_crop", "width_in_px": 256}, {"type": "convert", "format": "jpeg"}]},
                        {"name": "card", "operations": [{"type": "smart_crop", "width_in_px": 1200, "height_in_px": 630},
                                                         {"type": "convert", "format": r.choice(FORMATS)}]}]
            body, ct = fuzzlib.multipart({"variants": json.dumps(variants)}, {"file": (name, data)})
            self.send("normal", "variants", "/v1/transform/variants", body, ct, f"{name} variants")
        elif roll < 0.8:
            body, ct = fuzzlib.multipart({"settings": json.dumps({"sensitivity": r.choice([0.3, 0.5, 0.8])})}, {"file": (name, data)})
            self.send("normal", "detect", "/v1/detect", body, ct, f"{name} detect")
        else:
            self.tool_request(r)

    def tool_request(self, r):
        """The smart-crop tool, then GET its downloadUrl."""
        name, data = r.choice(self.inputs)
        w, h = r.choice(SIZES)
        settings = {"mode": r.choice(["auto", "face", "subject", "center"]), "width": w, "height": h}
        body, ct = fuzzlib.multipart({"settings": json.dumps(settings)}, {"file": (name, data)})
        start = time.time()
        try:
            status, _, data = self.server.request("POST", "/api/v1/tools/smart-crop", body, {"Content-Type": ct}, self.timeout)
        except socket.timeout:
            self.stats.add("normal", "tool", "timeout", time.time() - start, name)
            return
        except (OSError, http.client.HTTPException) as e:
            self.stats.add("normal", "tool", "conn-error", time.time() - start, name, repr(e))
            self.check_server()
            return
        self.stats.add("normal", "tool", status, time.time() - start, f"{name} tool {settings}",
                       data[:200].decode("utf-8", "replace"))
        reason = fuzzlib.check_error_body(status, data) if status >= 400 else None
        if reason:
            with self.stats.lock:
                self.stats.leaky.append(("normal", "tool", name, reason))
        if status != 200:
            return
        try:
            url = json.loads(data)["downloadUrl"]
        except (ValueError, KeyError):
            self.stats.add("normal", "download", "no-downloadUrl", None, name)
            return
        start = time.time()
        try:
            status, _, _ = self.server.request("GET", url, None, {}, self.timeout)
        except socket.timeout:
            status = "timeout"
        except (OSError, http.client.HTTPException):
            status = "conn-error"
        self.stats.add("normal", "download", status, time.time() - start, url)

    def hostile(self, r):
        if self.json_files and r.random() < 1 / 3:
            path = r.choice(self.json_files)
            with open(path, "rb") as f:
                ops = f.read()
            name, data = r.choice(self.inputs[:3])
            body, ct = fuzzlib.multipart({"operations": ops}, {"file": (name, data)})
            self.send("hostile", "json", "/v1/transform", body, ct, os.path.relpath(path, self.args.corpus))
        else:
            path = r.choice(self.corpus_files)
            with open(path, "rb") as f:
                data = f.read()
            body, ct = fuzzlib.multipart({"operations": json.dumps(fuzzlib.NORMAL_PIPELINE)}, {"file": (os.path.basename(path), data)})
            self.send("hostile", "file", "/v1/transform", body, ct, os.path.relpath(path, self.args.corpus))

    def client(self, index):
        r = random.Random(f"soak-client-{self.args.seed}-{index}")
        while not self.stop.is_set():
            if r.random() < self.args.hostile:
                self.hostile(r)
            else:
                self.normal(r)

    # -- clients that misbehave ------------------------------------------------------------

    def raw_connect(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def disconnecter(self):
        r = random.Random(f"soak-disconnect-{self.args.seed}")
        big = max(self.inputs, key=lambda x: len(x[1]))
        while not self.stop.wait(self.args.disconnect_every):
            kind = r.choices(["mid-body", "mid-headers", "before-answer"], weights=[45, 35, 20])[0]
            try:
                s = self.raw_connect()
                if kind == "mid-body":
                    body, ct = fuzzlib.multipart({"operations": json.dumps(fuzzlib.NORMAL_PIPELINE)}, {"file": big})
                    head = (f"POST /v1/transform HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ct}\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n").encode()
                    s.sendall(head + body[:len(body) // 3])
                elif kind == "before-answer":
                    # A costly request, complete; the client leaves before the answer: its job should stop.
                    ops = [{"type": "resize", "width_in_px": 4096, "height_in_px": 4096, "without_enlargement": False},
                           {"type": "blur", "sigma": 50}, {"type": "convert", "format": "png"}]
                    body, ct = fuzzlib.multipart({"operations": json.dumps(ops)}, {"file": big})
                    head = (f"POST /v1/transform HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ct}\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n").encode()
                    s.sendall(head + body)
                    time.sleep(0.3)
                else:
                    s.sendall(b"POST /v1/transform HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
                s.close()
                self.stats.add("disconnect", kind, "sent")
            except OSError as e:
                self.stats.add("disconnect", kind, "conn-error", detail=repr(e))
            self.check_server()

    def slow_client(self, index):
        """Sends its request a few bytes a second; records how it ended."""
        r = random.Random(f"soak-slow-{self.args.seed}-{index}")
        while not self.stop.is_set():
            kind = "slow-body" if r.random() < 0.5 else "slow-headers"
            name, data = r.choice(self.inputs)
            body, ct = fuzzlib.multipart({"operations": json.dumps(fuzzlib.NORMAL_PIPELINE)}, {"file": (name, data)})
            head = (f"POST /v1/transform HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ct}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            start = time.time()
            try:
                s = self.raw_connect()
            except OSError:
                self.stats.add("slow", kind, "conn-error")
                time.sleep(1)
                continue
            outcome = "still open at the end"
            try:
                if kind == "slow-body":
                    s.sendall(head)
                    payload, step = body, 512
                else:
                    payload, step = head + body, 8
                s.settimeout(1.0)
                for i in range(0, len(payload), step):
                    if self.stop.is_set():
                        break
                    s.sendall(payload[i:i + step])
                    try:  # has the server answered or closed?
                        got = s.recv(4096)
                        if not got:
                            outcome = "closed by the server"
                            break
                        status = got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/") else "?"
                        outcome = f"answered {status}"
                        break
                    except socket.timeout:
                        pass
                else:
                    outcome = "sent in full"
            except OSError:
                outcome = "closed by the server"
            finally:
                s.close()
            self.stats.add("slow", kind, outcome, detail=f"{time.time() - start:.0f} s")
            with self.stats.lock:
                self.stats.latency[f"slow:{kind}:{outcome}"].append(time.time() - start)


def main():
    ap = argparse.ArgumentParser(description="Soak test: mixed normal and hostile requests against the release server.")
    ap.add_argument("--server-bin", default=os.path.join(REPO, ".build", "release", "smartcrop-server"))
    ap.add_argument("--corpus", default=os.path.join(REPO, ".assets", "fuzz", "corpus"))
    ap.add_argument("--samples", default=os.path.join(REPO, ".assets", "samples"))
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--hostile", type=float, default=0.2, help="share of hostile requests (default 0.2)")
    ap.add_argument("--slow", type=int, default=2, help="slow connections at a time (default 2)")
    ap.add_argument("--disconnect-every", type=float, default=2.0, help="seconds between disconnecting requests (default 2)")
    ap.add_argument("--sample-every", type=float, default=5.0, help="RSS sampling period, seconds (default 5)")
    ap.add_argument("--deadline", type=float, default=None, help="the server's deadline_seconds (default: its own, 30)")
    ap.add_argument("--max-growth", type=float, default=10.0, help="RSS growth target after the warm-up, %% (default 10)")
    ap.add_argument("--readyz-within", type=float, default=5.0, help="/readyz must answer 200 within this after the load (default 5 s)")
    ap.add_argument("--seed", default="1")
    args = ap.parse_args()
    args.corpus = os.path.abspath(args.corpus)
    env = {}
    if args.deadline is not None:
        env["SMARTCROP_DEADLINE_SECONDS"] = str(args.deadline)
    args.deadline = args.deadline or 30.0
    if args.warmup >= args.seconds:
        sys.exit("--warmup must be shorter than --seconds")
    if not os.access(args.server_bin, os.X_OK):
        sys.exit(f"{args.server_bin} is missing: build the release binaries first (make build)")

    if not os.path.exists(os.path.join(args.corpus, ".complete")):
        print(f"no fuzz corpus at {args.corpus}: generating it", flush=True)
        subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE), "fuzz", "make_corpus.py"), "--out", args.corpus,
                        "--samples", args.samples], check=True)
    corpus_files, json_files = [], []
    for cls in sorted(os.listdir(args.corpus)):
        folder = os.path.join(args.corpus, cls)
        if not os.path.isdir(folder) or cls == "base":
            continue
        files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
        (json_files if cls == "json" else corpus_files).extend(files)
    work = os.path.join(os.path.dirname(args.corpus), "..", "soak")
    work = os.path.abspath(work)
    inputs = prepare_inputs(args.samples, os.path.join(work, "inputs"))

    log_path = os.path.join(work, "soak-server.log")
    if os.path.exists(log_path):
        os.remove(log_path)
    server = fuzzlib.Server(args.server_bin, log_path, env=env).start()
    print(f"soak: {args.seconds:.0f} s (warm-up {args.warmup:.0f} s) against {args.server_bin} on port {server.port}; "
          f"{args.clients} clients, {args.hostile:.0%} hostile, a disconnect every {args.disconnect_every:g} s, "
          f"{args.slow} slow connections; server log {log_path}", flush=True)

    soak = Soak(args, server, inputs, corpus_files, json_files)
    samples = []  # (t, rss KiB)
    t0 = time.time()

    def sampler():
        while not soak.stop.is_set():
            samples.append((time.time() - t0, fuzzlib.proc_kib(server.pid, "VmRSS")))
            soak.stop.wait(args.sample_every)

    threads = [threading.Thread(target=sampler, daemon=True)]
    threads += [threading.Thread(target=soak.client, args=(i,), daemon=True) for i in range(args.clients)]
    threads += [threading.Thread(target=soak.disconnecter, daemon=True)]
    threads += [threading.Thread(target=soak.slow_client, args=(i,), daemon=True) for i in range(args.slow)]
    for t in threads:
        t.start()
    next_report = 60
    while time.time() - t0 < args.seconds:
        time.sleep(1)
        if time.time() - t0 >= next_report:
            n = sum(soak.stats.status["normal"].values())
            h = sum(soak.stats.status["hostile"].values())
            print(f"  {next_report:4.0f} s: {n} normal, {h} hostile, RSS {fuzzlib.proc_kib(server.pid, 'VmRSS') / 1024:.0f} MiB",
                  flush=True)
            next_report += 60
    end_rss = fuzzlib.proc_kib(server.pid, "VmRSS")
    samples.append((time.time() - t0, end_rss))
    soak.stop.set()
    load_end = time.time()

    # How long until /readyz answers 200 once the load stops.
    readyz = None
    while time.time() - load_end < 60:
        try:
            status, _, _ = server.request("GET", "/readyz", None, {}, timeout=2)
            if status == 200:
                readyz = time.time() - load_end
                break
        except OSError:
            pass
        time.sleep(0.1)
    for t in threads[1:]:
        t.join(timeout=args.deadline + 40)
    stuck = sum(1 for t in threads[1:] if t.is_alive())
    time.sleep(3)
    idle_rss = fuzzlib.proc_kib(server.pid, "VmRSS")
    peak = max([fuzzlib.proc_kib(server.pid, "VmHWM")] + [s[1] for s in samples])
    exit_code, exit_seconds = server.stop()

    # RSS: the median of the samples in a window just after the warm-up, and in one at the end.
    window = min(30.0, (args.seconds - args.warmup) / 3)
    start_window = [kib for t, kib in samples if args.warmup <= t < args.warmup + window]
    end_window = [kib for t, kib in samples if args.seconds - window <= t]
    rss_start = median(start_window) / 1024 if start_window else float("nan")
    rss_end = median(end_window) / 1024 if end_window else float("nan")
    growth = (rss_end - rss_start) / rss_start * 100

    st = soak.stats
    duration = load_end - t0
    print()
    print(f"== soak summary: {duration:.0f} s, warm-up {args.warmup:.0f} s, {args.clients} clients, {args.hostile:.0%} hostile")
    codes = sorted({c for cat in st.status.values() for c in cat}, key=lambda c: (isinstance(c, str), str(c)))
    cats = [c for c in ("normal", "hostile", "disconnect", "slow") if c in st.status]
    print("answers".ljust(26) + "".join(f"{c:>11}" for c in cats))
    for code in codes:
        print(f"  {str(code)[:24]:<24}" + "".join(f"{st.status[c].get(code, 0):>11}" for c in cats))
    print("  total".ljust(26) + "".join(f"{sum(st.status[c].values()):>11}" for c in cats))
    normal_lat = [s for k, v in st.latency.items() if not k.startswith("slow:") for s in v]
    print(f"normal requests: {len(normal_lat) / duration:.1f}/s, latency p50 {percentile(normal_lat, 50) * 1000:.0f} ms, "
          f"p99 {percentile(normal_lat, 99) * 1000:.0f} ms")
    for kind in sorted(k for k in st.latency if not k.startswith("slow:")):
        v = st.latency[kind]
        print(f"  {kind:<15} {len(v):6}  p50 {percentile(v, 50) * 1000:7.0f} ms  p99 {percentile(v, 99) * 1000:7.0f} ms")
    slow = {k[5:]: v for k, v in st.latency.items() if k.startswith("slow:")}
    if slow:
        print("slow connections (how they ended, median seconds):")
        for k in sorted(slow):
            print(f"  {k:<40} {len(slow[k]):4}  {median(slow[k]):6.1f} s")
    print("RSS (MiB), every minute: " + ", ".join(f"{t:.0f}s {kib / 1024:.0f}" for t, kib in samples
                                                   if int(t) % 60 < args.sample_every or t == samples[-1][0]))
    print(f"RSS: start {rss_start:.0f} MiB (median {args.warmup:.0f}-{args.warmup + window:.0f} s), "
          f"end {rss_end:.0f} MiB (median of the last {window:.0f} s), growth {growth:+.1f} %, peak {peak / 1024:.0f} MiB, "
          f"idle after the load {idle_rss / 1024:.0f} MiB")
    print(f"/readyz after the load stopped: " + (f"200 after {readyz:.1f} s" if readyz is not None else "no 200 within 60 s"))
    print(f"clients still waiting {args.deadline + 40:.0f} s after the stop: {stuck}")
    print(f"SIGTERM: {exit_code} after {exit_seconds:.1f} s")

    fives = [b for b in st.bad if isinstance(b[3], int)]
    conn = [b for b in st.bad if not isinstance(b[3], int)]
    leaky = len(st.leaky)
    checks = [
        ("RSS growth after warm-up", growth < args.max_growth, f"{growth:+.1f} % (target < {args.max_growth:g} %)"),
        ("no 500s", not fives, f"{len(fives)} answers 5xx other than 503/504"),
        ("/readyz recovers", readyz is not None and readyz <= args.readyz_within,
         f"{readyz:.1f} s" if readyz is not None else "never" + f" (target <= {args.readyz_within:g} s)"),
        ("server alive", not soak.deaths, f"{len(soak.deaths)} deaths" + (f": {soak.deaths[0][1]}" if soak.deaths else "")),
        ("no timeouts or dropped connections", not conn, f"{len(conn)}"),
        ("no leaky error messages", not leaky, f"{leaky}"),
    ]
    print()
    for name, ok, text in checks:
        print(f"{'OK  ' if ok else 'FAIL'} {name}: {text}")
    for b in (fives + conn)[:20]:
        print(f"  {b[0]} {b[1]} {b[2]}: {b[3]} {b[4][:200]}")
    for b in st.leaky[:10]:
        print(f"  leaky: {b[0]} {b[1]} {b[2]}: {b[3]}")
    sys.exit(0 if all(ok for _, ok, _ in checks) else 1)


if __name__ == "__main__":
    main()
