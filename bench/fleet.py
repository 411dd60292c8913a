#!/usr/bin/env python3
"""Issue 17's benchmark (the fleet), stdlib only; run by bench/fleet.sh, which starts the etcd
cluster and the agents and kills node B's agent.

  lone:  POST /v2/apps of N instances to a lone agent (no etcd) to N TASK_RUNNING in its
         GET /v2/tasks: the bound a fleet's placement is compared with.
  place: POST /v2/apps of the same app to node A of a 3-node fleet to N TASK_RUNNING in GET
         /v2/tasks of any node (all three polled in turn); the tasks per node ("host"); etcd
         requests: the sum over the agents of fleet/etcd_requests (GET /metrics/snapshot) after
         minus before, per instance, raw and net of the idle rate measured just before the POST.
  death: (after place) node B's agent SIGKILLed 50 ms after it renewed its lease (its
         fleet/etcd_requests moved while idle: the keep-alive), so that the lease runs a whole
         TTL, and every process in its containers' cgroups killed; the time from the renewal
         to B's tasks gone from A's and C's views (its lease expired) and to N TASK_RUNNING on
         A and C; then a settle window checking that no more than N run. etcd's remaining TTL
         of the lease just after the kill is recorded as a check (whole seconds, truncated).
  report: the results block from the JSON lines the runs appended.

Every result is one JSON line appended to --out.
"""

import argparse
import base64
import json
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Client, HttpError  # noqa: E402

APP_ID = "/mlbench-fleet"


class BenchError(Exception):
    pass


def get_json(c, path):
    status, body = c.request("GET", path)
    if status != 200:
        raise BenchError("GET %s on %s: HTTP %d: %s"
                         % (path, c.path, status, body.decode(errors="replace")[:300]))
    return json.loads(body)


def app_definition(n):
    # The tests' sleeper (tests/apps.rs): one host port per instance (Marathon's default
    # portDefinitions), so each node's ports range is placed as well.
    return {"id": APP_ID, "cmd": "sleep 1000", "cpus": 0.01, "mem": 8, "instances": n,
            "container": {"type": "MESOS"}, "backoffSeconds": 1}


def tasks(c):
    return [t for t in get_json(c, "/v2/tasks")["tasks"] if t.get("appId") in (APP_ID, None)]


def running_by_host(ts):
    out = {}
    for t in ts:
        if t.get("state") == "TASK_RUNNING":
            h = t.get("host", "?")
            out[h] = out.get(h, 0) + 1
    return out


def requests(clients):
    total = 0
    for c in clients:
        v = get_json(c, "/metrics/snapshot").get("fleet/etcd_requests")
        if v is None:
            raise BenchError("no fleet/etcd_requests in /metrics/snapshot of %s "
                             "(not in fleet mode?)" % c.path)
        total += int(v)
    return total


def post_app(c, n):
    status, body = c.request("POST", "/v2/apps", app_definition(n))
    if status != 201:
        raise BenchError("POST /v2/apps on %s: HTTP %d: %s"
                         % (c.path, status, body.decode(errors="replace")[:300]))


def until(what, timeout, interval, f):
    deadline = time.perf_counter() + timeout
    last = None
    while True:
        ok, last = f()
        if ok:
            return last
        if time.perf_counter() > deadline:
            raise BenchError("%s: not within %.0f s (last: %s)" % (what, timeout, last))
        time.sleep(interval)


def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def cmd_lone(a):
    c = Client(a.socket)
    get_json(c, "/v2/apps")
    t0 = time.perf_counter()
    post_app(c, a.instances)

    def done():
        r = running_by_host(tasks(c))
        return sum(r.values()) == a.instances, r

    until("%d lone instances running" % a.instances, a.timeout, a.poll_ms / 1000, done)
    append(a.out, {"kind": "lone", "run": a.run, "instances": a.instances,
                   "running_s": time.perf_counter() - t0})


def wait_fleet(clients, hosts, timeout):
    """All nodes registered and a scheduler elected, as node A sees it."""
    def ready():
        slaves = get_json(clients[0], "/master/slaves").get("slaves", [])
        seen = sorted(s.get("hostname") for s in slaves)
        status, _ = clients[0].request("GET", "/v2/leader")
        return seen == sorted(hosts) and status == 200, (seen, status)

    until("the fleet of %s registered with a leader" % ",".join(hosts), timeout, 0.1, ready)
    slaves = get_json(clients[0], "/master/slaves").get("slaves", [])
    leader = [s.get("hostname") for s in slaves if s.get("leader")]
    return leader[0] if leader else get_json(clients[0], "/v2/leader").get("leader")


def cmd_place(a):
    socks = a.sockets.split(",")
    hosts = a.hosts.split(",")
    clients = [Client(s) for s in socks]
    leader = wait_fleet(clients, hosts, a.timeout)
    time.sleep(1.0)
    # The fleet's own traffic while idle (keep-alives, records), to take out of the figure.
    i0, ti0 = requests(clients), time.perf_counter()
    time.sleep(a.idle)
    i1, ti1 = requests(clients), time.perf_counter()
    idle_rate = (i1 - i0) / (ti1 - ti0)

    before = requests(clients)
    t0 = time.perf_counter()
    post_app(clients[0], a.instances)
    interval = a.poll_ms / 1000
    most = 0
    deadline = t0 + a.timeout
    while True:
        done = None
        for k, c in enumerate(clients):
            r = running_by_host(tasks(c))
            most = max(most, sum(r.values()))
            if sum(r.values()) >= a.instances:
                done = (k, r)
                break
        if done:
            break
        if time.perf_counter() > deadline:
            raise BenchError("%d instances running on the fleet: not within %.0f s (last %s)"
                             % (a.instances, a.timeout, r))
        time.sleep(interval)
    t_all = time.perf_counter() - t0
    after = requests(clients)
    first_view = hosts[done[0]]
    # Every node's view once it has converged, and the requests a little later (the last
    # status writes of the burst).
    views = {}
    for h, c in zip(hosts, clients):
        views[h] = until("%s shows %d running" % (h, a.instances), a.timeout, interval,
                         lambda c=c: (sum(running_by_host(tasks(c)).values()) >= a.instances,
                                      running_by_host(tasks(c))))
    time.sleep(a.settle)
    settled = requests(clients)
    t_settled = time.perf_counter() - t0
    per_node = views[hosts[0]]
    most = max([most] + [sum(v.values()) for v in views.values()])
    append(a.out, {
        "kind": "place", "run": a.run, "ttl": a.ttl, "instances": a.instances, "leader": leader,
        "running_s": t_all, "first_view": first_view, "per_node": per_node,
        "requests": after - before, "requests_settled": settled - before,
        "settled_s": t_settled, "idle_rate": idle_rate,
        "most_running_seen": most})


def cgroup_pids(root):
    """The processes in the cgroups under `root` in every hierarchy."""
    pids = set()
    for dirpath, _, files in os.walk("/sys/fs/cgroup"):
        rel = dirpath.split("/")
        if root not in rel or "cgroup.procs" not in files:
            continue
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return pids


def kill_node(pid, cgroups_root):
    """SIGKILL of the agent, then of every process in its containers' cgroups, until none is
    left (the inits and their tasks; nothing forwards or reaps them once killed)."""
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    deadline = t0 + 10
    killed = set()
    while True:
        left = cgroup_pids(cgroups_root)
        if not left:
            break
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
                killed.add(p)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise BenchError("processes left in the %s cgroups: %s" % (cgroups_root, sorted(left)))
        time.sleep(0.01)
    return t0, time.monotonic() - t0, len(killed)


def etcd_post(endpoint, path, body):
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def lease_of(endpoint, key):
    """The lease a key is held under (etcd's JSON gateway: base64 keys, int64s as strings)."""
    out = etcd_post(endpoint, "/v3/kv/range", {"key": base64.b64encode(key.encode()).decode()})
    kvs = out.get("kvs") or []
    return kvs[0].get("lease") if kvs else None


def remaining_ttl(endpoint, lease):
    """The lease's remaining TTL as etcd says it (whole seconds, truncated; -1: expired)."""
    try:
        return int(etcd_post(endpoint, "/v3/lease/timetolive", {"ID": lease}).get("TTL", -1))
    except (OSError, ValueError):
        return None


def wait_renewal(c, timeout):
    """Polls the victim's fleet/etcd_requests until it moves: on an idle node what it sends is
    its lease's keep-alive (every TTL/3); the instant it moved. None if it did not."""
    def count():
        return int(get_json(c, "/metrics/snapshot").get("fleet/etcd_requests", 0))

    v0 = count()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count() != v0:
            return time.monotonic()
        time.sleep(0.005)
    return None


def cmd_death(a):
    """With the N running: node B's agent SIGKILLed just after it renewed its lease (the worst
    case: its lease runs a whole TTL) and its containers killed; the time to N running on the
    others, from the renewal and from the kill."""
    socks = a.sockets.split(",")
    hosts = a.hosts.split(",")
    victim = a.victim
    i = hosts.index(victim)
    lease = lease_of(a.etcd, a.prefix.rstrip("/") + "/nodes/" + victim)
    renewed = wait_renewal(Client(socks[i]), a.ttl / 3 + 2)
    # The keep-alive goes out on a connection of its own a loop iteration or two after it was
    # counted: let it reach etcd before the kill.
    time.sleep(0.05)
    t0, kill_s, killed = kill_node(a.victim_pid, a.victim_cgroups_root)
    left = remaining_ttl(a.etcd, lease) if lease else None
    clients = [Client(s) for k, s in enumerate(socks) if k != i]
    hosts = [h for k, h in enumerate(hosts) if k != i]
    interval = a.poll_ms / 1000
    gone = None
    deadline = t0 + a.ttl + a.timeout
    last = {}
    while True:
        views = [running_by_host(tasks(c)) for c in clients]
        now = time.monotonic()
        if gone is None and any(victim not in v for v in views):
            gone = now - t0
        ok = [v for v in views
              if victim not in v and sum(v.values()) >= a.instances]
        if ok:
            back = now - t0
            last = ok[0]
            break
        last = views[0]
        if now > deadline:
            raise BenchError("%d running on %s after the death of %s: not within %.0f s "
                             "(last %s)" % (a.instances, ",".join(hosts), victim,
                                            a.ttl + a.timeout, last))
        time.sleep(interval)
    # No more than N for a while after: what the survivors show.
    most = 0
    end = time.monotonic() + a.settle
    while time.monotonic() < end:
        for c in clients:
            most = max(most, sum(running_by_host(tasks(c)).values()))
        time.sleep(0.1)
    final = running_by_host(tasks(clients[0]))
    append(a.out, {"kind": "death", "run": a.run, "ttl": a.ttl, "instances": a.instances,
                   "victim": victim, "kill_s": kill_s, "killed": killed,
                   "renewal_to_kill_s": None if renewed is None else t0 - renewed,
                   "etcd_ttl_left_at_kill": left, "gone_s": gone, "running_s": back,
                   "per_node": last, "final": final, "most_running_after": most})


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def minmed(xs, f=None):
    if not xs:
        return "-"
    if f is None:
        return "%.2f / %.2f s" % (min(xs), median(xs))
    return "%s / %s" % (f(min(xs)), f(median(xs)))


def cmd_report(a):
    recs = []
    with open(a.out) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    lone = [r["running_s"] for r in recs if r["kind"] == "lone"]
    ttls = sorted({r["ttl"] for r in recs if r["kind"] in ("place", "death")}, reverse=True)
    n = recs[0]["instances"] if recs else 0
    print("### Fleet: %d instances across 3 nodes (3-member etcd on loopback)\n" % n)
    print("each run:")
    for r in recs:
        if r["kind"] == "lone":
            print("  lone run %d: %d running in %.3f s" % (r["run"], n, r["running_s"]))
        elif r["kind"] == "place":
            print("  TTL %ss run %d: placement %.3f s (first seen on %s), per node %s, "
                  "%d etcd requests (%.2f/instance; %d / %.2f after %.1f s more), "
                  "idle %.1f req/s, leader %s, most running seen %d"
                  % (r["ttl"], r["run"], r["running_s"], r["first_view"],
                     json.dumps(r["per_node"], sort_keys=True), r["requests"],
                     r["requests"] / n, r["requests_settled"], r["requests_settled"] / n,
                     r["settled_s"] - r["running_s"], r["idle_rate"], r["leader"],
                     r["most_running_seen"]))
        elif r["kind"] == "death":
            rk = r["renewal_to_kill_s"]
            print("  TTL %ss run %d: %s killed %s after its lease renewal (etcd: %s s left), "
                  "its tasks gone from the views after %.3f s, "
                  "%d running on the others after %.3f s, per node %s, most running after %d "
                  "(%d processes killed in %.3f s)"
                  % (r["ttl"], r["run"], r["victim"],
                     "?" if rk is None else "%.3f s" % rk, r["etcd_ttl_left_at_kill"],
                     r["gone_s"], n, r["running_s"],
                     json.dumps(r["per_node"], sort_keys=True), r["most_running_after"],
                     r["killed"], r["kill_s"]))
    print()
    print("| what (min / median) | mesolite fleet | bound | ratio |")
    print("|---|---:|---:|---:|")
    lone_med = median(lone) if lone else None
    for ttl in ttls:
        pl = [r for r in recs if r["kind"] == "place" and r["ttl"] == ttl]
        de = [r for r in recs if r["kind"] == "death" and r["ttl"] == ttl]
        if pl:
            t = [r["running_s"] for r in pl]
            ratio = ("%.2f×" % (median(t) / lone_med)) if lone_med else "-"
            print("| `POST /v2/apps` of %d instances to node A, to %d TASK_RUNNING on the "
                  "fleet (TTL %ss, %d runs) | %s | one lone agent (no etcd), same app: %s "
                  "(%d runs) | %s |"
                  % (n, n, ttl, len(pl), minmed(t), minmed(lone), len(lone), ratio))
            raw = [r["requests"] / n for r in pl]
            net = [(r["requests"] - r["idle_rate"] * r["running_s"]) / n for r in pl]
            sett = [r["requests_settled"] / n for r in pl]
            sett_net = [(r["requests_settled"] - r["idle_rate"] * r["settled_s"]) / n for r in pl]
            f2 = lambda x: "%.2f" % x  # noqa: E731
            print("| etcd requests per instance (3 agents, until all running; net of the idle "
                  "rate) | %s (net %s) | | |" % (minmed(raw, f2), minmed(net, f2)))
            print("| etcd requests per instance, %.0f s after all running (net of the idle rate) "
                  "| %s (net %s) | | |"
                  % (median([r["settled_s"] - r["running_s"] for r in pl]), minmed(sett, f2),
                     minmed(sett_net, f2)))
            dist = ", ".join("/".join(str(r["per_node"].get(h, 0)) for h in
                                      sorted(r["per_node"])) for r in pl)
            print("| instances per node (%s), each run | %s | | |"
                  % ("/".join(sorted(pl[0]["per_node"])), dist))
        if de:
            def since_renewal(r, k):
                return r[k] + (r["renewal_to_kill_s"] or 0.0)

            back = [since_renewal(r, "running_s") for r in de]
            gone = [since_renewal(r, "gone_s") for r in de]
            relaunch = [r["running_s"] - r["gone_s"] for r in de]
            print("| node B's agent and containers SIGKILLed just after its lease renewal: "
                  "renewal to %d TASK_RUNNING on A and C (TTL %ss, %d runs) | %s | "
                  "lease TTL %s s | %.2f× |"
                  % (n, ttl, len(de), minmed(back), ttl, median(back) / float(ttl)))
            print("| of which: renewal to B's tasks gone from the views (the lease expired) ; "
                  "then to all running (placement + relaunch) | %s ; %s | | beyond the "
                  "TTL: %s |"
                  % (minmed(gone), minmed(relaunch), minmed([b - float(ttl) for b in back])))
    print()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("lone", "place", "death", "report"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True, help="JSON lines file the results go to")
        if name == "report":
            continue
        p.add_argument("--run", type=int, default=1)
        p.add_argument("--instances", type=int, default=100)
        p.add_argument("--poll-ms", type=float, default=25.0)
        p.add_argument("--timeout", type=float, default=180.0)
        if name == "lone":
            p.add_argument("--socket", required=True)
        else:
            p.add_argument("--sockets", required=True, help="A,B,C")
            p.add_argument("--hosts", required=True, help="their --hostname, in the same order")
            p.add_argument("--ttl", type=float, required=True)
            p.add_argument("--settle", type=float, default=3.0)
        if name == "place":
            p.add_argument("--idle", type=float, default=3.0)
        if name == "death":
            p.add_argument("--victim", required=True)
            p.add_argument("--victim-pid", type=int, required=True)
            p.add_argument("--victim-cgroups-root", required=True)
            p.add_argument("--etcd", required=True, help="one member's client URL")
            p.add_argument("--prefix", required=True, help="the fleet's --etcd_prefix")
    a = ap.parse_args()
    if a.cmd != "report" and a.cmd != "lone":
        a.ttl = int(a.ttl) if a.ttl == int(a.ttl) else a.ttl
    {"lone": cmd_lone, "place": cmd_place, "death": cmd_death, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    try:
        main()
    except (BenchError, HttpError, OSError, EOFError) as e:
        print("bench: %s" % e, file=sys.stderr)
        sys.exit(1)
