#!/usr/bin/env python3
"""`make soak-replay` (run first by `make soak`): the server's steady memory on real, varied files.

    python3 tools/soak/replay.py [--passes 6] [--workers 2] [--clients 4] [--compare] [--eval-dir DIR]

Replays a fixed list of real photos of many sizes and formats through /v1/transform, pass after
pass, against the release server with 2 workers, and samples its VmRSS. The inputs are the
annotated photos of ../shared/eval (about 570 files of 200-1024 px, when that folder is there;
SMARTCROP_EVAL_DIR or --eval-dir) and the sample photos written at 1-12 MP as JPEG, PNG, WebP,
AVIF, HEIC and TIFF (made once with vips, in .assets/soak/replay). Each file gets one of a few
ordinary pipelines (an avatar, a thumbnail, a social card; WebP, JPEG or AVIF) in a fixed order.

The RSS at the end of each pass is printed; "steady" is the median of the last three passes'
end values. With --compare the same replay runs twice, with glibc's default malloc arenas
(malloc_arena_max 0) and with the server's default, and prints both. Exits 1 if steady RSS with
the server's default is over --target-mib (286 MiB = 300 MB), or any answer was a 5xx.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fuzz"))
import fuzzlib  # noqa: E402

SAMPLE_NAMES = ["astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg"]
# (suffix, vips options, scale): from a 0.25 MP sample photo up to about 12 MP.
VARIANTS = [("jpg", "[Q=90,strip]", 1), ("jpg", "[Q=88,strip]", 4), ("jpg", "[Q=85,strip]", 7), ("png", "[strip]", 2),
            ("webp", "[Q=85,strip]", 3), ("avif", "[Q=50,strip]", 2), ("heic", "[Q=50,strip,compression=hevc]", 2),
            ("tif", "[compression=jpeg,strip]", 3)]
PIPELINES = [
    [{"type": "smart_crop", "width_in_px": 256, "height_in_px": 256}, {"type": "convert", "format": "webp"}],
    [{"type": "smart_crop", "width_in_px": 1200, "height_in_px": 630}, {"type": "convert", "format": "jpeg"}],
    [{"type": "smart_crop", "width_in_px": 48, "height_in_px": 48}, {"type": "convert", "format": "avif"}],
    [{"type": "smart_crop", "width_in_px": 400, "height_in_px": 500, "mode": "face"}, {"type": "convert", "format": "webp"}],
]


def generated_inputs(samples, folder):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name in SAMPLE_NAMES:
        src = os.path.join(samples, name)
        if not os.path.exists(src):
            sys.exit(f"missing sample photo {src} (run `make samples`)")
        stem = os.path.splitext(name)[0]
        for suffix, options, scale in VARIANTS:
            path = os.path.join(folder, f"{stem}-x{scale}.{suffix}")
            if not os.path.exists(path):
                tmp = path + ".tmp." + suffix
                subprocess.run(["vips", "resize", src, tmp + options, str(scale)], check=True, stderr=subprocess.PIPE)
                os.replace(tmp, path)
            paths.append(path)
    return paths


def eval_inputs(eval_dir):
    if not eval_dir or not os.path.isdir(eval_dir):
        return []
    found = []
    for root, _, files in os.walk(eval_dir):
        for f in files:
            if f.lower().endswith((".jpg", ".jpeg", ".png")) and "mask" not in root.lower():
                found.append(os.path.join(root, f))
    return sorted(found)


def replay(args, inputs, env, label):
    log_path = os.path.join(args.work, f"replay-{label}.log")
    if os.path.exists(log_path):
        os.remove(log_path)
    server = fuzzlib.Server(args.server_bin, log_path, env=dict(env, SMARTCROP_WORKERS=str(args.workers),
                                                                 SMARTCROP_QUEUE_SIZE="256")).start()
    samples = []
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            samples.append(fuzzlib.proc_kib(server.pid, "VmRSS"))
            stop.wait(0.5)

    threading.Thread(target=sampler, daemon=True).start()
    statuses, fives, lock = {}, [], threading.Lock()
    ends, peaks, seconds = [], [], []
    for p in range(args.passes):
        queue = list(enumerate(inputs))
        start, first_sample = time.time(), len(samples)

        def client():
            while True:
                with lock:
                    if not queue:
                        return
                    index, (name, data) = queue.pop(0)
                ops = PIPELINES[index % len(PIPELINES)]
                body, ct = fuzzlib.multipart({"operations": json.dumps(ops)}, {"file": (name, data)})
                r = fuzzlib.post(server, "/v1/transform", body, ct, 120)
                status = r["status"] if r["status"] is not None else r["outcome"]
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if not isinstance(status, int) or (status >= 500 and status not in (503, 504)):
                        fives.append((name, status, r["detail"][:200]))

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1)  # what the last job freed is returned or kept by now
        end = fuzzlib.proc_kib(server.pid, "VmRSS") / 1024
        ends.append(end)
        peaks.append(max(samples[first_sample:] + [end * 1024]) / 1024)
        seconds.append(time.time() - start)
        print(f"  {label}: pass {p + 1}: {len(inputs)} files in {seconds[-1]:.0f} s, RSS at the end {end:.0f} MiB, "
              f"highest {peaks[-1]:.0f} MiB", flush=True)
    stop.set()
    peak = fuzzlib.proc_kib(server.pid, "VmHWM") / 1024
    server.stop()
    steady = statistics.median(ends[-3:])
    return {"label": label, "steady": steady, "peak": peak, "ends": ends, "seconds": seconds, "statuses": statuses,
            "fives": fives}


def main():
    ap = argparse.ArgumentParser(description="Replays real, varied files through the server and reports its steady RSS.")
    ap.add_argument("--server-bin", default=os.path.join(REPO, ".build", "release", "smartcrop-server"))
    ap.add_argument("--samples", default=os.path.join(REPO, ".assets", "samples"))
    ap.add_argument("--eval-dir", default=os.environ.get("SMARTCROP_EVAL_DIR", os.path.join(REPO, "..", "shared", "eval")))
    ap.add_argument("--work", default=os.path.join(REPO, ".assets", "soak"))
    ap.add_argument("--passes", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--compare", action="store_true", help="also run with glibc's default arenas (malloc_arena_max 0)")
    ap.add_argument("--target-mib", type=float, default=300e6 / 2**20)
    args = ap.parse_args()
    if args.passes < 3:
        sys.exit("--passes must be at least 3 (steady is the median of the last three)")
    if not os.access(args.server_bin, os.X_OK):
        sys.exit(f"{args.server_bin} is missing: build the release binaries first (make build)")
    args.work = os.path.abspath(args.work)
    paths = eval_inputs(args.eval_dir) + generated_inputs(args.samples, os.path.join(args.work, "replay"))
    inputs = []
    for path in paths:
        with open(path, "rb") as f:
            inputs.append((os.path.basename(path), f.read()))
    sizes = sorted(len(d) for _, d in inputs)
    print(f"replay: {len(inputs)} files ({len(paths) - len(VARIANTS) * len(SAMPLE_NAMES)} from {args.eval_dir}, "
          f"{len(VARIANTS) * len(SAMPLE_NAMES)} made from the samples), {sizes[0] // 1024}-{sizes[-1] // 1024} KiB; "
          f"{args.passes} passes, {args.workers} workers, {args.clients} clients", flush=True)
    # glibc's own variable would override what is measured.
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    os.environ.pop("MALLOC_ARENA_MAX", None)
    os.environ.pop("GLIBC_TUNABLES", None)
    runs = []
    if args.compare:
        runs.append(replay(args, inputs, {"SMARTCROP_MALLOC_ARENA_MAX": "0"}, "glibc default arenas"))
    runs.append(replay(args, inputs, {}, "server default"))
    print()
    print("== replay summary (RSS in MiB)")
    for run in runs:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(run["statuses"].items(), key=lambda kv: str(kv[0])))
        print(f"{run['label']:<22} steady {run['steady']:.0f} MiB ({run['steady'] * 2**20 / 1e6:.0f} MB), peak {run['peak']:.0f}, "
              f"per pass {' '.join(f'{e:.0f}' for e in run['ends'])}; {statistics.mean(run['seconds']):.0f} s a pass; {codes}")
    ours = runs[-1]
    ok = ours["steady"] <= args.target_mib and not ours["fives"] and all(not r["fives"] for r in runs)
    for run in runs:
        for name, status, detail in run["fives"][:10]:
            print(f"  {run['label']}: {name}: {status} {detail}")
    print(f"{'OK  ' if ours['steady'] <= args.target_mib else 'FAIL'} steady RSS with the server's default "
          f"{ours['steady']:.0f} MiB (target <= {args.target_mib:.0f} MiB = 300 MB)")
    print(f"{'OK  ' if not any(r['fives'] for r in runs) else 'FAIL'} no 5xx or dropped answers")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
