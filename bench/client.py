"""The benchmark's HTTP client for the agent's unix socket and its API calls; stdlib only.

Shared by driver.py and load.py.
"""

import json
import math
import socket


MIB = 1024 * 1024


class HttpError(Exception):
    pass


class Client:
    """HTTP/1.1 over a unix socket, keep-alive, Content-Length or chunked answers."""

    def __init__(self, path, keep_alive=True):
        self.path = path
        self.keep_alive = keep_alive
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        self.sock = s
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the agent")
        self.buf += data

    def _read_until(self, sep):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(sep):]
                return out
            self._fill()

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _response(self):
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError("bad status line %r" % head[0])
        status = int(parts[1])
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        else:
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            body, self.buf = self.buf, b""
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def request(self, method, target, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        lines = ["%s %s HTTP/1.1" % (method, target), "Host: localhost"]
        if body is not None:
            lines += ["Content-Type: application/json", "Accept: application/json",
                      "Content-Length: %d" % len(data)]
        req = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self._connect()
            try:
                self.sock.sendall(req)
                out = self._response()
                if not self.keep_alive:
                    self.close()
                return out
            except (EOFError, ConnectionResetError, BrokenPipeError):
                # Retry once only on a reused connection that the agent had closed meanwhile.
                self.close()
                if fresh or attempt:
                    raise
        raise HttpError("unreachable")

    def call(self, body, want=200):
        status, data = self.request("POST", "/api/v1", body)
        if status != want:
            raise HttpError("%s: HTTP %d: %s" % (body["type"], status, data.decode(errors="replace")[:300]))
        return json.loads(data) if data.strip() else None


def resources(cpus, mem):
    return [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]


def launch(c, cid, argv, cpus, mem):
    command = {"value": argv[0], "shell": False}
    if len(argv) > 1:
        command["arguments"] = argv
    c.call({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": cid}, "command": command, "resources": resources(cpus, mem)}})


def wait(c, cid):
    out = c.call({"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": cid}}})
    return (out or {}).get("wait_container", {})


def kill(c, cid):
    c.call({"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": cid}}})


def remove(c, cid):
    c.call({"type": "REMOVE_CONTAINER", "remove_container": {"container_id": {"value": cid}}})


def pct(samples, p):
    """Nearest-rank percentile, in the samples' unit."""
    s = sorted(samples)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def summary(samples_s):
    ms = [x * 1000.0 for x in samples_s]
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "min_ms": min(ms),
            "max_ms": max(ms), "mean_ms": sum(ms) / len(ms)}


def loop_window(path):
    """The agent's loop metrics, starting a new window for the maximum: {max_ms, over_2ms,
    over_5ms}, each None from an agent that does not measure its loop (an older MESOLITE_BINARY)."""
    c = Client(path, keep_alive=False)
    status, body = c.request("GET", "/metrics/snapshot?reset_loop_max=1")
    snap = json.loads(body) if status == 200 else {}
    return {"max_ms": snap.get("agent/loop_max_iteration_ms"),
            "over_2ms": snap.get("agent/loop_iterations_over_2ms"),
            "over_5ms": snap.get("agent/loop_iterations_over_5ms")}


def loop_delta(before, after):
    """The window's figures: its maximum and how many iterations passed 2 and 5 ms in it."""
    if after["max_ms"] is None or before["over_2ms"] is None:
        return {"max_ms": None, "over_2ms": None, "over_5ms": None}
    return {"max_ms": after["max_ms"], "over_2ms": after["over_2ms"] - before["over_2ms"],
            "over_5ms": after["over_5ms"] - before["over_5ms"]}
