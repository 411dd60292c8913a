#!/usr/bin/env python3
"""Benchmark driver: mesolite against runc and bwrap, side by side in one run.

Started by bench/run.sh (which builds and starts the agent); stdlib only. The agent is driven with raw
HTTP/1.1 over its unix socket on one keep-alive connection, so the client adds little beyond a
write and a read per call. Prints a markdown report; --json FILE also writes the raw numbers.

Measured (each launch series: --warmup untimed runs, then --iterations timed ones):
  launch-to-exit of /bin/true: mesolite LAUNCH_CONTAINER sent -> WAIT_CONTAINER answered (then
    REMOVE_CONTAINER, untimed); `runc run` (busybox rootfs, same namespaces minus net, same
    cgroup limits); `bwrap` (same namespaces, no cgroups: bwrap has none); plain fork+exec as floor.
  agent RSS: fresh, after the launch series, and with --sleepers `sleep 1000` containers.
  GET /monitor/statistics latency with the sleepers running.
  GET /health latency idle, and while another process runs launches and statistics polls.
  binary sizes (mesolite's release profile strips).
"""

import argparse
import json
import math
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

MIB = 1024 * 1024


class HttpError(Exception):
    pass


class Client:
    """HTTP/1.1 over a unix socket, keep-alive, Content-Length or chunked answers."""

    def __init__(self, path):
        self.path = path
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
                return self._response()
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


def series(name, warmup, iterations, one):
    """Runs one(i) warmup + iterations times; returns the timed durations (s) of the latter."""
    for i in range(warmup):
        one(-1 - i)
    out = []
    for i in range(iterations):
        out.append(one(i))
    print("  %-8s %d runs, p50 %.2f ms" % (name, iterations, pct(out, 50) * 1000), file=sys.stderr)
    return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


# ---- peers ------------------------------------------------------------------------------------

def make_rootfs(d):
    busybox = shutil.which("busybox")
    if not busybox:
        sys.exit("driver: busybox missing (apt-get install busybox-static)")
    root = os.path.join(d, "rootfs")
    for sub in ("bin", "proc", "dev", "sys", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
    os.symlink("busybox", os.path.join(root, "bin", "true"))
    return root


def make_runc_bundle(d, cpus, mem_mb, pids):
    bundle = os.path.join(d, "bundle")
    os.makedirs(bundle)
    rootfs = make_rootfs(d)
    subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    spec["root"] = {"path": rootfs, "readonly": True}
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    linux["resources"] = dict(linux.get("resources", {}),
                              cpu={"shares": int(cpus * 1024)},
                              memory={"limit": mem_mb * MIB},
                              pids={"limit": pids})
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    return bundle


def timed_exec(argv):
    def one(_i):
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError("%s exited %d: %s" % (argv[0], r.returncode, r.stderr.decode()[-300:]))
        return dt
    return one


def bench_runc(tmp, args):
    runc = shutil.which("runc")
    if not runc:
        sys.exit("driver: runc missing (apt-get install runc)")
    bundle = make_runc_bundle(os.path.join(tmp, "runc"), args.cpus, args.mem, args.pids)
    state = os.path.join(tmp, "runc-state")
    prefix = "mesolite-bench-%d-" % os.getpid()

    def one(i):
        # `runc run` without --keep deletes the container once it has exited.
        return timed_exec([runc, "--root", state, "run", "--bundle", bundle, prefix + str(i)])(i)
    return series("runc", args.warmup, args.iterations, one)


def bench_bwrap(tmp, args):
    bwrap = shutil.which("bwrap")
    if not bwrap:
        sys.exit("driver: bwrap missing (apt-get install bubblewrap)")
    root = make_rootfs(os.path.join(tmp, "bwrap"))
    argv = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--ro-bind", root, "/",
            "--proc", "/proc", "--dev", "/dev", "/bin/true"]
    return series("bwrap", args.warmup, args.iterations, timed_exec(argv))


def bench_exec(args):
    return series("exec", args.warmup, args.iterations, timed_exec(["/bin/true"]))


# ---- the agent --------------------------------------------------------------------------------

def bench_agent_launch(c, args, prefix):
    def one(i):
        cid = "%s-true-%d" % (prefix, i + args.warmup)
        t0 = time.perf_counter()
        launch(c, cid, ["/bin/true"], args.cpus, args.mem)
        w = wait(c, cid)
        dt = time.perf_counter() - t0
        remove(c, cid)
        if w.get("exit_status", 0) != 0:
            raise RuntimeError("%s: /bin/true ended with %s" % (cid, json.dumps(w)))
        return dt
    return series("mesolite", args.warmup, args.iterations, one)


def loader(sock, prefix, stop, counts):
    """The background load while /health is measured: launches and statistics polls, alternating."""
    c = Client(sock)
    i = 0
    while not stop.is_set():
        cid = "%s-load-%d" % (prefix, i)
        launch(c, cid, ["/bin/true"], 0.1, 32)
        wait(c, cid)
        remove(c, cid)
        status, _ = c.request("GET", "/monitor/statistics")
        if status != 200:
            raise HttpError("GET /monitor/statistics: HTTP %d" % status)
        i += 1
    counts.value = i


def timed_get(c, path):
    def one(_i):
        t0 = time.perf_counter()
        status, _ = c.request("GET", path)
        dt = time.perf_counter() - t0
        if status != 200:
            raise HttpError("GET %s: HTTP %d" % (path, status))
        return dt
    return one


def bench_agent_before(args, results):
    """Before any launch: the fresh agent's RSS and idle /health latency."""
    c = Client(args.socket)
    c.call({"type": "GET_HEALTH"})
    r = results["agent"] = {}
    r["rss_fresh_kib"] = rss_kib(args.agent_pid)
    r["health_idle"] = summary(series("health", 20, args.health_requests, timed_get(c, "/health")))
    c.close()


def bench_agent_after(args, results):
    """After the launch series: RSS, then sleepers, statistics and /health under load."""
    c = Client(args.socket)
    prefix = "bench%d" % os.getpid()
    r = results["agent"]
    time.sleep(0.5)
    r["rss_after_launches_kib"] = rss_kib(args.agent_pid)

    sleepers = ["%s-sleep-%d" % (prefix, i) for i in range(args.sleepers)]
    started = []
    try:
        for cid in sleepers:
            launch(c, cid, ["/bin/sleep", "1000"], args.sleeper_cpus, args.sleeper_mem)
            started.append(cid)
        time.sleep(1.0)
        r["rss_sleepers_kib"] = rss_kib(args.agent_pid)
        r["rss_per_container_kib"] = (r["rss_sleepers_kib"] - r["rss_after_launches_kib"]) / float(args.sleepers)

        status, body = c.request("GET", "/monitor/statistics")
        entries = json.loads(body) if status == 200 else []
        if len(entries) < args.sleepers:
            raise RuntimeError("/monitor/statistics lists %d containers, want >= %d (HTTP %d)"
                               % (len(entries), args.sleepers, status))
        r["statistics"] = summary(series("stats", 3, args.stats_requests,
                                         timed_get(c, "/monitor/statistics")))

        stop = multiprocessing.Event()
        counts = multiprocessing.Value("i", 0)
        p = multiprocessing.Process(target=loader, args=(args.socket, prefix, stop, counts))
        p.start()
        time.sleep(0.3)
        try:
            r["health_loaded"] = summary(series("health*", 0, args.health_requests,
                                                timed_get(c, "/health")))
        finally:
            stop.set()
            p.join(60)
        if p.exitcode != 0:
            raise RuntimeError("the load process failed (exit %s)" % p.exitcode)
        r["load_rounds"] = counts.value
    finally:
        for cid in started:
            try:
                kill(c, cid)
                wait(c, cid)
                remove(c, cid)
            except (HttpError, OSError) as e:
                print("driver: cleanup of %s: %s" % (cid, e), file=sys.stderr)


# ---- report -----------------------------------------------------------------------------------

def fmt_ratio(a, b):
    return "%.2f×" % (a / b) if b else "n/a"


def report(results, args):
    out = []
    a = results.get("agent", {})
    launches = [(name, results[key]) for name, key in
                (("mesolite", "agent_launch"), ("runc run", "runc"), ("bwrap", "bwrap"),
                 ("fork+exec (floor)", "exec")) if key in results]
    base = results.get("agent_launch")
    out.append("### Launch-to-exit of /bin/true (%d runs each; pid+ipc+uts namespaces; cpus %.1f, mem %d MiB)"
               % (args.iterations, args.cpus, args.mem))
    out.append("")
    out.append("| runtime | p50 ms | p99 ms | min ms | p50 ratio to mesolite | p99 ratio to mesolite |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for name, s in launches:
        r50 = fmt_ratio(s["p50_ms"], base["p50_ms"]) if base else "n/a"
        r99 = fmt_ratio(s["p99_ms"], base["p99_ms"]) if base else "n/a"
        out.append("| %s | %.2f | %.2f | %.2f | %s | %s |" % (name, s["p50_ms"], s["p99_ms"], s["min_ms"], r50, r99))
    out.append("")
    out.append("Ratios above 1× mean the peer is slower. bwrap applies no cgroup limits; runc and mesolite do.")
    if a:
        out.append("")
        out.append("### Agent")
        out.append("")
        out.append("| metric | value |")
        out.append("|---|---:|")
        out.append("| RSS fresh | %d KiB |" % a["rss_fresh_kib"])
        out.append("| RSS after %d launches | %d KiB |" % (args.iterations + args.warmup, a["rss_after_launches_kib"]))
        if "rss_sleepers_kib" in a:
            out.append("| RSS with %d sleeping containers | %d KiB |" % (args.sleepers, a["rss_sleepers_kib"]))
            out.append("| RSS per container | %.1f KiB |" % a["rss_per_container_kib"])
        if "statistics" in a:
            s = a["statistics"]
            out.append("| GET /monitor/statistics, %d containers, p50 / p99 | %.2f / %.2f ms |"
                       % (args.sleepers, s["p50_ms"], s["p99_ms"]))
        s = a["health_idle"]
        out.append("| GET /health idle, p50 / p99 | %.3f / %.3f ms |" % (s["p50_ms"], s["p99_ms"]))
        if "health_loaded" in a:
            s, i = a["health_loaded"], a["health_idle"]
            out.append("| GET /health under launches + stats polls, p50 / p99 | %.3f / %.3f ms (%s / %s of idle; %d load rounds) |"
                       % (s["p50_ms"], s["p99_ms"], fmt_ratio(s["p50_ms"], i["p50_ms"]),
                          fmt_ratio(s["p99_ms"], i["p99_ms"]), a["load_rounds"]))
    sizes = results.get("sizes", {})
    if sizes:
        out.append("")
        out.append("### Binary size")
        out.append("")
        out.append("| binary | bytes | ratio to mesolite |")
        out.append("|---|---:|---:|")
        m = sizes.get("mesolite")
        for name, n in sizes.items():
            out.append("| %s | %d | %s |" % (name, n, fmt_ratio(n, m) if m else "n/a"))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", help="the agent's socket (omit to benchmark the peers only)")
    ap.add_argument("--agent-pid", type=int, help="the agent's pid, for RSS")
    ap.add_argument("--binary", help="the mesolite binary, for its size")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--cpus", type=float, default=0.1)
    ap.add_argument("--mem", type=int, default=32, help="MiB")
    ap.add_argument("--pids", type=int, default=1024, help="runc's pids limit")
    ap.add_argument("--sleepers", type=int, default=100)
    ap.add_argument("--sleeper-cpus", type=float, default=0.01)
    ap.add_argument("--sleeper-mem", type=int, default=32)
    ap.add_argument("--stats-requests", type=int, default=50)
    ap.add_argument("--health-requests", type=int, default=500)
    ap.add_argument("--skip", default="", help="comma list of: agent,runc,bwrap,exec")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.socket and not args.agent_pid:
        ap.error("--agent-pid is needed with --socket")
    if os.geteuid() != 0:
        sys.exit("driver: run as root (runc and the agent need it)")

    results = {"iterations": args.iterations}
    tmp = tempfile.mkdtemp(prefix="mesolite-bench-")
    try:
        print("driver: launch-to-exit series (%d + %d warm-up each)" % (args.iterations, args.warmup), file=sys.stderr)
        agent = args.socket and "agent" not in skip
        if agent:
            bench_agent_before(args, results)
            c = Client(args.socket)
            results["agent_launch"] = summary(bench_agent_launch(c, args, "bench%d-a" % os.getpid()))
            c.close()
        if "runc" not in skip:
            results["runc"] = summary(bench_runc(tmp, args))
        if "bwrap" not in skip:
            results["bwrap"] = summary(bench_bwrap(tmp, args))
        if "exec" not in skip:
            results["exec"] = summary(bench_exec(args))
        if agent:
            print("driver: agent footprint and latency", file=sys.stderr)
            bench_agent_after(args, results)
        sizes = {}
        if args.binary:
            sizes["mesolite"] = os.stat(args.binary).st_size
        for name in ("runc", "bwrap"):
            path = shutil.which(name)
            if path:
                sizes[name] = os.stat(path).st_size
        results["sizes"] = sizes
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(report(results, args))


if __name__ == "__main__":
    main()
