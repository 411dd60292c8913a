#!/usr/bin/env python3
"""Benchmark driver: mesolite against runc and bwrap, side by side in one run.

Started by bench/run.sh (which builds and starts the agent); stdlib only. The agent is driven with raw
HTTP/1.1 over its unix socket on one keep-alive connection, so the client adds little beyond a
write and a read per call. Prints a markdown report; --json FILE also writes the raw numbers.

Measured (each launch series: --warmup untimed runs, then --iterations timed ones):
  launch-to-exit of /bin/true: mesolite LAUNCH_CONTAINER sent -> WAIT_CONTAINER answered (then
    REMOVE_CONTAINER, timed on its own); the C floor (floor.py: the same kernel work, in-process
    and one process per launch); `runc run` (busybox rootfs, same namespaces minus net, same
    cgroup limits); `bwrap` (same namespaces, no cgroups: bwrap has none); plain fork+exec.
  agent RSS: fresh, after the launch series, and with --sleepers `sleep 1000` containers.
  launches per second with --clients parallel clients, new connections and keep-alive (load.py).
  GET /monitor/statistics latency with the sleepers running, against the C floor's pass.
  GET /health latency idle, and under the mixed load (load.py), with the agent's longest loop
    iteration; statistics at --stats-large containers with /health meanwhile.
  binary sizes (mesolite's release profile strips).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from client import MIB, Client, HttpError, kill, launch, pct, remove, resources, summary, wait  # noqa: F401 (re-exported for the other bench scripts)
import floor
import load


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

def bench_agent_launch(c, args, prefix, removes):
    def one(i):
        cid = "%s-true-%d" % (prefix, i + args.warmup)
        t0 = time.perf_counter()
        launch(c, cid, ["/bin/true"], args.cpus, args.mem)
        w = wait(c, cid)
        t1 = time.perf_counter()
        remove(c, cid)
        if i >= 0:
            removes.append(time.perf_counter() - t1)
        if w.get("exit_status", 0) != 0:
            raise RuntimeError("%s: /bin/true ended with %s" % (cid, json.dumps(w)))
        return t1 - t0
    return series("mesolite", args.warmup, args.iterations, one)


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


def bench_agent_after(args, results, hierarchies):
    """After the launch series: RSS, launches per second, then sleepers, statistics (against
    the floor's), the mixed load, and statistics at --stats-large containers."""
    c = Client(args.socket)
    prefix = "bench%d" % os.getpid()
    r = results["agent"]
    time.sleep(0.5)
    r["rss_after_launches_kib"] = rss_kib(args.agent_pid)
    for key, keep_alive in (("throughput", False), ("throughput_keepalive", True)):
        r[key] = load.throughput(args.socket, "%s-%s" % (prefix, key), args.clients, args.rounds,
                                 keep_alive)

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
        if args.floor_dir:
            passes, n, size = floor.statistics(args.floor_dir, args.cgroups_root, hierarchies,
                                               args.stats_requests, os.cpu_count(),
                                               args.sleeper_cpus, args.sleeper_mem)
            r["stats_floor"] = dict(summary(passes), containers=n, json_bytes=size)

        mixed = load.mixed(args.socket, prefix, args.mixed_launchers, args.health_requests)
        r["health_loaded"] = mixed["health"]
        r["load_rounds"] = mixed["launches"]
        r["mixed"] = mixed

        if args.stats_large > args.sleepers:
            print("driver: statistics of %d containers" % args.stats_large, file=sys.stderr)
            started += load.launch_sleepers(c, prefix, len(started), args.stats_large,
                                            args.sleeper_cpus, args.sleeper_mem)
            time.sleep(1.0)
            r["stats_large"] = load.statistics_at(args.socket, args.stats_large_requests,
                                                  args.health_large_requests)
            if args.floor_dir:
                passes, n, size = floor.statistics(args.floor_dir, args.cgroups_root, hierarchies,
                                                   args.stats_large_requests, os.cpu_count(),
                                                   args.sleeper_cpus, args.sleeper_mem)
                r["stats_large_floor"] = dict(summary(passes), containers=n, json_bytes=size)
    finally:
        remove_all(c, started)


def remove_all(c, ids):
    """Kills every container first (they end in parallel), then waits for and removes each."""
    for cid in ids:
        try:
            kill(c, cid)
        except (HttpError, OSError, EOFError) as e:
            print("driver: cleanup of %s: %s" % (cid, e), file=sys.stderr)
            c.close()
    for cid in ids:
        try:
            wait(c, cid)
            remove(c, cid)
        except (HttpError, OSError, EOFError) as e:
            print("driver: cleanup of %s: %s" % (cid, e), file=sys.stderr)
            c.close()


# ---- report -----------------------------------------------------------------------------------

def fmt_ratio(a, b):
    return "%.2f×" % (a / b) if b else "n/a"


def fmt_loop(loop):
    if loop is None or loop.get("max_ms") is None:
        return "n/a (this agent does not measure its loop)"
    return "max %.1f ms, %d over 2 ms, %d over 5 ms" % (loop["max_ms"], loop["over_2ms"], loop["over_5ms"])


def acceptance(results, args):
    """Issue 12's acceptance targets beside this run's figures."""
    a = results.get("agent", {})
    rows = []

    def row(what, figure, target, ok):
        rows.append("| %s | %s | %s | %s |" % (what, figure, target, "n/a" if ok is None else ("yes" if ok else "**no**")))

    base, fl, bw = results.get("agent_launch"), results.get("floor"), results.get("bwrap")
    if base and fl:
        ratio = base["p50_ms"] / fl["p50_ms"]
        ok = ratio <= 1.25 and (bw is None or base["p50_ms"] < bw["p50_ms"])
        row("launch-to-exit p50", "%.2f ms = %.2f× floor (%.2f ms); bwrap %s" % (
            base["p50_ms"], ratio, fl["p50_ms"], "%.2f ms" % bw["p50_ms"] if bw else "n/a"),
            "≤ 1.25× floor and below bwrap", ok)
    m = a.get("mixed")
    if m:
        lm = m["loop"]["max_ms"]
        row("longest loop iteration, mixed load", fmt_loop(m["loop"]), "≤ 2 ms", None if lm is None else lm <= 2.0)
        row("/health p99, mixed load", "%.2f ms" % m["health"]["p99_ms"], "≤ 3 ms", m["health"]["p99_ms"] <= 3.0)
    if "statistics" in a and "stats_floor" in a:
        s, f = a["statistics"], a["stats_floor"]
        row("/monitor/statistics, %d containers, p50" % f["containers"],
            "%.2f ms = %.2f× floor (%.2f ms)" % (s["p50_ms"], s["p50_ms"] / f["p50_ms"], f["p50_ms"]),
            "≤ 1.2× floor", s["p50_ms"] <= 1.2 * f["p50_ms"])
    if "stats_large" in a:
        s = a["stats_large"]
        row("/monitor/statistics, %d containers, p50 / p99" % s["containers"],
            "%.2f / %.2f ms" % (s["stats"]["p50_ms"], s["stats"]["p99_ms"]), "≤ 40 ms", s["stats"]["p99_ms"] <= 40.0)
        row("/health p99 while it runs", "%.2f ms" % s["health"]["p99_ms"], "≤ 3 ms", s["health"]["p99_ms"] <= 3.0)
    t = a.get("throughput")
    if t:
        row("launches per second, %d clients (new connection per request)" % t["clients"],
            "%.0f/s, %d failed" % (t["per_sec"], t["failed"]), "≥ 400/s, none failed",
            t["per_sec"] >= 400 and t["failed"] == 0)
    rm = results.get("agent_remove")
    if rm:
        row("REMOVE_CONTAINER p99 (sequential)", "%.2f ms" % rm["p99_ms"], "≤ 0.5 ms", rm["p99_ms"] <= 0.5)
    if t and t.get("remove"):
        row("REMOVE_CONTAINER p99 (8 clients)", "%.2f ms" % t["remove"]["p99_ms"], "≤ 0.5 ms",
            t["remove"]["p99_ms"] <= 0.5)
    if not rows:
        return []
    return ["", "### Issue 12 acceptance", "", "| what | this run | target | met |", "|---|---|---|---|"] + rows


def report(results, args):
    out = []
    a = results.get("agent", {})
    launches = [(name, results[key]) for name, key in
                (("mesolite", "agent_launch"), ("C floor (same kernel work, timed in-process)", "floor"),
                 ("C floor, one process per launch (timed as runc, bwrap)", "floor_spawned"),
                 ("runc run", "runc"), ("bwrap", "bwrap"), ("fork+exec", "exec")) if key in results]
    base = results.get("agent_launch")
    fl = results.get("floor")
    out.append("### Launch-to-exit of /bin/true (%d runs each; pid+ipc+uts namespaces; cpus %.1f, mem %d MiB)"
               % (args.iterations, args.cpus, args.mem))
    out.append("")
    out.append("| runtime | p50 ms | p99 ms | min ms | p50 ratio to mesolite | p99 ratio to mesolite "
               "| p50 ratio to floor | p99 ratio to floor |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in launches:
        r50 = fmt_ratio(s["p50_ms"], base["p50_ms"]) if base else "n/a"
        r99 = fmt_ratio(s["p99_ms"], base["p99_ms"]) if base else "n/a"
        f50 = fmt_ratio(s["p50_ms"], fl["p50_ms"]) if fl else "n/a"
        f99 = fmt_ratio(s["p99_ms"], fl["p99_ms"]) if fl else "n/a"
        out.append("| %s | %.2f | %.2f | %.2f | %s | %s | %s | %s |"
                   % (name, s["p50_ms"], s["p99_ms"], s["min_ms"], r50, r99, f50, f99))
    for name, key in (("mesolite REMOVE_CONTAINER", "agent_remove"), ("C floor removal (rmdirs, unlinks)", "floor_remove")):
        if key in results:
            s = results[key]
            out.append("| %s | %.2f | %.2f | %.2f | | | | |" % (name, s["p50_ms"], s["p99_ms"], s["min_ms"]))
    out.append("")
    out.append("Ratios above 1× mean the peer is slower. bwrap applies no cgroup limits; runc and mesolite do. "
               "The C floor (bench/floor/launch_floor.c) does the agent's kernel work and nothing more: "
               "%s cgroups, cpu.shares and memory limits, clone into new mnt+pid+ipc+uts namespaces, "
               "/proc and /dev/shm mounted, an init that vforks the task. mesolite's figure is "
               "LAUNCH sent to WAIT answered over its socket."
               % "+".join(sub for sub, _ in results.get("hierarchies", [])))
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
        if "stats_floor" in a:
            s = a["stats_floor"]
            out.append("| C floor of the same reads and JSON, %d containers, p50 / p99 | %.2f / %.2f ms |"
                       % (s["containers"], s["p50_ms"], s["p99_ms"]))
        if "health_loaded" in a:
            s, i = a["health_loaded"], a["health_idle"]
            out.append("| GET /health (new connection each) under the mixed load, p50 / p99 / max | %.3f / %.3f / %.1f ms (%s / %s of idle; %d launches, %d statistics polls, %d failed) |"
                       % (s["p50_ms"], s["p99_ms"], s["max_ms"], fmt_ratio(s["p50_ms"], i["p50_ms"]),
                          fmt_ratio(s["p99_ms"], i["p99_ms"]), a["load_rounds"],
                          a["mixed"]["stats_requests"], a["mixed"]["failed"]))
            out.append("| longest loop iteration under the mixed load (agent's own measure) | %s |"
                       % fmt_loop(a["mixed"]["loop"]))
        for key, what in (("throughput", "new connection per request"), ("throughput_keepalive", "keep-alive")):
            if key in a:
                t = a[key]
                out.append("| launches per second, %d clients, %s | %.0f/s (%d launches, %d failed; loop %s) |"
                           % (t["clients"], what, t["per_sec"], t["launches"], t["failed"], fmt_loop(t["loop"])))
        if "stats_large" in a:
            s = a["stats_large"]
            out.append("| GET /monitor/statistics, %d containers, p50 / p99 | %.2f / %.2f ms (loop %s) |"
                       % (s["containers"], s["stats"]["p50_ms"], s["stats"]["p99_ms"], fmt_loop(s["loop_alone"])))
            if "stats_large_floor" in a:
                f = a["stats_large_floor"]
                out.append("| C floor of the same, %d containers, p50 / p99 | %.2f / %.2f ms |"
                           % (f["containers"], f["p50_ms"], f["p99_ms"]))
            out.append("| GET /health while it runs, p50 / p99 / max | %.2f / %.2f / %.1f ms (loop %s) |"
                       % (s["health"]["p50_ms"], s["health"]["p99_ms"], s["health"]["max_ms"], fmt_loop(s["loop"])))
    out += acceptance(results, args)
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
    ap.add_argument("--clients", type=int, default=8, help="parallel clients for launches per second")
    ap.add_argument("--rounds", type=int, default=25, help="launch/wait/remove cycles per client")
    ap.add_argument("--mixed-launchers", type=int, default=2, help="launching clients in the mixed load")
    ap.add_argument("--stats-large", type=int, default=1000, help="containers for the large statistics")
    ap.add_argument("--stats-large-requests", type=int, default=20)
    ap.add_argument("--health-large-requests", type=int, default=200,
                    help="/health requests while the large statistics run")
    ap.add_argument("--floor-dir", help="where bench/run.sh built launch_floor and stats_floor")
    ap.add_argument("--cgroups-root", default="mesolite_bench",
                    help="the agent's --cgroups_root (the statistics floor reads its containers)")
    ap.add_argument("--skip", default="", help="comma list of: agent,runc,bwrap,exec,floor")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.socket and not args.agent_pid:
        ap.error("--agent-pid is needed with --socket")
    if os.geteuid() != 0:
        sys.exit("driver: run as root (runc and the agent need it)")

    results = {"iterations": args.iterations}
    results["hierarchies"] = floor.v1_hierarchies()
    tmp = tempfile.mkdtemp(prefix="mesolite-bench-")
    try:
        print("driver: launch-to-exit series (%d + %d warm-up each)" % (args.iterations, args.warmup), file=sys.stderr)
        agent = args.socket and "agent" not in skip
        hierarchies = floor.v1_hierarchies()
        if "floor" in skip or not hierarchies:
            args.floor_dir = None
        if agent:
            bench_agent_before(args, results)
            c = Client(args.socket)
            removes = []
            results["agent_launch"] = summary(bench_agent_launch(c, args, "bench%d-a" % os.getpid(), removes))
            results["agent_remove"] = summary(removes)
            c.close()
        if args.floor_dir:
            launch_s, remove_s, spawned = floor.launches(args.floor_dir, tmp, args.cgroups_root + "_floor",
                                                         hierarchies, args)
            results["floor"], results["floor_remove"] = summary(launch_s), summary(remove_s)
            results["floor_spawned"] = summary(spawned)
        if "runc" not in skip:
            results["runc"] = summary(bench_runc(tmp, args))
        if "bwrap" not in skip:
            results["bwrap"] = summary(bench_bwrap(tmp, args))
        if "exec" not in skip:
            results["exec"] = summary(bench_exec(args))
        if agent:
            print("driver: agent footprint and latency", file=sys.stderr)
            bench_agent_after(args, results, hierarchies)
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
