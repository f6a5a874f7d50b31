#!/usr/bin/env python3
"""`make manifest-test`: deploy/kubernetes against the Kubernetes schemas and against the server.

1. Every kustomization lists exactly the files beside it, and every resource validates, strictly,
   against the Kubernetes schemas of the oldest and newest versions we support (kubernetes-validate
   carries them; nothing is fetched).
2. The settings the Deployment gives the server (ConfigMap, Secret, env) are read by the real
   server binary (`--print-config`), and what the manifests assume is compared with what it says:
   every SMARTCROP_* name is one it reads, the container port is its port, the grace period covers
   its drain, the download folder is the shared volume, one worker per CPU of the limit.
3. The same server, started with those settings and an API key, answers the probes' paths with
   200 and no key (the kubelet sends none), while an API route asks for the key.
4. The image the kustomizations name is the one `make image` tags, run as the Containerfile's
   user, on the port it exposes; the batch Job is an Indexed Job whose shard count is its
   completions and whose command's $(VARS) are all declared.
"""
import argparse
import glob
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request

import kubernetes_validate
import yaml

CHECKS = []


def check(name, ok, detail=""):
    CHECKS.append((name, bool(ok)))
    print(f"{'OK  ' if ok else 'FAIL'} {name}{': ' + str(detail) if detail else ''}", flush=True)
    return ok


def load_kustomization(folder):
    """The kustomization in `folder` and its resources, as {kind/name: document}."""
    with open(os.path.join(folder, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    listed = kustomization.get("resources", [])
    beside = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.yaml")) if not p.endswith("kustomization.yaml"))
    check(f"{folder}: the kustomization lists every manifest beside it, and only those", sorted(listed) == beside,
          f"listed {sorted(listed)}, present {beside}")
    resources = {}
    for name in listed:
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for document in yaml.safe_load_all(f):
                if document:
                    resources[f"{document['kind']}/{document['metadata']['name']}"] = (path, document)
    return kustomization, resources


def validate_schemas(resources, versions):
    for key, (path, document) in sorted(resources.items()):
        for version in versions:
            try:
                kubernetes_validate.validate(document, version, strict=True)
                ok, detail = True, ""
            except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError,
                    kubernetes_validate.InvalidSchemaError) as error:
                ok, detail = False, getattr(error, "message", str(error))
            check(f"{path} {key} validates against Kubernetes {version} (strict)", ok, detail)


def cpu_count(quantity):
    """A CPU quantity as resourceFieldRef with divisor 1 gives it: rounded up to whole CPUs."""
    text = str(quantity)
    return math.ceil(int(text[:-1]) / 1000) if text.endswith("m") else math.ceil(float(text))


def memory_bytes(quantity):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(quantity))
    return float(match.group(1)) * units.get(match.group(2), 1)


def container_env(container, config_maps, secrets, secret_fill):
    """The environment the kubelet would give `container` (envFrom, then env; later wins)."""
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
        if "secretRef" in source:
            env.update({k: secret_fill.get(k, v) for k, v in secrets[source["secretRef"]["name"]].get("stringData", {}).items()})
    limits = container.get("resources", {}).get("limits", {})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "resourceFieldRef" in item["valueFrom"]:
            ref = item["valueFrom"]["resourceFieldRef"]
            assert ref["resource"] == "limits.cpu" and str(ref.get("divisor", "1")) == "1", ref
            env[item["name"]] = str(cpu_count(limits["cpu"]))
        else:
            env[item["name"]] = None  # from the pod's metadata: known only in the cluster
    return env


def pvc_for_mount(pod_spec, container, path, resources):
    """The PersistentVolumeClaim mounted at `path`, or None."""
    mount = next((m for m in container.get("volumeMounts", []) if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")), None)
    volume = mount and next((v for v in pod_spec.get("volumes", []) if v["name"] == mount["name"]), None)
    claim = volume and volume.get("persistentVolumeClaim", {}).get("claimName")
    return claim and resources.get(f"PersistentVolumeClaim/{claim}", (None, None))[1]


def containerfile_facts(path):
    text = open(path).read()
    user = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", text, re.M)
    exposed = re.findall(r"^EXPOSE\s+(\d+)", text, re.M)
    return {"uid": int(user.group(1)) if user else None, "gid": int(user.group(2)) if user and user.group(2) else None,
            "ports": [int(p) for p in exposed]}


def image_rule(kustomization):
    rule = next((r for r in kustomization.get("images", []) if r.get("name") == "smartcrop"), None)
    return rule and f"{rule.get('newName', rule['name'])}:{rule.get('newTag', 'latest')}"


def check_pod_security(label, pod_spec, container, image_user):
    pod = pod_spec.get("securityContext", {})
    own = container.get("securityContext", {})
    check(f"{label}: runs as non-root, as the image's user {image_user['uid']}:{image_user['gid']}",
          pod.get("runAsNonRoot") is True and pod.get("runAsUser") == image_user["uid"] and pod.get("runAsGroup") == image_user["gid"],
          f"pod securityContext {pod}")
    check(f"{label}: read-only root, no privilege escalation, no capabilities",
          own.get("readOnlyRootFilesystem") is True and own.get("allowPrivilegeEscalation") is False
          and own.get("capabilities", {}).get("drop") == ["ALL"], own)
    tmp = next((m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"), None)
    volume = tmp and next((v for v in pod_spec.get("volumes", []) if v["name"] == tmp["name"]), None)
    check(f"{label}: /tmp is an emptyDir (the root is read-only)", volume is not None and "emptyDir" in volume, volume)
    resources = container.get("resources", {})
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    check(f"{label}: requests fit within limits",
          all(k in requests and k in limits for k in ("cpu", "memory")) and cpu_count(requests["cpu"]) <= cpu_count(limits["cpu"])
          and memory_bytes(requests["memory"]) <= memory_bytes(limits["memory"]), resources)


def print_config(server, env):
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    clean.update({k: v for k, v in env.items() if v is not None})
    result = subprocess.run([server, "--print-config"], env=clean, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        check("the server accepts the Deployment's settings", False, result.stderr.strip())
        return None
    check("the server accepts the Deployment's settings", True)
    return json.loads(result.stdout)


def probe_live(server, env, probes, api_key):
    """Starts the server with the Deployment's settings on a free loopback port and asks it the
    probes' paths without a key, and an API route without one."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    clean.update({k: v for k, v in env.items() if v is not None})
    process = subprocess.Popen([server, "--host", "127.0.0.1", "--port", "0", "--workers", "1"], env=clean,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port, log, deadline = None, [], time.time() + 120
    try:
        while port is None and time.time() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            log.append(line)
            match = re.search(r"port=(\d+)", line)
            port = match and int(match.group(1))
        if not check("the server starts with the Deployment's settings", port is not None, "".join(log)[-2000:]):
            return
        base = f"http://127.0.0.1:{port}"
        for kind, path in probes:
            try:
                with urllib.request.urlopen(base + path, timeout=10) as reply:
                    status, body = reply.status, reply.read().decode()
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read().decode()
            check(f"{kind} probe {path} answers 200 without an API key", status == 200, f"{status} {body}")
        request = urllib.request.Request(base + "/v1/detect", data=b"{}", headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=10)
            status = 200
        except urllib.error.HTTPError as error:
            status = error.code
        check("an API route refuses a request without the key (so the probes' 200 is not auth being off)", status == 401, status)
        request.add_header("Authorization", f"Bearer {api_key}")
        try:
            urllib.request.urlopen(request, timeout=10)
            status = 200
        except urllib.error.HTTPError as error:
            status = error.code
        check("the Secret's API key is accepted", status == 400, f"{status} (400: the key passed, the empty body did not)")
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def check_service(resources, server, image, containerfile, versions):
    kustomization, resources = resources
    configs = {d["metadata"]["name"]: d for k, (_, d) in resources.items() if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"]: d for k, (_, d) in resources.items() if d["kind"] == "Secret"}
    deployment = next(d for _, d in resources.values() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "smartcrop")
    label = f"Deployment/{deployment['metadata']['name']}"
    facts = containerfile_facts(containerfile)

    check(f"{label}: the image is the one `make image` tags ({image})",
          container["image"] == "smartcrop" and image_rule(kustomization) == image, f"{container['image']} -> {image_rule(kustomization)}")
    check_pod_security(label, pod, container, facts)

    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        pool = configs if "configMapRef" in source else secrets
        check(f"{label}: envFrom {ref['name']} is in the kustomization", ref["name"] in pool)
    api_key = "manifest-test-key"
    env = container_env(container, configs, secrets, {"SMARTCROP_API_KEYS": api_key, "SMARTCROP_URL_SIGNING_KEY": "k",
                                                      "SMARTCROP_URL_SIGNING_SALT": "s"})
    settings = print_config(server, env)
    if settings is None:
        return
    unknown = sorted(n for n in env if n.startswith("SMARTCROP_") and n not in settings["environment"])
    check(f"{label}: every SMARTCROP_* variable is one the server reads", not unknown, unknown or f"{len(env)} variables")
    secret_names = {n for s in secrets.values() for n in s.get("stringData", {})}
    check("the Secret holds the API keys and the signing key and salt, by the server's names",
          secret_names == {"SMARTCROP_API_KEYS", "SMARTCROP_URL_SIGNING_KEY", "SMARTCROP_URL_SIGNING_SALT"}
          and secret_names <= set(settings["environment"]), sorted(secret_names))
    check("with the Secret filled in, the server listens on every interface (not loopback only)",
          settings["listen_host"] == "0.0.0.0" and len(settings["api_keys"]) == 1 and len(settings["url_signing"]) == 1,
          f"listen_host {settings['listen_host']}")

    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    check(f"{label}: the container port is the server's port and the image's EXPOSE",
          ports.get("http") == settings["port"] and settings["port"] in facts["ports"],
          f"containerPort {ports.get('http')}, server {settings['port']}, EXPOSE {facts['ports']}")
    workers = cpu_count(container["resources"]["limits"]["cpu"])
    check(f"{label}: one worker per CPU of the limit", settings["workers"] == workers, f"workers {settings['workers']}, limits.cpu {workers}")

    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] and len(pre_stop) == 2 else None
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(f"{label}: the grace period covers the preStop pause, the drain and the cancelling after it",
          pause is not None and grace >= pause + settings["exit_after_sigterm_at_most_seconds"],
          f"grace {grace} s, preStop {pause} s, the server exits at most {settings['exit_after_sigterm_at_most_seconds']} s after SIGTERM "
          f"(drain {settings['drain_timeout_seconds']} s)")

    claim = pvc_for_mount(pod, container, settings["download_dir"], resources)
    check(f"{label}: the download folder {settings['download_dir']} is a ReadWriteMany claim shared by the replicas",
          claim is not None and "ReadWriteMany" in claim["spec"]["accessModes"], claim and claim["metadata"]["name"])

    probes = []
    for kind, expected in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container.get(kind, {}).get("httpGet", {})
        port = get.get("port")
        check(f"{label}: the {kind} asks {expected} on the server's port",
              get.get("path") == expected and (port == "http" or port == settings["port"]), get)
        probes.append((kind, get.get("path", "")))
    probe_live(server, env, probes, api_key)

    service = next(d for _, d in resources.values() if d["kind"] == "Service")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selects = lambda selector: bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())
    target = service["spec"]["ports"][0]["targetPort"]
    check("the Service selects the server's pods on its port", selects(service["spec"]["selector"])
          and (target in ports or target == settings["port"]), f"targetPort {target}")
    pdb = next(d for _, d in resources.values() if d["kind"] == "PodDisruptionBudget")
    check("the PodDisruptionBudget selects the server's pods", selects(pdb["spec"]["selector"]["matchLabels"]))
    hpa = next(d for _, d in resources.values() if d["kind"] == "HorizontalPodAutoscaler")
    ref = hpa["spec"]["scaleTargetRef"]
    metrics = [m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    check("the HorizontalPodAutoscaler scales the Deployment on CPU",
          ref["kind"] == "Deployment" and ref["name"] == deployment["metadata"]["name"] and metrics == ["cpu"], ref)


def check_batch(resources, image, containerfile):
    kustomization, resources = resources
    job = next(d for _, d in resources.values() if d["kind"] == "Job")
    spec = job["spec"]
    pod = spec["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "smartcrop")
    label = f"Job/{job['metadata']['name']}"
    check(f"{label}: the image is the one `make image` tags ({image})",
          container["image"] == "smartcrop" and image_rule(kustomization) == image, image_rule(kustomization))
    check_pod_security(label, pod, container, containerfile_facts(containerfile))
    check(f"{label}: Indexed, with a backoff limit per index (a failed shard retries alone)",
          spec.get("completionMode") == "Indexed" and spec.get("backoffLimitPerIndex", 0) >= 1 and pod.get("restartPolicy") == "Never",
          {k: spec.get(k) for k in ("completionMode", "completions", "backoffLimitPerIndex")} | {"restartPolicy": pod.get("restartPolicy")})

    command = container.get("command", []) + container.get("args", [])
    check(f"{label}: runs smartcrop batch IN OUT", command[:2] == ["smartcrop", "batch"] and len(command) >= 4, shlex.join(command))
    options = {command[i]: command[i + 1] if i + 1 < len(command) and not command[i + 1].startswith("--") else True
               for i in range(2, len(command)) if command[i].startswith("--")}
    shard = re.fullmatch(r"\$\(JOB_COMPLETION_INDEX\)/(\d+)", str(options.get("--shard", "")))
    check(f"{label}: --shard $(JOB_COMPLETION_INDEX)/N with N the Job's completions",
          shard is not None and int(shard.group(1)) == spec["completions"], f"--shard {options.get('--shard')}, completions {spec['completions']}")
    check(f"{label}: --resume, and a --report per shard", options.get("--resume") is True
          and "$(JOB_COMPLETION_INDEX)" in str(options.get("--report", "")), options)
    declared = {e["name"] for e in container.get("env", [])}
    referenced = set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", " ".join(command)))
    check(f"{label}: every $(VAR) in the command is declared in env (Kubernetes leaves others as they are)",
          referenced <= declared, f"referenced {sorted(referenced)}, declared {sorted(declared)}")
    index = next((e for e in container.get("env", []) if e["name"] == "JOB_COMPLETION_INDEX"), None)
    check(f"{label}: JOB_COMPLETION_INDEX comes from the pod's completion-index annotation",
          index is not None and index["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.annotations['batch.kubernetes.io/job-completion-index']")
    for role, path in (("input", command[2]), ("output", command[3]), ("report", str(options.get("--report", "")))):
        claim = pvc_for_mount(pod, container, path, resources)
        check(f"{label}: the {role} {path} is on a ReadWriteMany claim (shards run on several nodes)",
              claim is not None and "ReadWriteMany" in claim["spec"]["accessModes"])


def runtime_stage(path):
    """The instructions of a Containerfile's last stage, less its FROM and COPY lines (where the
    binaries come from differs) and comments."""
    lines, stage = [], []
    for line in open(path).read().replace("\\\n", " ").splitlines():
        if line.startswith("FROM "):
            stage = []
        elif line.strip() and not line.startswith("#") and not line.startswith("COPY "):
            stage.append(" ".join(line.split()))
    return stage


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifests", required=True)
    ap.add_argument("--server", required=True, help="the smartcrop-server binary")
    ap.add_argument("--image", required=True, help="the image `make image` tags")
    ap.add_argument("--containerfile", required=True)
    ap.add_argument("--versions", default="1.29.0,1.37.0", help="Kubernetes versions to validate against")
    args = ap.parse_args()
    versions = args.versions.split(",")

    service = load_kustomization(args.manifests)
    batch = load_kustomization(os.path.join(args.manifests, "batch"))
    validate_schemas(service[1], versions)
    validate_schemas(batch[1], versions)
    check_service(service, args.server, args.image, args.containerfile, versions)
    check_batch(batch, args.image, args.containerfile)
    in_docker = os.path.join(os.path.dirname(args.containerfile), "Containerfile.swift-build")
    check(f"{in_docker}'s runtime stage is {args.containerfile}'s", runtime_stage(in_docker) == runtime_stage(args.containerfile)
          and len(runtime_stage(args.containerfile)) >= 8, len(runtime_stage(args.containerfile)))

    failed = [name for name, ok in CHECKS if not ok]
    print(f"manifest-test: {len(CHECKS) - len(failed)} of {len(CHECKS)} checks passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
