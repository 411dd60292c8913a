#!/usr/bin/env python3
"""Issue 16's benchmark (apps), stdlib only; run by bench/apps.sh against its private agent.

  scale-up: POST /v2/apps with `instances` N (MESOS container, cmd `sleep 3600`, cpus 0.01, mem
    16) to all N tasks TASK_RUNNING in GET /v2/apps/<id>/tasks, against the same N launches sent
    back to back as LAUNCH_CONTAINER (/api/v1, the same shell command and resources) to all N
    RUNNING in GET_CONTAINERS. Rounds interleave the two; the app is deleted and its containers
    gone before the next round.
  replacement: SIGKILL of one instance's process (executor_pid in GET_CONTAINERS of its container,
    the task ID with '.' replaced by '_') to a new task TASK_RUNNING and N running again, against
    the bound backoffSeconds + one launch (the p50 of a launch alone on the idle agent, LAUNCH to
    RUNNING, as a replacement is; back-to-back launches share the kernel's waits and are faster). backoffFactor is 1 so that every kill's backoff is the same backoffSeconds.

The agent's answers are polled every --poll-ms over the bench's keep-alive client (bench/client.py,
the unix socket driver.py uses): a curl process per poll would put a fork and exec on these 2 cores
beside the launches it measures.
"""

import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Client, HttpError, kill, pct, remove, resources, wait  # noqa: E402


class BenchError(Exception):
    pass


def get_json(c, path, want=200):
    status, body = c.request("GET", path)
    if status != want:
        raise BenchError("GET %s: HTTP %d: %s" % (path, status, body.decode(errors="replace")[:300]))
    return json.loads(body)


def require_app_api(c):
    """Fails clearly on an agent without issue 16's /v2/apps."""
    status, body = c.request("GET", "/v2/apps")
    if status == 404:
        raise BenchError("GET /v2/apps answered 404: this agent has no app API (issue 16), "
                         "nothing to measure")
    if status != 200:
        raise BenchError("GET /v2/apps: HTTP %d: %s" % (status, body.decode(errors="replace")[:300]))


def poll(what, timeout, interval, f):
    """Calls f() until it returns a true value; that value. BenchError after `timeout` s."""
    deadline = time.perf_counter() + timeout
    last = None
    while True:
        ok, last = f()
        if ok:
            return last
        if time.perf_counter() > deadline:
            raise BenchError("%s: not within %.0f s (last: %s)" % (what, timeout, last))
        time.sleep(interval)


def app_tasks(c, app_id):
    return get_json(c, "/v2/apps/%s/tasks" % app_id.lstrip("/"))["tasks"]


def running_tasks(c, app_id):
    return [t for t in app_tasks(c, app_id) if t.get("state") == "TASK_RUNNING"]


def containers(c):
    return c.call({"type": "GET_CONTAINERS"})["get_containers"]["containers"]


def app_definition(app_id, n, backoff):
    return {"id": app_id, "cmd": "sleep 3600", "cpus": 0.01, "mem": 16, "instances": n,
            "container": {"type": "MESOS"}, "portDefinitions": [],
            "backoffSeconds": backoff, "backoffFactor": 1.0}


def delete_app(c, app_id, a, prefix):
    status, body = c.request("DELETE", "/v2/apps/%s" % app_id.lstrip("/"))
    if status not in (200, 202, 404):
        raise BenchError("DELETE %s: HTTP %d: %s" % (app_id, status, body.decode(errors="replace")[:300]))

    def gone():
        left = [x["container_id"]["value"] for x in containers(c)
                if x["container_id"]["value"].startswith(prefix)]
        return not left, left

    poll("the containers of %s removed" % app_id, a.timeout, 0.05, gone)


def scale_up_app(c, app_id, a):
    t0 = time.perf_counter()
    status, body = c.request("POST", "/v2/apps", app_definition(app_id, a.instances, a.backoff))
    if status == 404:
        raise BenchError("POST /v2/apps answered 404: this agent has no app API (issue 16)")
    if status != 201:
        raise BenchError("POST /v2/apps: HTTP %d: %s" % (status, body.decode(errors="replace")[:300]))
    poll("%d tasks of %s TASK_RUNNING" % (a.instances, app_id), a.timeout, a.poll_ms / 1000,
         lambda: (len(running_tasks(c, app_id)) == a.instances, len(running_tasks(c, app_id))))
    return time.perf_counter() - t0


def scale_up_launches(c, prefix, a):
    """N LAUNCH_CONTAINERs back to back; the total and each answer's latency."""
    each = []
    t0 = time.perf_counter()
    for i in range(a.instances):
        t = time.perf_counter()
        c.call({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": "%s%d" % (prefix, i)},
            "command": {"value": "sleep 3600", "shell": True},
            "resources": resources(0.01, 16)}})
        each.append(time.perf_counter() - t)

    def all_running():
        n = sum(1 for x in containers(c)
                if x["container_id"]["value"].startswith(prefix) and x.get("state") == "RUNNING")
        return n == a.instances, n

    poll("%d launched containers RUNNING" % a.instances, a.timeout, a.poll_ms / 1000, all_running)
    return time.perf_counter() - t0, each


def sparse_launches(c, prefix, a):
    """One LAUNCH_CONTAINER at a time on an idle agent, as a replacement is: LAUNCH sent to the
    container RUNNING, each after a pause (so no other launch shares the kernel's wait in the
    cgroup attach: on a v1 host without favordynmods a lone launch waits out an RCU grace
    period, back-to-back launches share one)."""
    times = []
    for i in range(a.kills):
        time.sleep(0.5)
        cid = "%s%d" % (prefix, i)
        t = time.perf_counter()
        c.call({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": cid},
            "command": {"value": "sleep 3600", "shell": True},
            "resources": resources(0.01, 16)}})

        def up():
            return any(x["container_id"]["value"] == cid and x.get("state") == "RUNNING"
                       for x in containers(c)), 0

        poll("%s RUNNING" % cid, a.timeout, a.poll_ms / 1000, up)
        times.append(time.perf_counter() - t)
    return times


def remove_launches(c, prefix, a, n=None):
    ids = ["%s%d" % (prefix, i) for i in range(a.instances if n is None else n)]
    for cid in ids:
        kill(c, cid)
    for cid in ids:
        wait(c, cid)
        remove(c, cid)


def executor_pid(c, task_id):
    cid = task_id.replace(".", "_")
    for x in containers(c):
        if x["container_id"]["value"] == cid:
            pid = x.get("container_status", {}).get("executor_pid")
            if pid:
                return pid
    raise BenchError("no container %s with an executor_pid in GET_CONTAINERS" % cid)


def replacement(c, app_id, a):
    """One SIGKILL: (kill to the task leaving TASK_RUNNING, kill to N TASK_RUNNING again)."""
    tasks = running_tasks(c, app_id)
    if len(tasks) != a.instances:
        raise BenchError("%d of %d tasks running before the kill" % (len(tasks), a.instances))
    victim = tasks[0]["id"]
    pid = executor_pid(c, victim)
    before = {t["id"] for t in tasks}
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    noticed = None
    interval = a.poll_ms / 1000
    deadline = t0 + a.backoff + a.timeout
    while True:
        running = running_tasks(c, app_id)
        ids = {t["id"] for t in running}
        now = time.perf_counter()
        if noticed is None and victim not in ids:
            noticed = now - t0
        if noticed is not None and len(running) == a.instances and ids - before:
            return noticed, now - t0
        if now > deadline:
            raise BenchError("no replacement for %s (pid %d) within %.0f s: %d running"
                             % (victim, pid, a.backoff + a.timeout, len(running)))
        time.sleep(interval)


def ms(x):
    return "%.0f" % (x * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--instances", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--backoff", type=float, default=1.0, help="the app's backoffSeconds")
    ap.add_argument("--poll-ms", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds any wait may take")
    ap.add_argument("--json", help="raw figures to this file")
    a = ap.parse_args()
    c = Client(a.socket)
    require_app_api(c)

    app_id, app_prefix = "/mlbench-apps", "mlbench-apps_"
    app_times, launch_times, each = [], [], []
    try:
        for r in range(a.rounds):
            prefix = "mlbench-launch-%d-" % r
            total, lat = scale_up_launches(c, prefix, a)
            launch_times.append(total)
            each += lat
            remove_launches(c, prefix, a)
            app_times.append(scale_up_app(c, app_id, a))
            if r + 1 < a.rounds:
                delete_app(c, app_id, a, app_prefix)
        lone = sparse_launches(c, "mlbench-lone-", a)
        remove_launches(c, "mlbench-lone-", a, a.kills)
        one_launch = pct(lone, 50)
        kills = [replacement(c, app_id, a) for _ in range(a.kills)]
        app = get_json(c, "/v2/apps/%s" % app_id.lstrip("/"))["app"]
    finally:
        try:
            delete_app(c, app_id, a, app_prefix)
        except (BenchError, HttpError, OSError, EOFError) as e:
            print("bench: could not delete %s: %s" % (app_id, e), file=sys.stderr)

    n = a.instances
    print("### Apps: scale-up of %d instances (%d rounds, interleaved)\n" % (n, a.rounds))
    print("| | p50 ms | min ms | max ms | ratio (p50) |")
    print("|---|---:|---:|---:|---:|")
    print("| POST /v2/apps to %d TASK_RUNNING | %s | %s | %s | %.2f |"
          % (n, ms(pct(app_times, 50)), ms(min(app_times)), ms(max(app_times)),
             pct(app_times, 50) / pct(launch_times, 50)))
    print("| %d LAUNCH_CONTAINER back to back to %d RUNNING (the bound) | %s | %s | %s | 1.00 |"
          % (n, n, ms(pct(launch_times, 50)), ms(min(launch_times)), ms(max(launch_times))))
    print("\none LAUNCH_CONTAINER answer back to back: p50 %s ms, p99 %s ms (%d launches)"
          % (ms(pct(each, 50)), ms(pct(each, 99)), len(each)))
    print("one launch alone on an idle agent, LAUNCH to RUNNING: p50 %s ms, min %s, max %s (%d)"
          % (ms(one_launch), ms(min(lone)), ms(max(lone)), len(lone)))
    bound = a.backoff + one_launch
    noticed = [k[0] for k in kills]
    replaced = [k[1] for k in kills]
    print("\n### Apps: SIGKILL of one instance to its replacement TASK_RUNNING (%d kills)\n"
          % a.kills)
    print("| | p50 ms | min ms | max ms |")
    print("|---|---:|---:|---:|")
    print("| kill to the task leaving TASK_RUNNING | %s | %s | %s |"
          % (ms(pct(noticed, 50)), ms(min(noticed)), ms(max(noticed))))
    print("| kill to a new task TASK_RUNNING, %d running | %s | %s | %s |"
          % (n, ms(pct(replaced, 50)), ms(min(replaced)), ms(max(replaced))))
    print("| the bound: backoffSeconds %.1f s + one launch alone (p50) | %s | | |"
          % (a.backoff, ms(bound)))
    print("\nreplacement / bound (p50): %.2f; beyond the backoff: %s ms (p50)"
          % (pct(replaced, 50) / bound, ms(pct(replaced, 50) - a.backoff)))
    print("the app after the kills: tasksRunning %s, tasksStaged %s"
          % (app.get("tasksRunning"), app.get("tasksStaged")))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"instances": n, "app_scale_up_s": app_times, "launches_s": launch_times,
                       "launch_each_s": each, "backoff_s": a.backoff,
                       "kill_noticed_s": noticed, "kill_replaced_s": replaced}, f)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        sys.exit(1)
