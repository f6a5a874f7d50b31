#!/usr/bin/env python3
"""`make fuzz`: runs the hostile corpus of make_corpus.py through the release CLI and server.

    python3 tools/fuzz/run_fuzz.py [--cli] [--server] [--corpus DIR] [--limit N] [--only CLASS]

CLI: `smartcrop crop FILE --size 256x256 -o OUT.webp --json` on every file except the json
class, one at a time, with a timeout. Exit 0 is ok; exit 1 with exactly one stderr line
starting `smartcrop: ` is a clean error; a signal, another exit status, or a longer or garbled
stderr is a crash; the timeout is a hang. Peak RSS is the child's ru_maxrss (os.wait4).

Server: the release `smartcrop-server` on a free loopback port, POST /v1/transform (multipart)
with a fixed pipeline for every file of the small classes and every 3rd file of truncated and
bitflip, and every json operation list with a valid photo. No answer within deadline + 30 s is
a hang (the server is then restarted); a refused or dropped connection or a dead server is a
crash (restarted too); 5xx other than 503/504 is "500"; 2xx ok; 4xx, 503, 504 a clean error.
Error bodies must be {"error": {"code", "message"}}. The server's peak RSS per request is
VmHWM after resetting it (5 > /proc/PID/clear_refs) before the request.

Both: a clean error whose message holds libvips internals (Vips, vips_, tiff2vips,
copy_memory, unknown libvips error, and the prefixes of libvips' and the codecs' own messages:
see fuzzlib.LEAK_PATTERNS) or is over 300 characters is counted as leaky too.
The files of class `base` are valid images (a control): each must give ok.

Prints a table per class and the offending files, writes every result to --results, and exits
1 if there was any crash, hang, 500, leaky message, peak RSS >= 1 GiB, or a control failure.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fuzzlib  # noqa: E402

CLASS_ORDER = ["base", "truncated", "bitflip", "huge-header", "bomb", "wrong-magic", "svg", "empty", "json"]
SAMPLED_CLASSES = {"truncated": 3, "bitflip": 3}  # the server gets every Nth file of these
RSS_LIMIT_MIB = 1024
OUTCOMES = ["ok", "clean", "crash", "hang", "500"]


def spread(items, limit):
    """At most `limit` items, evenly spread over the list (not just its head)."""
    if not limit or len(items) <= limit:
        return items
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)] if limit > 1 else items[:1]


def run_cli(binary, path, scratch, timeout):
    """One CLI run; returns a result dict."""
    out = os.path.join(scratch, "OUT.webp")
    stdout_path, stderr_path = os.path.join(scratch, "stdout"), os.path.join(scratch, "stderr")
    for p in (out, stdout_path, stderr_path):
        if os.path.exists(p):
            os.remove(p)
    cmd = [binary, "crop", path, "--size", "256x256", "-o", out, "--json"]
    start = time.monotonic()
    with open(stdout_path, "wb") as fo, open(stderr_path, "wb") as fe:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, cwd=scratch, start_new_session=True)
    hang = False
    pause = 0.002
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > timeout:
            hang = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(pause)
        pause = min(pause * 1.5, 0.05)
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    seconds = time.monotonic() - start
    with open(stderr_path, "rb") as f:
        err = f.read()
    result = {"status": code, "rss_mib": usage.ru_maxrss / 1024, "seconds": seconds, "leaky": None, "detail": ""}
    if hang:
        result.update(outcome="hang", detail=f"no exit in {timeout:.0f} s")
        return result
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        result.update(outcome="crash", detail=f"killed by {name}; stderr: {err[-300:].decode('utf-8', 'replace')!r}")
        return result
    if code == 0:
        if not os.path.exists(out):
            result.update(outcome="crash", detail="exit 0 but no output file")
        else:
            result["outcome"] = "ok"
        return result
    try:
        text = err.decode("utf-8")
    except UnicodeDecodeError:
        result.update(outcome="crash", detail=f"exit {code}, stderr not UTF-8: {err[:200]!r}")
        return result
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    if code != 1:
        result.update(outcome="crash", detail=f"exit {code}; stderr: {text[-300:]!r}")
    elif len(lines) != 1 or not lines[0].startswith("smartcrop: "):
        shown = text[:300] + ("…" if len(text) > 300 else "")
        result.update(outcome="crash", detail=f"exit 1 with {len(lines)} stderr lines: {shown!r}")
    elif any(ord(c) < 32 and c != "\t" for c in lines[0]):
        result.update(outcome="crash", detail=f"garbled stderr: {lines[0][:300]!r}")
    else:
        message = lines[0][len("smartcrop: "):]
        result.update(outcome="clean", detail=message[:400], leaky=fuzzlib.leak_reason(message))
    return result


def cli_phase(args, classes, results):
    jobs = max(1, args.jobs)
    scratch_root = tempfile.mkdtemp(prefix="smartcrop-fuzz-cli-")
    scratches = [os.path.join(scratch_root, str(i)) for i in range(jobs)]
    for s in scratches:
        os.makedirs(s)
    try:
        for cls, files in classes.items():
            if cls == "json":
                continue
            print(f"cli    {cls:12} {len(files):5} files", end="", flush=True)
            start = time.time()
            free = list(scratches)

            def task(path):
                scratch = free.pop()
                try:
                    return path, run_cli(args.cli_bin, path, scratch, args.timeout)
                finally:
                    free.append(scratch)

            with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
                for path, r in pool.map(task, files):
                    r.update(cls=cls, target="cli", file=os.path.relpath(path, args.corpus))
                    results.append(r)
            print(f"  {time.time() - start:6.1f} s", flush=True)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)


def server_phase(args, classes, results):
    env = {}
    if args.deadline_given:
        env["SMARTCROP_DEADLINE_SECONDS"] = str(args.deadline)
    log_path = os.path.join(os.path.dirname(os.path.abspath(args.results)), "fuzz-server.log")
    if os.path.exists(log_path):
        os.remove(log_path)
    server = fuzzlib.Server(args.server_bin, log_path, env=env).start()
    timeout = args.deadline + 30
    photo_path = args.photo
    with open(photo_path, "rb") as f:
        photo = f.read()
    pipeline = json.dumps(fuzzlib.NORMAL_PIPELINE)
    restarts = []
    try:
        for cls, files in classes.items():
            if cls != "json" and cls in SAMPLED_CLASSES:
                files = files[::SAMPLED_CLASSES[cls]]
            print(f"server {cls:12} {len(files):5} requests", end="", flush=True)
            start = time.time()
            for path in files:
                with open(path, "rb") as f:
                    data = f.read()
                rss_before = fuzzlib.proc_kib(server.pid, "VmRSS") / 1024
                fuzzlib.reset_hwm(server.pid)
                if cls == "json":
                    r = fuzzlib.post_transform(server, os.path.basename(photo_path), photo, data, timeout)
                else:
                    r = fuzzlib.post_transform(server, os.path.basename(path), data, pipeline, timeout)
                r["rss_mib"] = fuzzlib.proc_kib(server.pid, "VmHWM") / 1024
                r["rss_before_mib"] = rss_before
                r.update(cls=cls, target="server", file=os.path.relpath(path, args.corpus))
                results.append(r)
                rss_after = fuzzlib.proc_kib(server.pid, "VmRSS") / 1024
                why = None
                if r["outcome"] in ("crash", "hang") or not server.alive():
                    why = f"{r['outcome']} on {r['file']}: {r['detail']}"
                    if not server.alive():
                        why += f" (server {server.exit_description()})"
                elif rss_after >= RSS_LIMIT_MIB:
                    # Memory kept after the answer would count against every later request.
                    time.sleep(2)
                    rss_after = fuzzlib.proc_kib(server.pid, "VmRSS") / 1024
                    if rss_after >= RSS_LIMIT_MIB:
                        why = f"RSS still {rss_after:.0f} MiB 2 s after answering {r['file']} (peak {r['rss_mib']:.0f} MiB)"
                if why:
                    restarts.append(why)
                    print(f"\n  restarting the server after {why}", end="", flush=True)
                    server.restart()
            print(f"  {time.time() - start:6.1f} s", flush=True)
    finally:
        code, seconds = server.stop()
        print(f"server stopped with SIGTERM: {code} after {seconds:.1f} s; log in {log_path}")
    return restarts


def table(classes, results, markdown=False):
    head = ["class", "files", "cli", "srv", "ok", "clean", "crash", "hang", "500", "leaky", "RSS cli MiB", "RSS srv MiB"]
    rows = []
    total = {h: 0 for h in head[1:10]}
    peak_cli = peak_srv = 0.0
    for cls, files in classes.items():
        rs = [r for r in results if r["cls"] == cls]
        cli = [r for r in rs if r["target"] == "cli"]
        srv = [r for r in rs if r["target"] == "server"]
        counts = {o: sum(1 for r in rs if r["outcome"] == o) for o in OUTCOMES}
        leaky = sum(1 for r in rs if r["leaky"])
        rc = max((r["rss_mib"] for r in cli), default=None)
        rsv = max((r["rss_mib"] for r in srv), default=None)
        row = [cls, len(files), len(cli), len(srv)] + [counts[o] for o in OUTCOMES] + [leaky]
        for k, v in zip(head[1:10], row[1:10]):
            total[k] += v
        row += [f"{rc:.0f}" if rc is not None else "-", f"{rsv:.0f}" if rsv is not None else "-"]
        peak_cli = max(peak_cli, rc or 0)
        peak_srv = max(peak_srv, rsv or 0)
        rows.append(row)
    rows.append(["TOTAL"] + [total[h] for h in head[1:10]] + [f"{peak_cli:.0f}", f"{peak_srv:.0f}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(("**TOTAL**" if str(c) == "TOTAL" else str(c)) for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda row: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows[:-1]]
                     + ["  ".join("-" * w for w in widths), fmt(rows[-1])])


def main():
    ap = argparse.ArgumentParser(description="Runs the fuzz corpus through the release CLI and server.")
    ap.add_argument("--cli", action="store_true", help="run the CLI part (default: both parts)")
    ap.add_argument("--server", action="store_true", help="run the server part (default: both parts)")
    ap.add_argument("--corpus", default=os.path.join(REPO, ".assets", "fuzz", "corpus"))
    ap.add_argument("--cli-bin", default=os.path.join(REPO, ".build", "release", "smartcrop"))
    ap.add_argument("--server-bin", default=os.path.join(REPO, ".build", "release", "smartcrop-server"))
    ap.add_argument("--limit", type=int, default=0, help="at most N files per class, spread over the class")
    ap.add_argument("--only", action="append", default=[], help="only these classes (repeat, or comma-separated)")
    ap.add_argument("--timeout", type=float, default=30, help="CLI timeout per file, seconds (default 30)")
    ap.add_argument("--deadline", type=float, default=None,
                    help="the server's deadline_seconds (default: the server's own, 30); requests time out at deadline + 30 s")
    ap.add_argument("--photo", help="the valid photo posted with the json class (default: corpus base/astronaut-jpeg.jpg)")
    ap.add_argument("--jobs", type=int, default=1, help="CLI runs at a time (default 1)")
    ap.add_argument("--results", default=None, help="JSON file of every result (default: next to the corpus, results.json)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown too")
    args = ap.parse_args()
    args.corpus = os.path.abspath(args.corpus)
    # The CLI runs in a scratch folder, so a relative binary path would not be found there.
    args.cli_bin, args.server_bin = os.path.abspath(args.cli_bin), os.path.abspath(args.server_bin)
    args.deadline_given = args.deadline is not None
    args.deadline = args.deadline if args.deadline is not None else 30.0
    args.results = args.results or os.path.join(os.path.dirname(args.corpus), "results.json")
    args.photo = args.photo or os.path.join(args.corpus, "base", "astronaut-jpeg.jpg")
    do_cli = args.cli or not args.server
    do_server = args.server or not args.cli

    if not os.path.exists(os.path.join(args.corpus, ".complete")):
        sys.exit(f"no complete corpus at {args.corpus}: run tools/fuzz/make_corpus.py --out {args.corpus}")
    for needed, binary in ((do_cli, args.cli_bin), (do_server, args.server_bin)):
        if needed and not os.access(binary, os.X_OK):
            sys.exit(f"{binary} is missing: build the release binaries first (make build)")
    only = {c for item in args.only for c in item.split(",") if c}
    present = [c for c in os.listdir(args.corpus) if os.path.isdir(os.path.join(args.corpus, c))]
    unknown = only - set(present)
    if unknown:
        sys.exit(f"unknown class {', '.join(sorted(unknown))}; the corpus has {', '.join(sorted(present))}")
    names = sorted(present, key=lambda c: (CLASS_ORDER.index(c) if c in CLASS_ORDER else 99, c))
    classes = {}
    for cls in names:
        if only and cls not in only:
            continue
        files = sorted(os.path.join(args.corpus, cls, f) for f in os.listdir(os.path.join(args.corpus, cls)))
        classes[cls] = spread(files, args.limit)

    print(f"corpus {args.corpus}" + (f", at most {args.limit} files per class" if args.limit else ""), flush=True)
    results = []
    restarts = []
    started = time.time()
    if do_cli:
        cli_phase(args, classes, results)
    if do_server:
        restarts = server_phase(args, classes, results)
    with open(args.results, "w") as f:
        json.dump(results, f, indent=1)

    print()
    print(table(classes, results))
    if args.markdown:
        print()
        print(table(classes, results, markdown=True))
    print(f"\n{len(results)} runs in {time.time() - started:.0f} s; every result in {args.results}")

    problems = {
        "crash": [r for r in results if r["outcome"] == "crash"],
        "hang": [r for r in results if r["outcome"] == "hang"],
        "500": [r for r in results if r["outcome"] == "500"],
        "leaky": [r for r in results if r["leaky"]],
        f"peak RSS >= {RSS_LIMIT_MIB} MiB": sorted((r for r in results if r["rss_mib"] >= RSS_LIMIT_MIB),
                                                   key=lambda r: r.get("rss_before_mib", 0) - r["rss_mib"]),
        "control (valid base file not ok)": [r for r in results if r["cls"] == "base" and r["outcome"] != "ok"],
    }
    failed = False
    for name, rs in problems.items():
        if not rs:
            continue
        failed = True
        print(f"\n{name}: {len(rs)}" + (" (first 20)" if len(rs) > 20 else ""))
        for r in rs[:20]:
            what = f"{r['leaky']}: {r['detail']}" if name == "leaky" else r["detail"]
            status = f"status {r['status']}" if r["target"] == "server" else f"exit {r['status']}"
            rss = f"{r['rss_mib']:.0f} MiB" + (f" from {r['rss_before_mib']:.0f}" if "rss_before_mib" in r else "")
            print(f"  {r['target']:6} {r['file']}  [{status}, {r['seconds']:.1f} s, {rss}]  {what[:300]}")
    if restarts:
        print(f"\nthe server was restarted {len(restarts)} times:")
        for why in restarts[:20]:
            print(f"  after {why}")
    if failed:
        print("\nreproduce: cd to the corpus, then")
        print(f"  CLI:    {args.cli_bin} crop FILE --size 256x256 -o /tmp/out.webp --json")
        print(f"  server: curl -s localhost:PORT/v1/transform -F file=@FILE -F 'operations={json.dumps(fuzzlib.NORMAL_PIPELINE)}'")
        print(f"          curl -s localhost:PORT/v1/transform -F file=@{os.path.relpath(args.photo, args.corpus)} -F 'operations=<json/FILE.json'")
        print("\nFAIL")
    else:
        print("\nOK: no crash, hang, 500, leaky message or peak RSS over 1 GiB")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
