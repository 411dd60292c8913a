#!/usr/bin/env python3
"""What the isolators of issue 5 cost a launch: launch-to-exit of /bin/true with the core set
against the full set, on two agents running side by side and launched alternately (so both see
the same machine state). Goal: the full set adds <= 1 ms to the p50.

  python3 bench/isolators.py --binary target/release/mesolite [--runs 200] [--warmup 20]

Core:  cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,namespaces/ipc,namespaces/uts
Full:  the core plus filesystem/shared, posix/rlimits, linux/capabilities, linux/nnp,
       linux/seccomp, disk/du, with a container that uses them: a private /tmp volume
       (host_path "tmp"), an RLMT_NOFILE limit, effective and bounding capabilities, and the
       default seccomp profile.
Each agent has its own work_dir under /var/tmp (not /tmp: the private /tmp volume would hide a
sandbox there), runtime_dir, socket and cgroups_root. Stdlib only; root.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from driver import Client, pct, remove, resources, wait  # noqa: E402

CORE = "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,namespaces/ipc,namespaces/uts"
FULL = ("filesystem/shared," + CORE +
        ",posix/rlimits,linux/capabilities,linux/nnp,linux/seccomp,disk/du")
FULL_CONTAINER = {
    "type": "MESOS",
    "volumes": [{"host_path": "tmp", "container_path": "/tmp", "mode": "RW"}],
    "rlimit_info": {"rlimits": [{"type": "RLMT_NOFILE", "soft": 1024, "hard": 4096}]},
    "linux_info": {
        "effective_capabilities": {"capabilities": ["CHOWN", "NET_BIND_SERVICE"]},
        "bounding_capabilities": {"capabilities": ["CHOWN", "NET_BIND_SERVICE"]},
    },
}


class Agent:
    def __init__(self, binary, name, isolation, base):
        self.name = name
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "agent.sock")
        self.cgroups_root = "mesolite_bench_" + name
        self.log = open(os.path.join(self.dir, "agent.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "agent", "--work_dir=" + os.path.join(self.dir, "work"),
             "--runtime_dir=" + os.path.join(self.dir, "run"), "--socket=" + self.sock,
             "--isolation=" + isolation, "--cgroups_root=" + self.cgroups_root],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.client = Client(self.sock)
        for _ in range(300):
            if self.proc.poll() is not None:
                sys.exit("isolators: the %s agent exited at start; see %s" % (name, self.log.name))
            if os.path.exists(self.sock):
                try:
                    if self.client.request("GET", "/health")[0] == 200:
                        return
                except OSError:
                    self.client.close()
            time.sleep(0.1)
        sys.exit("isolators: the %s agent does not answer on %s" % (name, self.sock))

    def stop(self):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        for hierarchy in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            for sub in [""] + sorted(os.listdir(hierarchy)):
                d = os.path.join(hierarchy, sub, self.cgroups_root)
                if os.path.isdir(d):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass


def one(agent, cid, container):
    """LAUNCH_CONTAINER sent -> WAIT_CONTAINER answered, in seconds; REMOVE untimed."""
    body = {"container_id": {"value": cid}, "command": {"value": "/bin/true", "shell": False},
            "resources": resources(0.1, 32)}
    if container is not None:
        body["container"] = container
    t0 = time.perf_counter()
    agent.client.call({"type": "LAUNCH_CONTAINER", "launch_container": body})
    end = wait(agent.client, cid)
    dt = time.perf_counter() - t0
    if end.get("exit_status") != 0:
        sys.exit("isolators: %s on the %s agent ended %r; see %s" % (cid, agent.name, end,
                                                                     agent.log.name))
    remove(agent.client, cid)
    return dt


def check_full(agent):
    """The full set really applies: a container reports its seccomp mode, no_new_privs,
    capabilities, NOFILE limit and its /tmp mount (else the comparison would measure nothing)."""
    script = ("grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; ulimit -n; "
              "grep -c 'containers/check/tmp /tmp ' /proc/self/mountinfo")
    body = {"container_id": {"value": "check"},
            "command": {"value": script, "shell": True},
            "resources": resources(0.1, 32), "container": FULL_CONTAINER}
    agent.client.call({"type": "LAUNCH_CONTAINER", "launch_container": body})
    end = wait(agent.client, "check")
    with open(os.path.join(agent.dir, "work", "containers", "check", "stdout")) as f:
        out = f.read().split()
    remove(agent.client, "check")
    # CHOWN (bit 0) and NET_BIND_SERVICE (bit 10); seccomp mode 2 is a filter; one bind mount
    # of the sandbox's tmp on /tmp.
    want = ["CapEff:", "0000000000000401", "NoNewPrivs:", "1", "Seccomp:", "2", "1024", "1"]
    if end.get("exit_status") != 0 or out != want:
        sys.exit("isolators: the full set is not applied: exit %r, got %r, want %r"
                 % (end.get("exit_status"), out, want))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("isolators: run as root")
    base = tempfile.mkdtemp(prefix="mesolite-isolators.", dir="/var/tmp")
    agents = []
    try:
        core = Agent(args.binary, "core", CORE, base)
        agents.append(core)
        full = Agent(args.binary, "full", FULL, base)
        agents.append(full)
        check_full(full)
        times = {"core": [], "full": []}
        for i in range(-args.warmup, args.runs):
            # Alternate which goes first, so neither always runs right after the other.
            order = [(core, None), (full, FULL_CONTAINER)]
            if i % 2:
                order.reverse()
            for agent, container in order:
                dt = one(agent, "%s-%d" % (agent.name, i + args.warmup), container)
                if i >= 0:
                    times[agent.name].append(dt * 1000.0)
    finally:
        for a in agents:
            a.stop()
        shutil.rmtree(base, ignore_errors=True)
    c50, c99 = pct(times["core"], 50), pct(times["core"], 99)
    f50, f99 = pct(times["full"], 50), pct(times["full"], 99)
    print("### Isolator cost: launch-to-exit of /bin/true, %d runs each (after %d warm-up)"
          % (args.runs, args.warmup))
    print()
    print("| isolators | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    print("| core: `%s` | %.2f | %.2f |" % (CORE, c50, c99))
    print("| full: `%s` (volume, rlimit, capabilities, default seccomp) | %.2f | %.2f |"
          % (FULL, f50, f99))
    print("| **difference** | **%+.2f** | %+.2f |" % (f50 - c50, f99 - c99))
    print()
    verdict = "met" if f50 - c50 <= 1.0 else "NOT met"
    print("Goal (full set adds <= 1 ms to the p50): %s." % verdict)


if __name__ == "__main__":
    main()
