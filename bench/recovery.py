#!/usr/bin/env python3
"""Recovery and OOM benchmark (the recovery issue's figures), stdlib only; run by bench/recovery.sh.

  recovery time: agent start -> API ready (GET /health answers 200), after a SIGKILL of the agent,
    with N running containers to re-adopt, side by side with the same agent starting with none.
  OOM delay: a task records the time, then allocates past its 32 MB limit; the delay is from that
    record to the WAIT_CONTAINER answer (an upper bound on OOM-kill -> WAIT answer).
"""

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from driver import Client, launch, wait, kill, remove, pct  # noqa: E402


def start_agent(binary, flags, sock, log):
    if os.path.exists(sock):
        os.unlink(sock)
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "agent"] + flags, stdout=subprocess.DEVNULL, stderr=log)
    c = Client(sock)
    while True:
        try:
            c.request("GET", "/health")
            return p, time.perf_counter() - t0, c
        except (OSError, EOFError):
            if p.poll() is not None:
                raise RuntimeError("the agent exited at start (see its log)")
            c.close()
            time.sleep(0.0005)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--oom-runs", type=int, default=10)
    a = ap.parse_args()
    sock = os.path.join(a.dir, "agent.sock")
    flags = ["--work_dir=%s/work" % a.dir, "--runtime_dir=%s/run" % a.dir, "--socket=%s" % sock,
             "--cgroups_root=mesolite_bench_recovery", "--logging_level=WARNING"]
    log = open(os.path.join(a.dir, "agent.log"), "ab")

    empty = []
    for _ in range(a.rounds):
        p, t, c = start_agent(a.binary, flags, sock, log)
        empty.append(t)
        p.send_signal(signal.SIGKILL)
        p.wait()
    p, _, c = start_agent(a.binary, flags, sock, log)
    ids = ["s%d" % i for i in range(a.containers)]
    for cid in ids:
        launch(c, cid, ["/bin/sleep", "1000"], 0.01, 16)
    full = []
    for _ in range(a.rounds):
        p.send_signal(signal.SIGKILL)
        p.wait()
        p, t, c = start_agent(a.binary, flags, sock, log)
        full.append(t)
        listed = c.call({"type": "GET_CONTAINERS"})["get_containers"]["containers"]
        running = sum(1 for x in listed if x.get("state") == "RUNNING")
        if running != a.containers:
            raise RuntimeError("recovered %d of %d containers" % (running, a.containers))
    for cid in ids:
        kill(c, cid)
    for cid in ids:
        wait(c, cid)
        remove(c, cid)

    delays = []
    for i in range(a.oom_runs):
        cid = "hog%d" % i
        script = "date +%s.%N > $MESOS_SANDBOX/t; exec dd if=/dev/zero of=/dev/null bs=200M count=1"
        launch(c, cid, ["/bin/sh", "-c", script], 0.1, 32)
        w = wait(c, cid)
        done = time.time()
        if w.get("reason") != "REASON_CONTAINER_LIMITATION_MEMORY":
            raise RuntimeError("hog ended without a memory limitation: %s" % w)
        with open(os.path.join(a.dir, "work", "containers", cid, "t")) as f:
            delays.append(done - float(f.read()))
        remove(c, cid)
    p.send_signal(signal.SIGTERM)
    p.wait()

    ms = lambda xs, q: pct(xs, q) * 1000  # noqa: E731
    goal = 50 + 0.5 * a.containers
    print("### Recovery (agent start to API ready; %d rounds each)\n" % a.rounds)
    print("| containers to recover | p50 ms | max ms | goal ms |")
    print("|---:|---:|---:|---:|")
    print("| 0 | %.1f | %.1f | 50 |" % (ms(empty, 50), max(empty) * 1000))
    print("| %d | %.1f | %.1f | %.0f |" % (a.containers, ms(full, 50), max(full) * 1000, goal))
    print("\n### OOM: allocation past the limit to WAIT answer (%d runs)\n" % a.oom_runs)
    print("| p50 ms | max ms | goal ms |")
    print("|---:|---:|---:|")
    print("| %.1f | %.1f | 1000 |" % (ms(delays, 50), max(delays) * 1000))


if __name__ == "__main__":
    main()
