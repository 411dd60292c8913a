"""Load phases against the agent, each with parallel client processes (Python's threads would
share one interpreter lock, and so one core): launches per second with 8 clients, the mixed load
(launch, wait, remove, statistics of the sleepers, /health), statistics at 1,000 containers, and
the acceptance table of issue 12. Every phase records the agent's longest loop iteration (its own
measure, agent/loop_max_iteration_ms, windowed with ?reset_loop_max=1)."""

import json
import multiprocessing
import sys
import time

from client import Client, HttpError, loop_delta, loop_window, launch, pct, remove, summary, wait


def _cycle(c, cid):
    """LAUNCH /bin/true, WAIT, REMOVE: the seconds each took, or raises."""
    t0 = time.perf_counter()
    launch(c, cid, ["/bin/true"], 0.1, 32)
    t1 = time.perf_counter()
    w = wait(c, cid)
    t2 = time.perf_counter()
    remove(c, cid)
    t3 = time.perf_counter()
    if w.get("exit_status", 0) != 0:
        raise HttpError("%s: /bin/true ended with %s" % (cid, json.dumps(w)))
    return t1 - t0, t2 - t1, t3 - t2


def _best_effort_remove(c, cid):
    for call in ({"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": cid}}},
                 {"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": cid}}},
                 {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": {"value": cid}}}):
        try:
            c.request("POST", "/api/v1", call)
        except (HttpError, OSError, EOFError, ValueError):
            pass


def _launcher(sock, keep_alive, prefix, rounds, stop, start, out):
    """One client: `rounds` cycles (or until `stop`), counting failed ones; puts (ok, failed, removes)."""
    c = Client(sock, keep_alive=keep_alive)
    ok = failed = 0
    removes = []
    start.wait()
    i = 0
    while (rounds is None or i < rounds) and not stop.is_set():
        cid = "%s-%d" % (prefix, i)
        i += 1
        try:
            removes.append(_cycle(c, cid)[2])
            ok += 1
        except (HttpError, OSError, EOFError, ValueError) as e:
            failed += 1
            if failed <= 3:
                print("load: %s: %s" % (cid, e), file=sys.stderr)
            c.close()
            _best_effort_remove(Client(sock, keep_alive=False), cid)
    out.put(("launcher", ok, failed, removes))


def _poller(sock, path, stop, start, out):
    """GETs `path` in a loop until `stop`; puts (requests, failed)."""
    c = Client(sock)
    n = failed = 0
    start.wait()
    while not stop.is_set():
        try:
            status, _ = c.request("GET", path)
            failed += status != 200
        except (HttpError, OSError, EOFError):
            failed += 1
            c.close()
        n += 1
    out.put(("poller", n, failed))


def _start(targets):
    start, out = multiprocessing.Event(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=t, args=a + (start, out)) for t, a in targets]
    for p in procs:
        p.start()
    return procs, start, out


def _join(procs, out, timeout):
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.terminate()
    return results


def throughput(sock, prefix, clients, rounds, keep_alive):
    """Launches per second with `clients` parallel clients of `rounds` cycles each."""
    targets = [(_launcher, (sock, keep_alive, "%s-%d" % (prefix, k), rounds, multiprocessing.Event()))
               for k in range(clients)]
    procs, start, out = _start(targets)
    time.sleep(0.3)
    before = loop_window(sock)
    t0 = time.perf_counter()
    start.set()
    results = _join(procs, out, timeout=60 + rounds * clients)
    dt = time.perf_counter() - t0
    loop = loop_delta(before, loop_window(sock))
    ok = sum(r[1] for r in results)
    failed = sum(r[2] for r in results)
    removes = [x for r in results for x in r[3]]
    print("  %-8s %d launches by %d clients (%s), %.0f/s, %d failed"
          % ("8x", ok, clients, "keep-alive" if keep_alive else "new connections", ok / dt, failed),
          file=sys.stderr)
    return {"clients": clients, "launches": ok, "failed": failed, "seconds": dt, "per_sec": ok / dt,
            "remove": summary(removes) if removes else None, "loop": loop}


def health_while(sock, n, what):
    """`n` GET /health, each on a new connection (as a health checker does), while load runs."""
    out = []
    for _ in range(n):
        c = Client(sock, keep_alive=False)
        t0 = time.perf_counter()
        status, _ = c.request("GET", "/health")
        out.append(time.perf_counter() - t0)
        if status != 200:
            raise HttpError("GET /health: HTTP %d" % status)
    print("  %-8s %d requests during %s, p99 %.2f ms" % ("health", n, what, pct(out, 99) * 1000),
          file=sys.stderr)
    return summary(out)


def mixed(sock, prefix, launchers, health_requests):
    """Launch/wait/remove clients and a statistics poller (over the running sleepers) in parallel,
    while /health is timed from here."""
    stop = multiprocessing.Event()
    targets = [(_launcher, (sock, False, "%s-mix%d" % (prefix, k), None, stop)) for k in range(launchers)]
    targets.append((_poller, (sock, "/monitor/statistics", stop)))
    procs, start, out = _start(targets)
    time.sleep(0.3)
    start.set()
    time.sleep(0.3)
    before = loop_window(sock)
    try:
        health = health_while(sock, health_requests, "the mixed load")
    finally:
        loop = loop_delta(before, loop_window(sock))
        stop.set()
        results = _join(procs, out, timeout=120)
    launched = sum(r[1] for r in results if r[0] == "launcher")
    polls = sum(r[1] for r in results if r[0] == "poller")
    failed = sum(r[2] for r in results)
    return {"health": health, "loop": loop, "launches": launched, "stats_requests": polls,
            "failed": failed}


def launch_sleepers(c, prefix, start, count, cpus, mem):
    """Launches sleepers number start..count-1; returns their IDs (those launched so far on error,
    in the exception's `started`)."""
    started = []
    for i in range(start, count):
        cid = "%s-sleep-%d" % (prefix, i)
        launch(c, cid, ["/bin/sleep", "1000"], cpus, mem)
        started.append(cid)
    return started


def statistics_at(sock, requests, health_requests):
    """GET /monitor/statistics timed alone, then /health timed while a poller runs it."""
    c = Client(sock)
    status, body = c.request("GET", "/monitor/statistics")
    if status != 200:
        raise HttpError("GET /monitor/statistics: HTTP %d" % status)
    n = len(json.loads(body))
    before = loop_window(sock)
    stats = []
    for _ in range(requests):
        t0 = time.perf_counter()
        status, _ = c.request("GET", "/monitor/statistics")
        stats.append(time.perf_counter() - t0)
    loop_alone = loop_delta(before, loop_window(sock))
    print("  %-8s %d containers, %d requests, p50 %.2f ms" % ("stats", n, requests, pct(stats, 50) * 1000),
          file=sys.stderr)
    stop = multiprocessing.Event()
    procs, start, out = _start([(_poller, (sock, "/monitor/statistics", stop))])
    start.set()
    time.sleep(0.3)
    before = loop_window(sock)
    try:
        health = health_while(sock, health_requests, "statistics of %d" % n)
    finally:
        loop = loop_delta(before, loop_window(sock))
        stop.set()
        _join(procs, out, timeout=120)
    return {"containers": n, "stats": summary(stats), "loop_alone": loop_alone, "health": health,
            "loop": loop}
