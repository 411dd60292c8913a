#!/usr/bin/python3
"""A tiny Marathon for marathon_client.py's own check (tests/apps_support_check.rs).

Not a model of mesolite: it exists so the client script is known right before it runs against the
agent. It serves the part of Marathon's REST API v2 that the script's steps reach, the way
Marathon 1.x answers them:

  POST   /v2/apps                 201 + the app with Marathon's defaults; 409 if the id exists
  GET    /v2/apps                 {"apps": [...]}
  GET    /v2/apps/<id>            {"app": {...}}; 404 {"message": "App '/x' does not exist"}
  PUT    /v2/apps/<id>?force=..   200 {"deploymentId", "version"} (the client's scale sends
                                  {"instances": N} to /v2/apps//<id>: slashes are folded)
  DELETE /v2/apps/<id>            200 {"deploymentId", "version"}; the app is gone at once, its
                                  tasks are killed a moment later (they stay in /v2/tasks)
  GET    /v2/apps/<id>/tasks      {"tasks": [...]}
  GET    /v2/tasks                {"tasks": [...]}

Tasks are TASK_STAGING for --stage-seconds, then TASK_RUNNING; killed tasks linger as
TASK_KILLING for --kill-seconds. Every request needs HTTP Basic credentials equal to --user
(mesolite's TCP listener wants them for writes; here for all, so a client that forgets them
fails). A request body field Marathon does not know is a 422, as Marathon's own validation
does. --fault makes it misbehave so the check can see the client fail:
  never-run      tasks stay TASK_STAGING (the client must time out and exit non-zero);
  unknown-field  answers carry a field Marathon's models lack (the client library raises).

Prints "listening <port>" on stdout once bound (--port 0 takes a free one).
"""

import argparse
import base64
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

# Marathon's AppDefinition fields (the writable ones a client may send).
APP_FIELDS = {
    "id", "cmd", "args", "user", "env", "instances", "cpus", "mem", "disk", "gpus", "executor",
    "constraints", "uris", "fetch", "storeUrls", "ports", "portDefinitions", "requirePorts",
    "backoffSeconds", "backoffFactor", "maxLaunchDelaySeconds", "container", "healthChecks",
    "readinessChecks", "dependencies", "upgradeStrategy", "labels", "acceptedResourceRoles",
    "ipAddress", "version", "residency", "secrets", "taskKillGracePeriodSeconds",
    "unreachableStrategy", "killSelection", "networks", "role",
}


def now_iso(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def norm_id(raw):
    """An app id as Marathon keeps it: absolute, no doubled or trailing slashes."""
    parts = [p for p in raw.split("/") if p]
    return "/" + "/".join(parts)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.apps = {}  # id -> app dict
        self.tasks = []  # dicts with "_born"/"_killed" times beside Marathon's fields
        self.next_port = 31000

    def version(self):
        return now_iso()

    def app_answer(self, app):
        out = dict(app)
        live = [t for t in self.tasks if t["appId"] == app["id"] and t["_killed"] is None]
        out["tasksRunning"] = sum(1 for t in live if self.task_state(t) == "TASK_RUNNING")
        out["tasksStaged"] = sum(1 for t in live if self.task_state(t) == "TASK_STAGING")
        out["tasksHealthy"] = 0
        out["tasksUnhealthy"] = 0
        out["deployments"] = []
        if self.args.fault == "unknown-field":
            out["mesoliteExtra"] = True
        return out

    def task_state(self, t):
        now = time.time()
        if t["_killed"] is not None:
            return "TASK_KILLING"
        if self.args.fault == "never-run" or now - t["_born"] < self.args.stage_seconds:
            return "TASK_STAGING"
        return "TASK_RUNNING"

    def task_answer(self, t):
        out = {k: v for k, v in t.items() if not k.startswith("_")}
        out["state"] = self.task_state(t)
        if out["state"] == "TASK_RUNNING":
            out["startedAt"] = now_iso(t["_born"] + self.args.stage_seconds)
        return out

    def reap(self):
        """Drops killed tasks whose kill has completed."""
        now = time.time()
        self.tasks = [t for t in self.tasks
                      if t["_killed"] is None or now - t["_killed"] < self.args.kill_seconds]

    def reconcile(self, app):
        live = [t for t in self.tasks if t["appId"] == app["id"] and t["_killed"] is None]
        for t in live[app["instances"]:]:
            t["_killed"] = time.time()
        for _ in range(app["instances"] - len(live)):
            port = self.next_port
            self.next_port += 1
            self.tasks.append({
                "id": "%s.%s" % (app["id"].strip("/").replace("/", "_"), uuid.uuid4()),
                "appId": app["id"], "host": "127.0.0.1", "ports": [port],
                "servicePorts": [p["port"] for p in app["portDefinitions"]],
                "slaveId": "fake-agent-S0", "stagedAt": now_iso(), "startedAt": None,
                "version": app["version"], "healthCheckResults": [], "ipAddresses": [],
                "_born": time.time(), "_killed": None,
            })


def with_defaults(body, version):
    app = {
        "cmd": None, "args": None, "user": None, "env": {}, "instances": 1, "cpus": 1.0,
        "mem": 128.0, "disk": 0.0, "gpus": 0, "executor": "", "constraints": [], "uris": [],
        "fetch": [], "storeUrls": [], "backoffSeconds": 1, "backoffFactor": 1.15,
        "maxLaunchDelaySeconds": 3600, "container": None, "healthChecks": [],
        "readinessChecks": [], "dependencies": [],
        "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
        "labels": {}, "ipAddress": None, "secrets": {}, "taskKillGracePeriodSeconds": None,
        "unreachableStrategy": {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600},
        "killSelection": "YOUNGEST_FIRST", "requirePorts": False,
        "portDefinitions": [{"port": 10000, "protocol": "tcp", "labels": {}}],
    }
    app.update(body)
    app["id"] = norm_id(body["id"])
    app["version"] = version
    app["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": version}
    return app


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-marathon"

    def log_message(self, fmt, *a):
        sys.stderr.write("fake_marathon: %s\n" % (fmt % a))

    def send_json(self, code, value):
        body = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorised(self):
        want = "Basic " + base64.b64encode(self.server.state.args.user.encode()).decode()
        if self.headers.get("Authorization") == want:
            return True
        self.send_json(401, {"message": "Invalid username or password."})
        return False

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else None

    def route(self, method):
        # The body is read first, whatever the answer: left unread it would be taken for the
        # next request on this keep-alive connection.
        try:
            body = self.body()
        except ValueError as e:
            return self.send_json(400, {"message": "Invalid JSON: %s" % e})
        if not self.authorised():
            return
        url = urlsplit(self.path)
        path = re.sub("/+", "/", url.path)
        query = parse_qs(url.query)
        st = self.server.state
        with st.lock:
            st.reap()
            if path == "/v2/apps" and method == "POST":
                unknown = sorted(set(body or {}) - APP_FIELDS)
                if unknown or not (body or {}).get("id"):
                    return self.send_json(422, {"message": "Object is not valid", "details": [
                        {"path": "/" + (unknown[0] if unknown else "id"),
                         "errors": ["error.unknown" if unknown else "error.path.missing"]}]})
                app_id = norm_id(body["id"])
                if app_id in st.apps:
                    return self.send_json(409, {
                        "message": "An app with id [%s] already exists." % app_id})
                app = with_defaults(body, st.version())
                st.apps[app_id] = app
                st.reconcile(app)
                return self.send_json(201, st.app_answer(app))
            if path == "/v2/apps" and method == "GET":
                return self.send_json(200, {"apps": [st.app_answer(a) for a in st.apps.values()]})
            if path == "/v2/tasks" and method == "GET":
                return self.send_json(200, {"tasks": [st.task_answer(t) for t in st.tasks]})
            m = re.fullmatch(r"/v2/apps(/.+?)(/tasks)?", path)
            if not m:
                return self.send_json(404, {"message": "Not found: %s %s" % (method, path)})
            app_id, tasks = norm_id(m.group(1)), m.group(2)
            app = st.apps.get(app_id)
            if app is None:
                return self.send_json(404, {"message": "App '%s' does not exist" % app_id})
            if tasks and method == "GET":
                return self.send_json(200, {"tasks": [
                    st.task_answer(t) for t in st.tasks if t["appId"] == app_id]})
            if tasks:
                return self.send_json(405, {"message": "method not allowed"})
            if method == "GET":
                return self.send_json(200, {"app": st.app_answer(app)})
            deployment = {"deploymentId": str(uuid.uuid4()), "version": st.version()}
            if method == "PUT":
                if query.get("force", ["false"])[0].lower() not in ("true", "false"):
                    return self.send_json(400, {"message": "force must be true or false"})
                unknown = sorted(set(body or {}) - APP_FIELDS)
                if unknown:
                    return self.send_json(422, {"message": "Object is not valid", "details": [
                        {"path": "/" + unknown[0], "errors": ["error.unknown"]}]})
                app.update({k: v for k, v in body.items() if k != "id"})
                app["version"] = deployment["version"]
                st.reconcile(app)
                return self.send_json(200, deployment)
            if method == "DELETE":
                del st.apps[app_id]
                for t in st.tasks:
                    if t["appId"] == app_id and t["_killed"] is None:
                        t["_killed"] = time.time()
                return self.send_json(200, deployment)
            return self.send_json(405, {"message": "method not allowed"})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user", required=True, help="principal:secret every request must carry")
    p.add_argument("--stage-seconds", type=float, default=0.5)
    p.add_argument("--kill-seconds", type=float, default=0.5)
    p.add_argument("--fault", choices=["never-run", "unknown-field"])
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    print("listening %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
