#!/usr/bin/python3
"""Issue 16, acceptance 6: the PyPI `marathon` 0.13 client library drives an app through a
Marathon API (mesolite's TCP listener in the real test; tests/apps_support/fake_marathon.py in
this script's own check, tests/apps_support_check.rs):

  /usr/bin/python3 tests/apps_support/marathon_client.py --url http://127.0.0.1:PORT \
      --user principal:secret [--app-id /mlclient] [--timeout 60]

Steps: create the app (MarathonApp(cmd="sleep 1000", cpus=0.1, mem=32, instances=1)), list apps,
scale to 2, wait until 2 tasks are TASK_RUNNING (list_tasks), read the tasks' host, ports and
startedAt, delete the app, wait until none of its tasks is left (the app's own task list gone or
empty, and none of them in GET /v2/tasks). One JSON line per step on stdout:
{"step": NAME, "ok": true, ...}; on the first failure {"step": NAME, "ok": false, "error": ...}
and exit status 1. Exit status 77 with a "SKIP: ..." line when the library is not installed.

The library is the wheel scripts/packages.sh unpacks (pure Python, no install step) under
$MESOLITE_MARATHON_LIB, default /usr/local/lib/mesolite-test/marathon-0.13.0; its dependencies,
requests and requests-toolbelt, are Debian's python3-requests and python3-requests-toolbelt, hence
/usr/bin/python3 (Debian's) rather than whatever python3 is first on PATH.
"""

import argparse
import collections
import collections.abc
import json
import logging
import os
import sys
import time
import traceback

LIB = os.environ.get("MESOLITE_MARATHON_LIB", "/usr/local/lib/mesolite-test/marathon-0.13.0")

# marathon 0.13's JSON encoders test isinstance(obj, collections.Iterable); the alias was removed
# in Python 3.10 (it lives in collections.abc since 3.3).
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable


def emit(step, ok=True, **fields):
    print(json.dumps(dict(step=step, ok=ok, **fields), default=str), flush=True)


class StepFailed(Exception):
    pass


def wait_for(what, timeout, poll):
    """Polls poll() (returns (done, detail)) until done or timeout; the last detail."""
    deadline = time.monotonic() + timeout
    detail = None
    while True:
        done, detail = poll()
        if done:
            return detail
        if time.monotonic() > deadline:
            raise StepFailed("%s not reached within %ss; last: %s" % (what, timeout, detail))
        time.sleep(0.25)


def main():
    p = argparse.ArgumentParser(description="marathon client library check (issue 16, acc. 6)")
    p.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    p.add_argument("--user", required=True, help="principal:secret (HTTP Basic)")
    p.add_argument("--app-id", default="/mlclient")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for tasks to run or stop")
    args = p.parse_args()
    principal, sep, secret = args.user.partition(":")
    if not sep:
        p.error("--user must be principal:secret")

    if os.path.isdir(LIB):
        sys.path.insert(0, LIB)
    try:
        import marathon
        from marathon import MarathonApp, MarathonClient
        from marathon.exceptions import NotFoundError
    except ImportError as e:
        print("SKIP: the marathon 0.13 client library is not importable (%s; "
              "scripts/packages.sh test unpacks it into %s)" % (e, LIB), flush=True)
        return 77

    # The library logs each HTTP error it raises; the step's JSON line carries the error already,
    # and the expected 404s while waiting for a deleted app's tasks are no failure.
    logging.getLogger("marathon").setLevel(logging.CRITICAL)
    step = "connect"
    try:
        client = MarathonClient(args.url, username=principal, password=secret, timeout=10)
        app_id = args.app_id

        step = "create"
        app = client.create_app(app_id, MarathonApp(cmd="sleep 1000", cpus=0.1, mem=32,
                                                    instances=1))
        if not app or app.id != app_id:
            raise StepFailed("create_app answered %r" % (app,))
        if app.instances != 1 or app.cmd != "sleep 1000":
            raise StepFailed("created app echoes instances=%r cmd=%r" % (app.instances, app.cmd))
        emit(step, id=app.id, instances=app.instances, cpus=app.cpus, mem=app.mem,
             version=app.version, library=os.path.dirname(marathon.__file__))

        step = "list"
        ids = [a.id for a in client.list_apps()]
        if app_id not in ids:
            raise StepFailed("list_apps lacks %s: %s" % (app_id, ids))
        emit(step, apps=ids)

        step = "scale"
        answer = client.scale_app(app_id, instances=2)
        if not isinstance(answer, dict) or "deploymentId" not in answer:
            raise StepFailed("scale_app answered %r" % (answer,))
        emit(step, instances=2, deploymentId=answer["deploymentId"])

        step = "running"

        def two_running():
            tasks = client.list_tasks(app_id)
            running = [t for t in tasks if t.state == "TASK_RUNNING"]
            return len(running) == 2, [(t.id, t.state) for t in tasks]

        wait_for("2 tasks TASK_RUNNING", args.timeout, two_running)
        tasks = client.list_tasks(app_id)
        emit(step, tasks=len(tasks))

        step = "tasks"
        described = []
        for t in tasks:
            if not t.id or not t.host or t.started_at is None:
                raise StepFailed("task lacks id, host or startedAt: %r" % (t.json_repr(),))
            if not all(isinstance(port, int) for port in t.ports):
                raise StepFailed("task %s ports are not integers: %r" % (t.id, t.ports))
            if t.app_id != app_id:
                raise StepFailed("task %s has appId %r" % (t.id, t.app_id))
            described.append({"id": t.id, "host": t.host, "ports": t.ports,
                              "startedAt": t.started_at.isoformat(), "state": t.state})
        if len({t["id"] for t in described}) != 2:
            raise StepFailed("task ids are not 2 distinct ids: %r" % (described,))
        emit(step, tasks=described)

        step = "delete"
        answer = client.delete_app(app_id)
        if not isinstance(answer, dict) or "deploymentId" not in answer:
            raise StepFailed("delete_app answered %r" % (answer,))
        emit(step, deploymentId=answer["deploymentId"])

        step = "stopped"
        ids = {t["id"] for t in described}

        def none_left():
            try:
                own = client.list_tasks(app_id)
            except NotFoundError:
                own = []
            everywhere = [t.id for t in client.list_tasks() if t.id in ids or t.app_id == app_id]
            left = [t.id for t in own] + everywhere
            return not left, left

        wait_for("no task of %s left" % app_id, args.timeout, none_left)
        ids = [a.id for a in client.list_apps()]
        if app_id in ids:
            raise StepFailed("list_apps still has %s after delete: %s" % (app_id, ids))
        emit(step, apps=ids)
    except StepFailed as e:
        emit(step, ok=False, error=str(e))
        return 1
    except Exception as e:  # the library's own errors (HTTP, TypeError on unknown fields, ...)
        text = str(e)
        if not text.startswith(type(e).__name__):
            text = "%s: %s" % (type(e).__name__, text)
        emit(step, ok=False, error=text,
             trace=traceback.format_exc().splitlines()[-3:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
