#!/usr/bin/env python3
"""Container networking benchmark (issue 14), started by bench/cni.sh; stdlib only.

One private agent with network/cni and one bridge + host-local network (its own bridge, subnet and
host-local dataDir), side by side in one run:
  launch-to-exit of /bin/true (LAUNCH sent -> WAIT answered) on the bridge network and on the host
    network, alternating run by run on the same agent (the machine's noise hits both alike);
  the bare plugins: the same conflist's ADD, then its DEL, exec'd by hand as libcni does (CNI_*
    environment, the network's config with name/cniVersion on stdin, prevResult on DEL) against
    a namespace made with `ip netns add`;
  `docker run --rm --network bridge` of a busybox image on a private dockerd (own data root,
    socket and bridge, no iptables), when one can start here;
  GET /monitor/statistics with --sleepers sleeping containers on the bridge network, then the
    same number on the host network: the difference is the network part (netlink counters).
cni.sh makes the names and the temporary directory and removes what is left on failure.
"""

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Client, HttpError, kill, pct, remove, resources, summary, wait  # noqa: E402

ISOLATION = ("cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,namespaces/ipc,namespaces/uts,"
             "network/cni")
NETWORK = "benchnet"


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def series(name, warmup, runs, one):
    for i in range(warmup):
        one(-1 - i)
    out = [one(i) for i in range(runs)]
    log("%-14s %d runs, p50 %.2f ms" % (name, runs, pct(out, 50) * 1000))
    return out


# ---- the network --------------------------------------------------------------------------------

def conflist(a):
    return {"cniVersion": "1.0.0", "name": NETWORK, "plugins": [{
        "type": "bridge", "bridge": a.bridge, "isGateway": True, "ipMasq": False,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": a.subnet}]],
                 "dataDir": os.path.join(a.tmp, "ipam")}}]}


def bridge_ports(bridge):
    try:
        return os.listdir("/sys/class/net/%s/brif" % bridge)
    except FileNotFoundError:
        return []


def drained(bridge, timeout=30.0):
    """Waits (untimed) until the bridge has no veth left: the previous container's DEL is done."""
    deadline = time.monotonic() + timeout
    while bridge_ports(bridge):
        if time.monotonic() > deadline:
            raise RuntimeError("bridge %s still has %s after %.0f s" % (bridge, bridge_ports(bridge), timeout))
        time.sleep(0.002)


# ---- the agent ----------------------------------------------------------------------------------

class Agent:
    def __init__(self, a):
        d = a.tmp
        self.sock = os.path.join(d, "agent.sock")
        self.log = open(os.path.join(d, "agent.log"), "wb")
        self.proc = subprocess.Popen(
            [a.binary, "agent", "--work_dir=" + os.path.join(d, "work"),
             "--runtime_dir=" + os.path.join(d, "run"), "--socket=" + self.sock,
             "--cgroups_root=" + a.cgroups_root, "--isolation=" + ISOLATION,
             "--network_cni_config_dir=" + os.path.join(d, "conf"),
             "--network_cni_plugins_dir=" + a.plugins, "--resources=cpus:1000;mem:1048576"]
            + a.agent_flags.split(),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        with open(os.path.join(d, "agent.pid"), "w") as f:
            f.write("%d\n" % self.proc.pid)
        self.c = Client(self.sock)
        for _ in range(300):
            if self.proc.poll() is not None:
                sys.exit("bench: the agent exited at start (see %s)" % self.log.name)
            try:
                if self.c.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                self.c.close()
            time.sleep(0.1)
        sys.exit("bench: the agent does not answer on " + self.sock)

    def launch(self, cid, argv, network, cpus=0.1, mem=32):
        command = {"value": argv[0], "shell": False, "arguments": argv}
        lc = {"container_id": {"value": cid}, "command": command, "resources": resources(cpus, mem)}
        if network:
            lc["container"] = {"type": "MESOS", "network_infos": [{"name": NETWORK}]}
        self.c.call({"type": "LAUNCH_CONTAINER", "launch_container": lc})

    def run_true(self, cid, network):
        t0 = time.perf_counter()
        self.launch(cid, ["/bin/true"], network)
        w = wait(self.c, cid)
        dt = time.perf_counter() - t0
        remove(self.c, cid)
        if w.get("exit_status", 0) != 0:
            raise RuntimeError("%s: /bin/true ended with %s" % (cid, json.dumps(w)))
        return dt

    def remove_all(self, ids):
        for cid in ids:
            try:
                kill(self.c, cid)
            except (HttpError, OSError, EOFError) as e:
                log("cleanup of %s: %s" % (cid, e))
                self.c.close()
        for cid in ids:
            try:
                wait(self.c, cid)
                remove(self.c, cid)
            except (HttpError, OSError, EOFError) as e:
                log("cleanup of %s: %s" % (cid, e))
                self.c.close()

    def stop(self):
        self.c.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def launches(agent, a, by_hand):
    """Bridge launches, host launches and the plugins by hand, interleaved run by run so that the
    machine's noise hits all three alike; each starts once the previous bridge container's DEL
    (run by the agent after WAIT was answered) is done, so that no DEL overlaps a timed run."""
    bridge, host, adds, dels = [], [], [], []
    for i in range(-a.warmup, a.runs):
        drained(a.bridge)
        b = agent.run_true("cni-b%d" % (i + a.warmup), True)
        drained(a.bridge)
        h = agent.run_true("cni-h%d" % (i + a.warmup), False)
        t_add, t_del = by_hand("bench-byhand-%d" % (i + a.warmup))
        if i >= 0:
            bridge.append(b)
            host.append(h)
            adds.append(t_add)
            dels.append(t_del)
    drained(a.bridge)
    for name, xs in (("launch bridge", bridge), ("launch host", host), ("plugin ADD", adds)):
        log("%-14s %d runs, p50 %.2f ms" % (name, a.runs, pct(xs, 50) * 1000))
    return bridge, host, adds, dels


def statistics(agent, a, network, tag):
    ids = ["cni-s%s%d" % (tag, i) for i in range(a.sleepers)]
    started = []
    try:
        for cid in ids:
            agent.launch(cid, ["/bin/sleep", "1000"], network, 0.01, 16)
            started.append(cid)
        time.sleep(1.0)
        status, body = agent.c.request("GET", "/monitor/statistics")
        entries = json.loads(body) if status == 200 else []
        wanted = set(ids)
        mine = [e for e in entries if e.get("container_id") in wanted]
        if len(mine) != a.sleepers:
            raise RuntimeError("/monitor/statistics lists %d of the %d sleepers" % (len(mine), a.sleepers))
        with_net = sum(1 for e in mine if "net_rx_packets" in e.get("statistics", {}))
        if network and with_net != a.sleepers:
            raise RuntimeError("%d of %d bridge sleepers have net_* counters" % (with_net, a.sleepers))

        def one(_i):
            t0 = time.perf_counter()
            st, _ = agent.c.request("GET", "/monitor/statistics")
            dt = time.perf_counter() - t0
            if st != 200:
                raise HttpError("GET /monitor/statistics: HTTP %d" % st)
            return dt
        return series("stats " + ("bridge" if network else "host"), 3, a.stats_requests, one), len(body)
    finally:
        agent.remove_all(started)
        drained(a.bridge, 120.0)


# ---- the plugins by hand ------------------------------------------------------------------------

def plugins_by_hand(a):
    """ADD then DEL of the network's one plugin (bridge, which runs host-local itself), as libcni
    execs it, in a namespace of `ip netns add`: a function of the container ID giving the ADD's
    and the DEL's durations (s)."""
    netns = "/var/run/netns/" + a.netns
    conf = conflist(a)
    plugin = dict(conf["plugins"][0], name=conf["name"], cniVersion=conf["cniVersion"])
    binary = os.path.join(a.plugins, plugin["type"])

    def run(verb, cid, stdin):
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "CNI_COMMAND": verb, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
               "CNI_IFNAME": "eth0", "CNI_PATH": a.plugins}
        data = json.dumps(stdin).encode()
        t0 = time.perf_counter()
        p = subprocess.run([binary], input=data, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError("%s %s: %s %s" % (binary, verb, p.stdout.decode(errors="replace"),
                                                 p.stderr.decode(errors="replace")))
        return dt, p.stdout

    def add_del(cid):
        t_add, out = run("ADD", cid, plugin)
        t_del, _ = run("DEL", cid, dict(plugin, prevResult=json.loads(out)))
        return t_add, t_del
    return add_del


# ---- docker -------------------------------------------------------------------------------------

def busybox_tar():
    busybox = shutil.which("busybox") or "/bin/busybox"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for d in ("bin", "dev", "proc", "sys", "etc", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            t.addfile(info)
        with open(busybox, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        t.addfile(info, io.BytesIO(data))
        for applet in ("sh", "true"):
            info = tarfile.TarInfo("bin/" + applet)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            t.addfile(info)
    return buf.getvalue()


class Docker:
    """A private dockerd on its own bridge (made by cni.sh), or why there is none."""

    def __init__(self, a):
        self.proc, self.why = None, None
        client = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
        dockerd = shutil.which("dockerd")
        if not dockerd or not client:
            self.why = "docker.io is not installed"
            return
        d = os.path.join(a.tmp, "docker")
        os.makedirs(d)
        sock = os.path.join(d, "docker.sock")
        self.client = client
        self.env = dict(os.environ, DOCKER_HOST="unix://" + sock)
        self.log = os.path.join(d, "dockerd.log")
        self.proc = subprocess.Popen(
            [dockerd, "--data-root=" + os.path.join(d, "root"), "--exec-root=" + os.path.join(d, "exec"),
             "--pidfile=" + os.path.join(d, "dockerd.pid"), "-H", "unix://" + sock,
             "--bridge=" + a.docker_bridge, "--iptables=false", "--ip6tables=false",
             "--ip-masq=false", "--ip-forward=false"],
            stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        for _ in range(600):
            if self.proc.poll() is not None:
                break
            if subprocess.run([client, "version"], env=self.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.1)
        with open(self.log, errors="replace") as f:
            tail = f.read().strip().splitlines()[-1:] or ["(no output)"]
        self.why = "dockerd did not start: " + tail[0]
        self.stop()

    def cmd(self, *args, stdin=None):
        p = subprocess.run([self.client] + list(args), env=self.env, input=stdin,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError("docker %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))

    def runs(self, n, warmup):
        self.cmd("import", "-", "mlbench-busybox", stdin=busybox_tar())

        def one(_i):
            t0 = time.perf_counter()
            self.cmd("run", "--rm", "--network", "bridge", "mlbench-busybox", "/bin/true")
            return time.perf_counter() - t0
        return series("docker run", warmup, n, one)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ---- the run ------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser()
    for name in ("binary", "tmp", "bridge", "subnet", "netns", "cgroups-root", "docker-bridge"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--plugins", default="/usr/lib/cni")
    p.add_argument("--agent-flags", default="")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--docker-runs", type=int, default=20)
    p.add_argument("--sleepers", type=int, default=100)
    p.add_argument("--stats-requests", type=int, default=100)
    p.add_argument("--json", default="")
    a = p.parse_args()

    os.makedirs(os.path.join(a.tmp, "conf"))
    with open(os.path.join(a.tmp, "conf", NETWORK + ".conflist"), "w") as f:
        json.dump(conflist(a), f)

    r = {}
    agent = Agent(a)
    try:
        r["bridge"], r["host"], r["add"], r["del"] = launches(agent, a, plugins_by_hand(a))
        r["stats_bridge"], size_b = statistics(agent, a, True, "b")
        r["stats_host"], size_h = statistics(agent, a, False, "h")
    finally:
        agent.stop()
    r["add_del"] = [x + y for x, y in zip(r["add"], r["del"])]
    docker = Docker(a)
    if docker.proc is not None:
        try:
            r["docker"] = docker.runs(a.docker_runs, 2)
        except RuntimeError as e:
            docker.why = str(e).strip().splitlines()[-1]
        finally:
            docker.stop()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({k: summary(v) for k, v in r.items()}, f, indent=1)
    report(r, a, docker.why, size_b, size_h)


def report(r, a, docker_why, size_b, size_h):
    s = {k: summary(v) for k, v in r.items()}
    p50 = lambda k: s[k]["p50_ms"]  # noqa: E731
    print("### Container networking (CNI): launch-to-exit of /bin/true, %d runs each\n" % a.runs)
    print("| what | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    rows = [("mesolite, one bridge network (bridge + host-local)", "bridge"),
            ("mesolite, host network (same agent, alternating runs)", "host"),
            ("plugins by hand: ADD (bridge, which runs host-local)", "add"),
            ("plugins by hand: DEL", "del"),
            ("plugins by hand: ADD + DEL", "add_del")]
    for label, k in rows:
        print("| %s | %.2f | %.2f |" % (label, p50(k), s[k]["p99_ms"]))
    if "docker" in s:
        print("| `docker run --rm --network bridge` busybox (%d runs) | %.1f | %.1f |"
              % (a.docker_runs, p50("docker"), s["docker"]["p99_ms"]))
    print("\n### Network statistics: GET /monitor/statistics, %d sleeping containers, %d requests\n"
          % (a.sleepers, a.stats_requests))
    print("| containers on | p50 ms | p99 ms | body bytes |")
    print("|---|---:|---:|---:|")
    print("| the bridge network | %.2f | %.2f | %d |" % (p50("stats_bridge"), s["stats_bridge"]["p99_ms"], size_b))
    print("| the host network | %.2f | %.2f | %d |" % (p50("stats_host"), s["stats_host"]["p99_ms"], size_h))
    net = p50("stats_bridge") - p50("stats_host")
    print("| difference: the network part | %.2f | %.2f | |"
          % (net, s["stats_bridge"]["p99_ms"] - s["stats_host"]["p99_ms"]))
    own = p50("bridge") - p50("host")
    extra = own - p50("add")
    print("\n### Goals (issue 14)\n")
    print("| goal | figure | target | met |")
    print("|---|---:|---:|:---:|")
    print("| agent adds ≤ 2 ms on top of the plugins' own ADD: (bridge − host launch) − plugin ADD, p50 "
          "| %.2f − %.2f = %.2f ms | ≤ 2 ms | %s |"
          % (own, p50("add"), extra, "yes" if extra <= 2 else "no"))
    net99 = s["stats_bridge"]["p99_ms"] - s["stats_host"]["p99_ms"]
    print("| network statistics for %d containers: the network part of GET /monitor/statistics "
          "(bridge − host), p50 / p99 | %.2f / %.2f ms | ≤ 10 ms | %s |"
          % (a.sleepers, net, net99, "yes" if max(net, net99) <= 10 else "no"))
    print("| the whole GET /monitor/statistics of %d containers on the bridge network, p50 / p99 "
          "| %.2f / %.2f ms | (≤ 10 ms) | %s |"
          % (a.sleepers, p50("stats_bridge"), s["stats_bridge"]["p99_ms"],
             "yes" if s["stats_bridge"]["p99_ms"] <= 10 else "no"))
    print()
    print("The launch difference is compared with the plugins' ADD alone: WAIT is answered once the "
          "task is reaped and its cgroups are gone, while the DEL runs afterwards as children of the "
          "loop (each timed run starts once the previous bridge container's veth is gone, untimed; the three series are interleaved run by run). "
          "It holds the network namespace, UTS and mount namespaces, the namespace bind mount, the "
          "checkpoint, the /etc files and the plugin's spawn through the loop; bridge + host-local "
          "with ADD + DEL is %.2f ms." % p50("add_del"))
    if docker_why:
        print("\nNo `docker run` row: %s." % docker_why)


if __name__ == "__main__":
    main()
