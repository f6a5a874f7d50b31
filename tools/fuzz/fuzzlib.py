"""What run_fuzz.py and tools/soak/soak.py share: the release server as a child process,
multipart requests with http.client, how an answer is classified, and /proc memory figures.
Standard library only."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

# Text that must never reach a client: libvips' own names and messages (issue 12's list), and
# the prefixes libvips and the codec libraries put on theirs.
LEAK_PATTERNS = ["Vips", "vips_", "tiff2vips", "copy_memory", "unknown libvips error",
                 "vipspng", "libpng", "libtiff", "heif:", "load:", "webp:", "bad seek", "magick"]
MAX_MESSAGE = 300
NORMAL_PIPELINE = [{"type": "smart_crop", "width_in_px": 256, "height_in_px": 256}, {"type": "convert", "format": "webp"}]


def leak_reason(message):
    """Why an error message is leaky (libvips internals, or too long), or None."""
    for pattern in LEAK_PATTERNS:
        if pattern in message:
            return f"contains {pattern!r}"
    if len(message) > MAX_MESSAGE:
        return f"{len(message)} characters"
    return None


def proc_kib(pid, field):
    """A line of /proc/PID/status in KiB (VmRSS, VmHWM), or 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def reset_hwm(pid):
    """Resets VmHWM to the current RSS (Linux: 5 > /proc/PID/clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def multipart(fields, files):
    """A multipart/form-data body: fields {name: text or bytes}, files {name: (filename, bytes)}."""
    boundary = "----smartcropfuzz" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass")
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                     f"Content-Type: application/json\r\n\r\n".encode() + value + b"\r\n")
    for name, (filename, data) in files.items():
        safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{safe}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Server:
    """The release `smartcrop-server` on a free loopback port; its log goes to a file."""

    def __init__(self, binary, log_path, env=None, args=()):
        self.binary, self.log_path, self.extra_env, self.args = binary, log_path, env or {}, list(args)
        self.proc = None
        self.port = None
        self.starts = 0
        self.download_dir = tempfile.mkdtemp(prefix="smartcrop-fuzz-downloads-")

    def start(self, timeout=60):
        env = dict(os.environ, SMARTCROP_DOWNLOAD_DIR=self.download_dir, **self.extra_env)
        self.starts += 1
        self.log = open(self.log_path, "a", buffering=1)
        self.log.write(f"\n==== start {self.starts} at {time.strftime('%H:%M:%S')} ====\n")
        self.proc = subprocess.Popen([self.binary, "--host", "127.0.0.1", "--port", "0", *self.args], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        self.port = None
        deadline = time.time() + timeout
        lines = []
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            self.log.write(line)
            if "smartcrop listening" in line:
                m = re.search(r"port=(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    break
        if self.port is None:
            self.kill()
            raise RuntimeError("the server did not start:\n" + "".join(lines[-20:]))
        proc, log = self.proc, self.log
        threading.Thread(target=self._drain, args=(proc, log), daemon=True).start()
        return self

    @staticmethod
    def _drain(proc, log):
        for line in proc.stderr:
            try:
                log.write(line)
            except ValueError:
                break

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_description(self):
        code = self.proc.poll() if self.proc else None
        if code is None:
            return "running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, timeout=40):
        """SIGTERM, then wait; returns (exit status or 'killed', seconds)."""
        if not self.alive():
            return self.exit_description(), 0.0
        start = time.time()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = "killed after timeout"
        return code, time.time() - start

    def restart(self):
        self.kill()
        return self.start()

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers dict, body bytes); raises socket.timeout / OSError / http.client errors."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()


def check_error_body(status, body):
    """For a 4xx/5xx answer: None if the body is {"error": {"code", "message"}} with a short message
    and no libvips internals, else why it is leaky."""
    try:
        doc = json.loads(body)
        error = doc["error"]
        code, message = error["code"], error["message"]
        if not isinstance(code, str) or not isinstance(message, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        text = body[:120].decode("utf-8", "replace")
        return f"error body is not {{\"error\": {{\"code\", \"message\"}}}}: {text!r}"
    reason = leak_reason(message)
    if reason:
        return f"message {reason}"
    text = body.decode("utf-8", "replace")
    for pattern in LEAK_PATTERNS:
        if pattern in text:
            return f"body contains {pattern!r}"
    return None


def classify_status(status):
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500 or status in (503, 504):
        return "clean"
    if status >= 500:
        return "500"
    return "crash"  # 1xx/3xx: nothing the API should answer


def post_transform(server, filename, data, operations, timeout):
    """POST /v1/transform (multipart) and classify the answer.
    Returns a dict: outcome (ok, clean, 500, hang, crash), status, detail, leaky (reason or None), seconds."""
    body, content_type = multipart({"operations": operations}, {"file": (filename, data)})
    return post(server, "/v1/transform", body, content_type, timeout)


def post(server, path, body, content_type, timeout, extra_headers=None):
    start = time.time()
    result = {"status": None, "detail": "", "leaky": None}
    headers = {"Content-Type": content_type}
    headers.update(extra_headers or {})
    try:
        status, _, data = server.request("POST", path, body=body, headers=headers, timeout=timeout)
        result["status"] = status
        result["outcome"] = classify_status(status)
        if status >= 400:
            result["leaky"] = check_error_body(status, data)
            try:
                result["detail"] = json.loads(data)["error"]["message"][:400]
            except Exception:
                result["detail"] = data[:200].decode("utf-8", "replace")
    except socket.timeout:
        result["outcome"] = "hang"
        result["detail"] = f"no answer in {timeout:.0f} s"
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        time.sleep(0.2)
        alive = server.alive()
        result["outcome"] = "crash"
        result["detail"] = f"{type(e).__name__}: {e}; server {'alive' if alive else server.exit_description()}"
    result["seconds"] = time.time() - start
    return result
