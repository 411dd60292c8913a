#!/usr/bin/env python3
"""Docker containerizer benchmark driver, started by bench/docker.sh (stdlib only).

Launch-to-exit of /bin/true in a busybox image: through mesolite's Docker containerizer (LAUNCH of
a DOCKER container -> WAIT answered) against `docker run --rm` of the same image on the same
private dockerd, interleaved run by run so both see the same machine. The agent's own share is
its CPU time (utime + stime) per launch: what the agent adds on top of dockerd's work.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Client, pct  # noqa: E402
from images import Docker, busybox_rootfs, log, tar_bytes  # noqa: E402

IMAGE = "mesolite-bench/busybox:1"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Agent:
    def __init__(self, binary, tmp, docker_sock):
        d = os.path.join(tmp, "agent")
        os.makedirs(d)
        sock = os.path.join(d, "agent.sock")
        self.log = open(os.path.join(d, "agent.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "agent", "--work_dir=" + os.path.join(d, "work"),
             "--runtime_dir=" + os.path.join(d, "run"), "--socket=" + sock,
             "--containerizers=docker", "--docker_socket=" + docker_sock,
             "--cgroups_root=mesolite_bench_docker"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.client = Client(sock)
        for _ in range(300):
            try:
                if self.client.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                self.client.close()
            time.sleep(0.1)
        else:
            sys.exit("bench: the agent does not answer on " + sock)
        self.n = 0

    def run(self, docker):
        """LAUNCH -> WAIT answered, in seconds; the container is removed after, untimed."""
        self.n += 1
        cid = "d%d" % self.n
        launch = {"container_id": {"value": cid},
                  "command": {"value": "/bin/true", "shell": False},
                  "container": {"type": "DOCKER", "docker": {"image": IMAGE, "network": "NONE"}}}
        t0 = time.perf_counter()
        self.client.call({"type": "LAUNCH_CONTAINER", "launch_container": launch})
        out = self.client.call({"type": "WAIT_CONTAINER",
                                "wait_container": {"container_id": {"value": cid}}})
        dt = time.perf_counter() - t0
        if (out or {}).get("wait_container", {}).get("exit_status") != 0:
            sys.exit("bench: %s ended %r (see %s)" % (cid, out, self.log.name))
        self.client.call({"type": "REMOVE_CONTAINER",
                          "remove_container": {"container_id": {"value": cid}}})
        # The next run starts once dockerd has removed this one (as `docker run --rm` waits).
        for _ in range(200):
            r = subprocess.run(["docker", "inspect", "mesos-" + cid], env=docker.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                break
            time.sleep(0.05)
        return dt

    def stop(self):
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def row(name, xs):
    ms = [x * 1000.0 for x in xs]
    return "| %s | %d | %.1f | %.1f |" % (name, len(ms), pct(ms, 50), pct(ms, 99))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()
    docker = Docker(args.tmp)
    if not docker.ok():
        sys.exit("bench: " + docker.why)
    agent = None
    try:
        subprocess.run(["docker", "import", "-", IMAGE], env=docker.env, check=True,
                       input=tar_bytes(busybox_rootfs), stdout=subprocess.DEVNULL)
        agent = Agent(args.binary, args.tmp, docker.sock)
        for _ in range(2):  # warm-up: dockerd's caches, the agent's API version
            agent.run(docker)
            docker.timed("run", "--rm", "--network=none", IMAGE, "/bin/true")
        ours, theirs = [], []
        cpu0 = cpu_seconds(agent.proc.pid)
        for i in range(args.runs):
            log("run %d/%d" % (i + 1, args.runs))
            ours.append(agent.run(docker))
            theirs.append(docker.timed("run", "--rm", "--network=none", IMAGE, "/bin/true"))
        cpu = (cpu_seconds(agent.proc.pid) - cpu0) / args.runs
    finally:
        if agent is not None:
            agent.stop()
        docker.stop()
    print("## Docker containerizer: launch-to-exit of /bin/true (busybox image)\n")
    print("| | runs | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    print(row("mesolite (LAUNCH DOCKER -> WAIT)", ours))
    print(row("docker run --rm", theirs))
    print()
    print("Ratio mesolite / docker run: p50 %.2f, p99 %.2f (goal: within 1.1)."
          % (pct(ours, 50) / pct(theirs, 50), pct(ours, 99) / pct(theirs, 99)))
    print("The agent's own share: %.2f ms of CPU per launch (%.1f%% of its p50)."
          % (cpu * 1000.0, 100.0 * cpu / pct(ours, 50)))


if __name__ == "__main__":
    main()
