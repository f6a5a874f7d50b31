#!/usr/bin/env python3
"""`make image-test`: the image run the way deploy/kubernetes runs it, checked from outside.

The server container gets what the Deployment gives its pod: the ConfigMap's settings, the
Secret's names (filled with test values), one worker per CPU of the limit, the CPU and memory
limits, a read-only root, emptyDir volumes as tmpfs, the shared download claim as a folder, no
capabilities, the image's own non-root user, and its port published on loopback. Then:

1. the image: non-root numeric user, exposed port, health check, models, trust store;
2. time from `run` to /readyz answering 200;
3. a face photo POSTed to /v1/transform comes back as a 256x256 WebP framed on the face;
4. a signed GET of a local:/// source, signed by the image's own `smartcrop sign`;
5. the CLI in the image on a mounted folder, in every input format we read;
6. the batch Job's command, shard by shard, and a resumed shard;
7. peak memory with every worker busy on 12 MP photos, against the Deployment's limits;
8. the preStop pause, SIGTERM with requests running and queued: each one answered, a clean exit
   within the drain timeout.
"""
import argparse
import base64
import json
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import yaml

CHECKS = []
FIGURES = []
TEST_UID_ROOT = os.geteuid() == 0


def check(name, ok, detail=""):
    CHECKS.append((name, bool(ok)))
    print(f"{'OK  ' if ok else 'FAIL'} {name}{': ' + str(detail) if detail not in ('', None) else ''}", flush=True)
    return ok


def figure(text):
    FIGURES.append(text)
    print(f"     {text}", flush=True)


class Engine:
    def __init__(self, command):
        self.command = command

    def run(self, *args, timeout=300, check=False, input=None):
        result = subprocess.run([self.command, *args], capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise RuntimeError(f"{self.command} {shlex.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    @property
    def is_podman(self):
        return os.path.basename(self.command) == "podman"


def http(method, url, body=None, headers=None, timeout=120):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def image_size(data, folder):
    """(width, height, format) of encoded bytes, as libvips reads them (vipsheader)."""
    path = os.path.join(folder, f"probe-{threading.get_ident()}-{time.monotonic_ns()}")
    with open(path, "wb") as f:
        f.write(data)
    out = subprocess.run(["vipsheader", "-a", path], capture_output=True, text=True)
    os.remove(path)
    fields = dict(re.findall(r"^([\w-]+): (.*)$", out.stdout, re.M))
    loader = fields.get("vips-loader", "")
    return int(fields.get("width", 0)), int(fields.get("height", 0)), loader.replace("load", "").replace("_source", "").replace("_buffer", "")


def cpu_count(quantity):
    text = str(quantity)
    return math.ceil(int(text[:-1]) / 1000) if text.endswith("m") else math.ceil(float(text))


def memory_bytes(quantity):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(quantity))
    return int(float(match.group(1)) * units.get(match.group(2), 1))


def kubernetes_expand(text, env):
    """$(VAR) as the kubelet expands it in a command: declared variables only, $$ escapes."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def owned_by_image_user(path, uid, gid):
    """A host folder the container's user can write, as a volume's fsGroup would make it."""
    os.makedirs(path, exist_ok=True)
    if TEST_UID_ROOT:
        for root, dirs, files in os.walk(path):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.chown(name, uid, gid)
    else:
        os.chmod(path, 0o777)
    return path


def load_manifests(folder):
    documents = {}
    for sub in (folder, os.path.join(folder, "batch")):
        for name in sorted(os.listdir(sub)):
            if name.endswith(".yaml") and name != "kustomization.yaml":
                with open(os.path.join(sub, name)) as f:
                    for document in yaml.safe_load_all(f):
                        if document:
                            documents[document["kind"]] = document
    return documents


def security_flags(pod_spec, container):
    own = container.get("securityContext", {})
    flags = []
    if own.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    if own.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    for capability in own.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", capability]
    limits = container.get("resources", {}).get("limits", {})
    if "cpu" in limits:
        flags += ["--cpus", str(cpu_count(limits["cpu"]))]
    if "memory" in limits:
        flags += ["--memory", str(memory_bytes(limits["memory"]))]
    return flags


def volume_flags(pod_spec, container, work, uid, gid):
    """emptyDir volumes as tmpfs, claims as host folders owned by the image's user."""
    flags, folders = [], {}
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit", "256Mi")
            flags += ["--tmpfs", f"{mount['mountPath']}:rw,size={memory_bytes(size)},mode=1777"]
        elif "persistentVolumeClaim" in volume:
            folder = owned_by_image_user(os.path.join(work, "claims", volume["persistentVolumeClaim"]["claimName"]), uid, gid)
            folders[mount["mountPath"]] = folder
            flags += ["-v", f"{folder}:{mount['mountPath']}"]
    return flags, folders


def container_env(container, manifests, fill):
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(manifests["ConfigMap"]["data"])
        if "secretRef" in source:
            env.update({k: fill[k] for k in manifests["Secret"]["stringData"]})
    limits = container.get("resources", {}).get("limits", {})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "resourceFieldRef" in item.get("valueFrom", {}):
            env[item["name"]] = str(cpu_count(limits["cpu"]))
    return env


def env_flags(env):
    return [flag for name, value in env.items() for flag in ("-e", f"{name}={value}")]


def rss_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def transform_body(photo, operations):
    return json.dumps({"file": {"type": "base64", "name": os.path.basename(photo), "base64": base64.b64encode(open(photo, "rb").read()).decode()},
                       "operations": operations}).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--big-jpeg", required=True, help="a 12 MP JPEG with a face, for the memory and shutdown checks")
    ap.add_argument("--manifests", required=True)
    args = ap.parse_args()
    engine = Engine(args.engine)
    manifests = load_manifests(args.manifests)
    deployment, job = manifests["Deployment"], manifests["Job"]
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "smartcrop")
    container_port = next(p["containerPort"] for p in container["ports"] if p.get("name") == "http")
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    workers = cpu_count(limits["cpu"])
    drain = float(manifests["ConfigMap"]["data"]["SMARTCROP_DRAIN_TIMEOUT_SECONDS"])
    astronaut = os.path.join(args.samples, "astronaut.png")
    work = tempfile.mkdtemp(prefix="smartcrop-image-test-")
    os.chmod(work, 0o755)
    name = f"smartcrop-image-test-{os.getpid()}"

    # 1. What the image says of itself.
    inspect = json.loads(engine.run("image", "inspect", args.image, check=True).stdout)[0]
    config = inspect.get("Config", {})
    image_env = dict(item.split("=", 1) for item in config.get("Env", []))
    user = config.get("User", "")
    uid, gid = (int(x) for x in (user.split(":") + [user])[:2]) if re.fullmatch(r"\d+(:\d+)?", user) else (0, 0)
    figure(f"image {args.image}: {inspect['Size'] / 1e6:.0f} MB ({args.engine})")
    check("the image runs as a numeric non-root user, the Deployment's runAsUser",
          uid != 0 and uid == pod["securityContext"]["runAsUser"] and gid == pod["securityContext"]["runAsGroup"], f"USER {user!r}")
    check("the image exposes the Deployment's container port", f"{container_port}/tcp" in config.get("ExposedPorts", {}), config.get("ExposedPorts"))
    healthcheck = config.get("Healthcheck") or inspect.get("Healthcheck") or {}  # docker: in Config; podman: beside it
    check("the image has a HEALTHCHECK", healthcheck.get("Test"), healthcheck.get("Test"))
    face_model, subject_model = image_env.get("SMARTCROP_FACE_MODEL", ""), image_env.get("SMARTCROP_SUBJECT_MODEL", "")
    figure(f"models in the image: face {face_model or 'none (embedded MTCNN)'}, subject {subject_model or 'none (heuristic map)'}")

    # 2. The server, as the Deployment runs it.
    fill = {"SMARTCROP_API_KEYS": "image-test-key", "SMARTCROP_URL_SIGNING_KEY": "image-test-signing-key",
            "SMARTCROP_URL_SIGNING_SALT": "image-test-salt"}
    env = container_env(container, manifests, fill)
    env["SMARTCROP_LOCAL_ROOT"] = "/images"
    images = os.path.join(work, "images")
    os.makedirs(os.path.join(images, "up"))
    shutil.copy(astronaut, os.path.join(images, "up", "astronaut.png"))
    volumes, claims = volume_flags(pod, container, work, uid, gid)
    auth = {"Authorization": f"Bearer {fill['SMARTCROP_API_KEYS']}"}
    engine.run("rm", "-f", name)
    started = time.monotonic()
    run = engine.run("run", "-d", "--name", name, *security_flags(pod, container), *volumes, "-v", f"{images}:/images:ro",
                     *env_flags(env), "-p", f"127.0.0.1::{container_port}", args.image)
    try:
        if not check("the server container starts (read-only root, limits, no capabilities)", run.returncode == 0,
                     run.stderr.strip() if run.returncode else ""):
            return
        published = engine.run("port", name, f"{container_port}/tcp", check=True).stdout.strip().splitlines()[0]
        base = "http://" + published.replace("0.0.0.0", "127.0.0.1")
        ready = None
        while time.monotonic() - started < 120:
            try:
                status, _, _ = http("GET", base + "/readyz", timeout=2)
                if status == 200:
                    ready = time.monotonic() - started
                    break
            except OSError:
                pass
            time.sleep(0.05)
        logs = engine.run("logs", name).stderr
        if not check("/readyz answers 200 through the published port", ready is not None, "" if ready else logs[-1500:]):
            return
        figure(f"from `{args.engine} run` to /readyz 200: {ready:.2f} s")

        def in_container(*command):
            return engine.run("exec", name, *command)

        check("it runs as the image's user", in_container("id", "-u").stdout.strip() == str(uid))
        check("the root file system is read-only", in_container("touch", "/usr/local/bin/written").returncode != 0)
        check("/tmp is writable (tmpfs)", in_container("touch", "/tmp/written").returncode == 0)
        check("the trust store for https sources is there", in_container("test", "-s", "/etc/ssl/certs/ca-certificates.crt").returncode == 0)
        pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
        check("the preStop command exists in the image", in_container(pre_stop[0], "0").returncode == 0, pre_stop)
        if engine.is_podman:
            health = engine.run("healthcheck", "run", name)
            check("the HEALTHCHECK passes", health.returncode == 0, (health.stdout + health.stderr).strip())
        else:
            deadline, state = time.time() + 60, ""
            while time.time() < deadline and state != "healthy":
                state = engine.run("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
                time.sleep(1)
            check("the HEALTHCHECK passes", state == "healthy", state)

        # 3. A face photo to a 256x256 WebP avatar.
        status, _, body = http("POST", base + "/v1/transform", transform_body(astronaut, [
            {"type": "smart_crop", "width_in_px": 256, "height_in_px": 256}, {"type": "convert", "format": "webp"}]),
            {"Content-Type": "application/json", **auth})
        data = json.loads(body).get("data", {}) if status == 200 else {}
        check("POST /v1/transform answers 200", status == 200, body[:300])
        if data:
            width, height, loader = image_size(base64.b64decode(data["buffer"]), work)
            check("the answer is a 256x256 WebP", (data["width"], data["height"], data["mime_type"], width, height, loader)
                  == (256, 256, "image/webp", 256, 256, "webp"), f"{width}x{height} {loader}")
            faces, crop = data.get("faces", []), data["crop"]
            inside = [f for f in faces if crop["x"] <= f["x"] and f["x"] + f["width"] <= crop["x"] + crop["width"]
                      and crop["y"] <= f["y"] and f["y"] + f["height"] <= crop["y"] + crop["height"]]
            check("the crop is placed by the face and holds it", data["strategy"] == "face" and data.get("used_faces") and inside,
                  f"strategy {data['strategy']}, faces {len(faces)}")
            expected_detector = "yunet" if face_model else "mtcnn"
            check(f"the faces were found by {expected_detector} (the image's model)", data.get("detector") == expected_detector, data.get("detector"))
            figure(f"crop: {data['width']}x{data['height']} {data['format']} ({data['bytes']} bytes) from {data['source']['width']}x"
                   f"{data['source']['height']}, rect {crop['width']}x{crop['height']}+{crop['x']}+{crop['y']}, strategy {data['strategy']}, "
                   f"detector {data.get('detector')}, {len(faces)} face(s), score {faces[0]['score'] if faces else '-'}, "
                   f"{data['timings_ms']}")
        status, _, body = http("POST", base + "/v1/transform", transform_body(os.path.join(args.samples, "coffee.png"), [
            {"type": "smart_crop", "width_in_px": 256, "height_in_px": 256, "mode": "subject"}]), {"Content-Type": "application/json", **auth})
        source = json.loads(body).get("data", {}).get("subject_source") if status == 200 else body[:200]
        check(f"subjects come from {'the U-2-Netp model' if subject_model else 'the heuristic map'}",
              source == ("model" if subject_model else "heuristic"), source)
        status, _, _ = http("POST", base + "/v1/transform", b"{}", {"Content-Type": "application/json"})
        check("without the API key the API answers 401", status == 401, status)

        # 4. A signed GET of a local:/// source, signed by the image's CLI.
        operations = '[{"type": "smart_crop", "width_in_px": 256, "height_in_px": 256}]'
        sign = engine.run("run", "--rm", "--read-only", args.image, "smartcrop", "sign", "--key", fill["SMARTCROP_URL_SIGNING_KEY"],
                          "--salt", fill["SMARTCROP_URL_SIGNING_SALT"], "--source", "local:///up/astronaut.png", "--ops", operations, "--ext", "webp")
        check("`smartcrop sign` in the image signs a local:/// source", sign.returncode == 0 and sign.stdout.startswith("/v1/img/"),
              sign.stderr.strip() if sign.returncode else "")
        if sign.returncode == 0:
            status, headers, body = http("GET", base + sign.stdout.strip())
            width, height, loader = image_size(body, work) if status == 200 else (0, 0, "")
            check("the signed GET answers a 256x256 WebP, cacheable, with an ETag",
                  (status, width, height, loader) == (200, 256, 256, "webp") and "immutable" in headers.get("Cache-Control", "")
                  and headers.get("ETag"), f"{status} {headers.get('Content-Type')} {width}x{height}")
            tampered = sign.stdout.strip().replace("/v1/img/", "/v1/img/A", 1)
            check("a tampered signature is refused", http("GET", base + tampered)[0] == 403)
        refused = engine.run("run", "--rm", "--read-only", args.image, "smartcrop", "sign", "--key", "k", "--source", "local:///up/../x.png",
                             "--ops", operations)
        check("`smartcrop sign` refuses a local:/// path that leaves local_root, in the server's words",
              refused.returncode == 2 and "--source: local:/// paths are relative to local_root, without .. or empty parts" in refused.stderr,
              refused.stderr.strip().splitlines()[-3:])

        # 5. The CLI in the image, on a mounted folder, in every input format we read.
        cli = os.path.join(work, "cli")
        os.makedirs(cli)
        formats = {"png": "", "jpg": "[Q=90]", "webp": "", "heic": "[compression=hevc]", "avif": "", "tif": "", "gif": ""}
        for ext, options in formats.items():
            subprocess.run(["vips", "copy", astronaut, os.path.join(cli, f"astronaut-{ext}.{ext}") + options], check=True, capture_output=True)
        owned_by_image_user(cli, uid, gid)
        cli_flags = ["run", "--rm", "--read-only", "--tmpfs", "/tmp", "-v", f"{cli}:/work", "-w", "/work", args.image]
        read = {}
        for ext in formats:
            result = engine.run(*cli_flags, "smartcrop", "crop", f"astronaut-{ext}.{ext}", "--size", "256x256", "-o", f"avatar-{ext}.webp", "--json")
            decision = json.loads(result.stdout) if result.returncode == 0 else {}
            written = os.path.join(cli, f"avatar-{ext}.webp")
            size = image_size(open(written, "rb").read(), work)[:2] if os.path.exists(written) else None
            read[ext] = (result.returncode, decision.get("strategy"), size)
        check("`smartcrop crop` in the image reads PNG, JPEG, WebP, HEIC, AVIF, TIFF and GIF from a mounted folder, face-cropped",
              all(v == (0, "face", (256, 256)) for v in read.values()), read)
        detect = engine.run(*cli_flags, "smartcrop", "detect", "astronaut-png.png", "--json")
        detected = json.loads(detect.stdout) if detect.returncode == 0 else {}
        check("`smartcrop detect` in the image uses the image's face model", detected.get("detector") == ("yunet" if face_model else "mtcnn")
              and detected.get("faces"), detect.stdout[:200] + detect.stderr[-200:])

        # 6. The batch Job's command, each shard as its pod would run it.
        check_batch(engine, args, job, work, uid, gid)

        # 7. Memory with every worker busy on 12 MP photos.
        pid = engine.run("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        idle = rss_kib(pid, "VmRSS")
        big_body = transform_body(args.big_jpeg, [{"type": "smart_crop", "width_in_px": 1200, "height_in_px": 630},
                                                  {"type": "convert", "format": "jpeg"}])
        statuses, peak = [], [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(pid, "VmRSS") or 0)
                time.sleep(0.05)

        def client():
            for _ in range(3):
                statuses.append(http("POST", base + "/v1/transform", big_body, {"Content-Type": "application/json", **auth})[0])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        clients = [threading.Thread(target=client) for _ in range(workers * 2)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        stop.set()
        sampler.join()
        peak_kib = max(peak[0], rss_kib(pid, "VmHWM") or 0)
        if idle is None:
            check("the server's memory can be read from /proc", False, f"pid {pid}")
        else:
            check(f"{len(statuses)} 12 MP crops on {workers} busy workers, all answered", statuses and all(s == 200 for s in statuses), statuses)
            check("peak memory stays under the Deployment's memory limit", peak_kib * 1024 < memory_bytes(limits["memory"]),
                  f"peak RSS {peak_kib / 1024:.0f} MiB, limit {limits['memory']}")
            check("memory at rest fits the Deployment's memory request", idle * 1024 < memory_bytes(requests["memory"]),
                  f"{idle / 1024:.0f} MiB, request {requests['memory']}")
            figure(f"RSS: {idle / 1024:.0f} MiB ready, {peak_kib / 1024:.0f} MiB peak with {workers} workers busy on 12 MP JPEGs "
                   f"(about {(peak_kib - idle) / 1024 / workers:.0f} MiB a worker)")

        # 8. Shutdown as Kubernetes does it: preStop, then SIGTERM, with requests in flight.
        slow_body = transform_body(args.big_jpeg, [{"type": "sharpen", "sigma": 2}, {"type": "convert", "format": "png"}])
        answers = []

        def slow_client():
            try:
                status, _, body = http("POST", base + "/v1/transform", slow_body, {"Content-Type": "application/json", **auth}, timeout=120)
                answers.append((status, image_size(base64.b64decode(json.loads(body)["data"]["buffer"]), work)[:2] if status == 200 else body[:200]))
            except Exception as error:  # a cut-short answer is an IncompleteRead, not an OSError
                answers.append((None, repr(error)[:200]))

        # The preStop pause first (it keeps serving while endpoints are withdrawn), then work
        # that is still arriving, then SIGTERM while it is running and queued.
        paused = time.monotonic()
        in_container(*pre_stop)
        check("the preStop command pauses as long as it says", time.monotonic() - paused >= float(pre_stop[-1]) - 0.5,
              f"{time.monotonic() - paused:.1f} s")
        slow = [threading.Thread(target=slow_client) for _ in range(workers + 2)]
        for t in slow:
            t.start()
        busy, deadline = False, time.time() + 30
        while not busy and time.time() < deadline:
            metrics = http("GET", base + "/metrics")[2].decode()
            running = re.search(r"^smartcrop_jobs_running(?:\{[^}]*\})? (\d+)", metrics, re.M)
            queued = re.search(r"^smartcrop_queue_depth(?:\{[^}]*\})? (\d+)", metrics, re.M)
            busy = running and int(running.group(1)) == workers and queued and int(queued.group(1)) >= 1
            time.sleep(0.05)
        check("requests are running and queued when SIGTERM comes", busy)
        signalled = time.monotonic()
        engine.run("kill", "--signal", "TERM", name)
        time.sleep(0.5)
        try:
            with socket.create_connection(("127.0.0.1", int(published.rsplit(":", 1)[1])), timeout=2) as s:
                s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                late = s.recv(100)
        except OSError:
            late = b""
        check("after SIGTERM no new request is answered", b" 200 " not in late, late[:40])
        exit_code = engine.run("wait", name, timeout=int(drain) + 60).stdout.strip().splitlines()[-1]
        stopped = time.monotonic() - signalled
        for t in slow:
            t.join()
        check(f"every request in flight at SIGTERM is answered ({len(answers)})",
              len(answers) == len(slow) and all(a[0] == 200 for a in answers), answers)
        check("the server exits cleanly within the drain timeout", exit_code == "0" and stopped < drain,
              f"exit {exit_code} after {stopped:.1f} s (drain timeout {drain:.0f} s)")
        figure(f"SIGTERM with {workers} requests running and {len(slow) - workers} queued: all answered, exit {exit_code} after {stopped:.1f} s")
        logs = engine.run("logs", name)
        if exit_code != "0":
            print(logs.stderr[-3000:])
    finally:
        engine.run("rm", "-f", name)
        shutil.rmtree(work, ignore_errors=True)

    failed = [n for n, ok in CHECKS if not ok]
    print("\n".join(["== image-test figures"] + FIGURES))
    print(f"image-test: {len(CHECKS) - len(failed)} of {len(CHECKS)} checks passed")
    sys.exit(1 if failed or not CHECKS else 0)


def check_batch(engine, args, job, work, uid, gid):
    spec = job["spec"]
    pod = spec["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "smartcrop")
    volumes, claims = volume_flags(pod, container, os.path.join(work, "batch"), uid, gid)
    data_mount = next(path for path in claims if container["command"][2].startswith(path.rstrip("/") + "/"))
    data = claims[data_mount]
    rel = lambda path: os.path.join(data, os.path.relpath(path, data_mount))
    inputs, outputs, reports = rel(container["command"][2]), rel(container["command"][3]), None
    os.makedirs(inputs, exist_ok=True)
    names = []
    for sample in sorted(os.listdir(args.samples)):
        for copy in range(3):
            stem, ext = os.path.splitext(sample)
            names.append(f"{stem}-{copy}{ext}")
            shutil.copy(os.path.join(args.samples, sample), os.path.join(inputs, names[-1]))
    report_template = container["command"][container["command"].index("--report") + 1]
    os.makedirs(os.path.dirname(rel(kubernetes_expand(report_template, {"JOB_COMPLETION_INDEX": "0"}))), exist_ok=True)
    owned_by_image_user(data, uid, gid)
    sizes = container["command"][container["command"].index("--sizes") + 1].split(",")

    def run_shard(index):
        env = {"JOB_COMPLETION_INDEX": str(index), "BATCH_JOBS": str(cpu_count(container["resources"]["limits"]["cpu"]))}
        command = [kubernetes_expand(part, env) for part in container["command"]]
        result = engine.run("run", "--rm", *security_flags(pod, container), *volumes, *env_flags(env), args.image, *command, timeout=600)
        report = rel(kubernetes_expand(report_template, env))
        lines = [json.loads(line) for line in open(report)] if os.path.exists(report) else []
        return result, lines

    taken, codes, started = {}, [], time.monotonic()
    for index in range(spec["completions"]):
        result, lines = run_shard(index)
        codes.append(result.returncode)
        for line in lines:
            taken.setdefault(line["input"], []).append((index, line["status"]))
        if result.returncode != 0:
            print(result.stdout[-500:] + result.stderr[-1500:])
    check(f"the Job's {spec['completions']} shards exit 0", codes == [0] * spec["completions"], codes)
    check(f"the shards split the {len(names)} photos: each one done by exactly one shard",
          sorted(taken) == sorted(names) and all(len(v) == 1 and v[0][1] == "ok" for v in taken.values()),
          {k: v for k, v in taken.items() if len(v) != 1 or v[0][1] != "ok"} or f"{len({v[0][0] for v in taken.values()})} shards did work")
    missing = [f"{os.path.splitext(n)[0]}-{s}.webp" for n in names for s in sizes
               if not os.path.exists(os.path.join(outputs, f"{os.path.splitext(n)[0]}-{s}.webp"))]
    check(f"every photo has its {len(sizes)} sizes in the output folder", not missing, missing[:5])
    figure(f"batch Job: {len(names)} photos x {len(sizes)} sizes in {spec['completions']} shards, {time.monotonic() - started:.1f} s one after another")
    result, lines = run_shard(0)
    resumed = [line for line in lines if line["status"] == "skipped"]
    done_by_zero = [n for n, v in taken.items() if v[0][0] == 0]
    check("a rerun shard resumes: everything it had done is skipped", result.returncode == 0 and done_by_zero
          and sorted(line["input"] for line in resumed) == sorted(done_by_zero), f"{len(resumed)} skipped of {len(done_by_zero)}")


if __name__ == "__main__":
    main()
