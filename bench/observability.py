"""Issue 15's statistics benchmark: GET /monitor/statistics of N sleeping containers, and the
agent's own CPU time per second while they sleep, for agents with and without the observability
isolators (cgroups/blkio, cgroups/perf_event sampling; cgroups/mem always listens to memory
pressure, so a pressure-free figure needs BASELINE_BINARY, e.g. a build of main).

Usage (root): python3 bench/observability.py BINARY [N]; run through bench/observability.sh.
Env: WINDOW (30 s) for the CPU measure, REQUESTS (50) statistics requests, PERF_INTERVAL (10secs)
and PERF_DURATION (5secs), BASELINE_BINARY (optional). Prints a markdown table; stdlib only.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client  # noqa: E402

BASE = "cgroups/cpu,cgroups/mem,cgroups/pids"
OBS = BASE + ",cgroups/blkio,cgroups/perf_event"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run(name, binary, isolation, extra, n, window, requests):
    tmp = tempfile.mkdtemp(prefix="mesolite-obs.", dir="/var/tmp")
    root = "mesolite_obs_%d" % os.getpid()
    sock = os.path.join(tmp, "agent.sock")
    log = open(os.path.join(tmp, "agent.log"), "w")
    args = [binary, "agent", "--work_dir=%s/work" % tmp, "--runtime_dir=%s/run" % tmp,
            "--socket=%s" % sock, "--cgroups_root=%s" % root, "--isolation=%s" % isolation,
            "--resources=cpus:1000;mem:1048576", "--logging_level=WARNING"] + extra
    agent = subprocess.Popen(args, stdout=log, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        c = client.Client(sock)
        ids = ["s%d" % i for i in range(n)]
        for cid in ids:
            client.launch(c, cid, ["/bin/sleep", "100000"], 0.01, 32)
        # With perf on, the statistics are measured once every container has a sample.
        deadline = time.time() + 120
        while "--perf_events" in " ".join(extra) and time.time() < deadline:
            _, body = c.request("GET", "/monitor/statistics")
            if all("perf" in e["statistics"] for e in json.loads(body)):
                break
            time.sleep(0.5)
        for _ in range(5):
            c.request("GET", "/monitor/statistics")
        lat = []
        size = 0
        for _ in range(requests):
            t = time.perf_counter()
            status, body = c.request("GET", "/monitor/statistics")
            lat.append(time.perf_counter() - t)
            assert status == 200, status
            size = len(body)
        entries = json.loads(body)
        has_perf = sum(1 for e in entries if "perf" in e["statistics"])
        before = cpu_secs(agent.pid)
        time.sleep(window)
        idle_cpu = (cpu_secs(agent.pid) - before) / window
        for cid in ids:
            client.kill(c, cid)
        for cid in ids:
            client.wait(c, cid)
            client.remove(c, cid)
        s = client.summary(lat)
        return {"config": name, "n": n, "p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"],
                "bytes": size, "with_perf": has_perf, "agent_cpu_per_s": idle_cpu}
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        for sub in ("cpu", "cpuacct", "memory", "pids", "blkio", "perf_event", "freezer"):
            d = os.path.join("/sys/fs/cgroup", sub, root)
            if os.path.isdir(d):
                for child in os.listdir(d):
                    p = os.path.join(d, child)
                    if os.path.isdir(p):
                        try:
                            os.rmdir(p)
                        except OSError:
                            pass
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    window = float(os.environ.get("WINDOW", "30"))
    requests = int(os.environ.get("REQUESTS", "50"))
    pi = os.environ.get("PERF_INTERVAL", "10secs")
    pd = os.environ.get("PERF_DURATION", "5secs")
    perf = ["--perf_events=task-clock,context-switches,page-faults",
            "--perf_interval=%s" % pi, "--perf_duration=%s" % pd]
    runs = []
    baseline = os.environ.get("BASELINE_BINARY")
    if baseline:
        runs.append(("baseline binary, " + BASE, baseline, BASE, []))
    runs += [
        (BASE + " (pressure listeners)", binary, BASE, []),
        (OBS + " (no --perf_events)", binary, OBS, []),
        (OBS + " perf %s/%s" % (pd, pi), binary, OBS, perf),
    ]
    results = [run(name, b, iso, extra, n, window, requests) for name, b, iso, extra in runs]
    print("| agent | containers | statistics p50 ms | p99 ms | bytes | entries with perf |"
          " agent CPU s/s (idle, %gs) |" % window)
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print("| %s | %d | %.2f | %.2f | %d | %d | %.4f |" % (
            r["config"], r["n"], r["p50_ms"], r["p99_ms"], r["bytes"], r["with_perf"],
            r["agent_cpu_per_s"]))
    out = os.environ.get("BENCH_JSON", "/tmp/mesolite-observability.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
