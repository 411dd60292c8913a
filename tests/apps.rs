//! Apps (issue 16) on MESOS containers against the real kernel: instances kept running and a
//! killed one replaced within the backoff, scaling, a rolling change that never drops below
//! the minimum health capacity, apps and instances across an agent restart, Marathon's 422s,
//! the TCP listener's credentials, and the `mesolite app` CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use mesolite::http::ClientResponse;
use serde_json::{json, Value};

const JSON: [(&str, &str); 1] = [("Content-Type", "application/json")];

fn post_app(agent: &Agent, app: &Value) -> ClientResponse {
    agent
        .client()
        .request("POST", "/v2/apps", &JSON, app.to_string().as_bytes())
        .unwrap()
}

fn put_app(agent: &Agent, id: &str, body: &Value) -> ClientResponse {
    agent
        .client()
        .request(
            "PUT",
            &format!("/v2/apps/{id}"),
            &JSON,
            body.to_string().as_bytes(),
        )
        .unwrap()
}

fn get_json(agent: &Agent, path: &str) -> Value {
    let r = agent.client().get(path).unwrap();
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json().unwrap()
}

fn tasks(agent: &Agent, id: &str) -> Vec<Value> {
    get_json(agent, &format!("/v2/apps/{id}/tasks"))["tasks"]
        .as_array()
        .unwrap()
        .clone()
}

fn running(agent: &Agent, id: &str) -> Vec<Value> {
    tasks(agent, id)
        .into_iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .collect()
}

fn wait_running(agent: &Agent, id: &str, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    Agent::eventually(
        &format!("{n} running instances of {id}"),
        Duration::from_secs(30),
        || {
            got = running(agent, id);
            got.len() == n && tasks(agent, id).len() == n
        },
    );
    got
}

fn container_of(task: &Value) -> String {
    task["id"].as_str().unwrap().replace('.', "_")
}

fn sleeper(id: &str, instances: u32) -> Value {
    json!({"id": id, "cmd": "echo $PORT0 > port; exec sleep 1000", "cpus": 0.05, "mem": 16,
           "instances": instances, "backoffSeconds": 1})
}

fn pid_of(agent: &Agent, container: &str) -> i32 {
    agent.container(container).unwrap()["container_status"]["executor_pid"]
        .as_i64()
        .unwrap() as i32
}

#[test]
fn instances_are_kept_running_and_a_killed_one_is_replaced_within_the_backoff() {
    if !root_or_skip("apps keep running") {
        return;
    }
    let agent = Agent::start(&["--resources=ports:[31000-31009]"]);
    let r = post_app(&agent, &sleeper("web", 2));
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json().unwrap();
    assert_eq!(created["id"], "/web");
    assert_eq!(
        created["backoffFactor"], 1.15,
        "defaults are filled: {created}"
    );
    let first = wait_running(&agent, "web", 2);
    // Each instance got its own port from the range, exported as PORT0.
    let mut ports: Vec<i64> = first
        .iter()
        .map(|t| t["ports"][0].as_i64().unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, vec![31000, 31001]);
    for t in &first {
        let file = agent.sandbox(&container_of(t)).join("port");
        Agent::eventually("the task wrote PORT0", Duration::from_secs(10), || {
            file.exists()
        });
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text.trim(),
            t["ports"][0].to_string(),
            "PORT0 of {}",
            t["id"]
        );
        assert!(t["startedAt"].as_str().unwrap().ends_with('Z'));
    }
    // Kill one instance's processes: its container ends, a new one runs within the backoff.
    let victim = first[0]["id"].as_str().unwrap().to_string();
    let pid = pid_of(&agent, &container_of(&first[0]));
    let killed = Instant::now();
    // SAFETY: a pid of this test's agent's container init.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let mut replaced = Vec::new();
    Agent::eventually("a replacement instance", Duration::from_secs(30), || {
        replaced = running(&agent, "web");
        replaced.len() == 2 && replaced.iter().all(|t| t["id"] != victim.as_str())
    });
    let took = killed.elapsed();
    println!("replacement running {took:?} after the kill (backoffSeconds 1)");
    assert!(took < Duration::from_secs(15), "{took:?}");
    let app = get_json(&agent, "/v2/apps/web?embed=apps.restarts")["app"].clone();
    assert_eq!(app["restarts"], 1, "{app}");
    assert_eq!(app["tasksRunning"], 2);
    assert_eq!(app["lastTaskFailure"]["taskId"], victim.as_str());
    assert_eq!(app["lastTaskFailure"]["state"], "TASK_FAILED");
    // Without the addition asked for, only Marathon's fields.
    let plain = get_json(&agent, "/v2/apps")["apps"][0].clone();
    assert!(plain.get("restarts").is_none());
    assert_eq!(
        get_json(&agent, "/v2/tasks")["tasks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn scaling_and_a_rolling_change_never_go_below_the_minimum_health_capacity() {
    if !root_or_skip("apps scale and roll") {
        return;
    }
    let agent = Agent::start(&[]);
    assert_eq!(post_app(&agent, &sleeper("roll", 2)).status, 201);
    wait_running(&agent, "roll", 2);
    // The Python client's scale: a partial PUT, with its odd double slash and force=False.
    let r = agent
        .client()
        .request(
            "PUT",
            "/v2/apps//roll?force=False",
            &JSON,
            br#"{"instances": 3}"#,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().unwrap()["deploymentId"].is_string());
    wait_running(&agent, "roll", 3);
    let three = running(&agent, "roll");
    assert_eq!(
        put_app(&agent, "roll", &json!({"instances": 1})).status,
        200
    );
    let one = wait_running(&agent, "roll", 1);
    // The youngest went first (Marathon's default killSelection): the oldest is left.
    let oldest = three
        .iter()
        .min_by_key(|t| t["stagedAt"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(one[0]["id"], oldest["id"]);

    // A rolling change of mem, 4 instances, at most 2 may be down and none over.
    let strategy = json!({"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0});
    let r = put_app(
        &agent,
        "roll",
        &json!({"instances": 4, "upgradeStrategy": strategy}),
    );
    assert_eq!(r.status, 200);
    wait_running(&agent, "roll", 4);
    // The strategy is a config change: its own roll ends before the one measured.
    Agent::eventually("the first roll is over", Duration::from_secs(30), || {
        get_json(&agent, "/v2/deployments")
            .as_array()
            .unwrap()
            .is_empty()
    });
    let before = wait_running(&agent, "roll", 4);
    let old_version = before[0]["version"].as_str().unwrap().to_string();
    let r = put_app(&agent, "roll", &json!({"mem": 24}));
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lowest = usize::MAX;
    let mut highest = 0;
    let mut saw_deployment = false;
    loop {
        let t = tasks(&agent, "roll");
        let up = t.iter().filter(|t| t["state"] == "TASK_RUNNING").count();
        lowest = lowest.min(up);
        highest = highest.max(t.len());
        saw_deployment |= !get_json(&agent, "/v2/deployments")
            .as_array()
            .unwrap()
            .is_empty();
        let done = t.len() == 4
            && t.iter()
                .all(|t| t["state"] == "TASK_RUNNING" && t["version"] != old_version.as_str());
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rolling change did not finish: {t:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("rolling change: at least {lowest} running, at most {highest} instances");
    assert!(
        lowest >= 2,
        "dropped to {lowest} running instances, below 0.5 x 4"
    );
    assert!(highest <= 4, "{highest} instances, over capacity 0");
    assert!(saw_deployment, "the change was listed in /v2/deployments");
    let app = get_json(&agent, "/v2/apps/roll")["app"].clone();
    assert_eq!(app["mem"], 24.0);
    // A config change is the app's new version (and also its last scaling, as Marathon's).
    assert_eq!(app["versionInfo"]["lastConfigChangeAt"], app["version"]);
    assert_ne!(app["version"], old_version.as_str());
    Agent::eventually("the deployment is over", Duration::from_secs(10), || {
        get_json(&agent, "/v2/deployments")
            .as_array()
            .unwrap()
            .is_empty()
    });
    // Deleting the app kills its instances.
    let r = agent
        .client()
        .request("DELETE", "/v2/apps/roll", &[], &[])
        .unwrap();
    assert_eq!(r.status, 200);
    Agent::eventually("the app is gone", Duration::from_secs(30), || {
        agent.client().get("/v2/apps/roll").unwrap().status == 404
            && agent
                .containers()
                .iter()
                .all(|c| c["state"] == "TERMINATED")
    });
}

#[test]
fn apps_and_their_instances_continue_across_an_agent_restart() {
    if !root_or_skip("apps across a restart") {
        return;
    }
    let mut agent = Agent::start(&[]);
    assert_eq!(post_app(&agent, &sleeper("keep", 2)).status, 201);
    let before = wait_running(&agent, "keep", 2);
    let pids: Vec<i32> = before
        .iter()
        .map(|t| pid_of(&agent, &container_of(t)))
        .collect();
    agent.sigkill();
    let log_len = agent.log_text().len();
    let agent = agent.restart();
    let after = wait_running(&agent, "keep", 2);
    let ids = |v: &[Value]| {
        let mut ids: Vec<String> = v
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&before), ids(&after));
    for (t, pid) in before.iter().zip(&pids) {
        assert_eq!(
            pid_of(&agent, &container_of(t)),
            *pid,
            "the same process runs"
        );
        let same = after.iter().find(|a| a["id"] == t["id"]).unwrap();
        assert_eq!(same["startedAt"], t["startedAt"]);
        assert_eq!(same["ports"], t["ports"]);
    }
    let new_log = agent.log_text()[log_len..].to_string();
    assert!(
        !new_log.contains("launching task"),
        "relaunched after the restart:\n{new_log}"
    );
    assert_eq!(get_json(&agent, "/v2/apps/keep")["app"]["instances"], 2);
}

#[test]
fn bad_definitions_get_marathons_422_and_launch_nothing() {
    if !root_or_skip("apps 422") {
        return;
    }
    let agent = Agent::start(&[]);
    let bad = [
        (json!({"cmd": "sleep 1", "instances": 1}), "/id"),
        (json!({"id": "Bad_Id", "cmd": "sleep 1"}), "/id"),
        (
            json!({"id": "neg", "cmd": "sleep 1", "instances": -1}),
            "/instances",
        ),
        (
            json!({"id": "ports", "instances": 1, "container": {"type": "DOCKER", "docker": {
                "image": "busybox", "network": "BRIDGE",
                "portMappings": [{"containerPort": 70000, "hostPort": 0}]}}}),
            "/container/docker/portMappings(0)/containerPort",
        ),
        // Hostname constraints one node cannot meet: refused, not accepted and ignored.
        (
            json!({"id": "elsewhere", "cmd": "sleep 1",
                   "constraints": [["hostname", "CLUSTER", "some-other-host"]]}),
            "/constraints(0)",
        ),
        (
            json!({"id": "unique", "cmd": "sleep 1", "instances": 2,
                   "constraints": [["hostname", "UNIQUE"]]}),
            "/constraints(0)",
        ),
    ];
    for (app, path) in &bad {
        let r = post_app(&agent, app);
        assert_eq!(r.status, 422, "{app}: {}", r.text());
        let body = r.json().unwrap();
        assert_eq!(body["message"], "Object is not valid", "{body}");
        let details = body["details"].as_array().unwrap();
        assert!(
            details
                .iter()
                .any(|d| d["path"] == *path && !d["errors"].as_array().unwrap().is_empty()),
            "{app}: expected a violation at {path}: {body}"
        );
    }
    let r = agent
        .client()
        .request("POST", "/v2/apps", &JSON, b"{not json")
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(agent.containers().is_empty());
    assert!(get_json(&agent, "/v2/apps")["apps"]
        .as_array()
        .unwrap()
        .is_empty());
    // A hostname constraint this node meets is accepted.
    let host = get_json(&agent, "/v2/info")["marathon_config"]["hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let here = json!({"id": "here", "cmd": "exec sleep 1000", "cpus": 0.05, "mem": 16,
                      "constraints": [["hostname", "CLUSTER", host]]});
    let r = post_app(&agent, &here);
    assert_eq!(r.status, 201, "{}", r.text());
    wait_running(&agent, "here", 1);
    // An existing id: 409 unless force=true.
    assert_eq!(post_app(&agent, &sleeper("dup", 1)).status, 201);
    assert_eq!(post_app(&agent, &sleeper("dup", 1)).status, 409);
    assert_eq!(agent.client().get("/v2/apps/nope").unwrap().status, 404);
    let first = wait_running(&agent, "dup", 1)[0]["id"].clone();
    let r = agent
        .client()
        .request(
            "POST",
            "/v2/apps?force=true",
            &JSON,
            sleeper("dup", 1).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    // The old instance is killed and its container removed; only the new one is left.
    Agent::eventually(
        "only the new instance's container",
        Duration::from_secs(30),
        || {
            let dups = agent
                .containers()
                .iter()
                .filter(|c| {
                    c["container_id"]["value"]
                        .as_str()
                        .unwrap()
                        .starts_with("dup_")
                })
                .count();
            let t = running(&agent, "dup");
            dups == 1 && t.len() == 1 && t[0]["id"] != first
        },
    );
}

#[test]
fn writes_over_tcp_need_the_login_and_the_cli_deploys_lists_and_removes() {
    if !root_or_skip("apps over tcp and cli") {
        return;
    }
    let base = std::env::temp_dir().join(format!("mltest-apps-creds-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let creds = base.join("credentials.json");
    std::fs::write(
        &creds,
        r#"{"credentials": [{"principal": "ops", "secret": "s3cret"}]}"#,
    )
    .unwrap();
    let agent = Agent::start_tcp(&[
        &format!("--http_credentials={}", creds.display()),
        "--authenticate_http_readwrite",
    ]);
    let port = agent.port();
    let url = format!("http://127.0.0.1:{port}/v2/apps");
    let body = sleeper("tcp", 1).to_string();
    let curl = |extra: &[&str]| {
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            &url,
            "-d",
            &body,
        ]);
        c.args(extra);
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    assert_eq!(curl(&[]), "401", "an unauthenticated TCP write");
    assert_eq!(curl(&["-u", "ops:wrong"]), "401");
    assert_eq!(curl(&["-u", "ops:s3cret"]), "201");
    let ping = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/ping")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ping.stdout).trim(), "pong");
    wait_running(&agent, "tcp", 1);

    // The CLI, on the socket.
    let file = base.join("cli.json");
    std::fs::write(&file, sleeper("cli", 1).to_string()).unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
            .args(args)
            .arg(format!("--socket={}", agent.socket.display()))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["app", "deploy", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("/cli (deployment "), "{out}");
    wait_running(&agent, "cli", 1);
    // Deploying again updates it (a changed definition).
    std::fs::write(
        &file,
        json!({"id": "cli", "cmd": "exec sleep 999", "cpus": 0.05, "mem": 16}).to_string(),
    )
    .unwrap();
    let (code, out, err) = cli(&["app", "deploy", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    Agent::eventually("the new version runs", Duration::from_secs(30), || {
        let t = running(&agent, "cli");
        t.len() == 1
            && tasks(&agent, "cli").len() == 1
            && get_json(&agent, "/v2/apps/cli")["app"]["cmd"] == "exec sleep 999"
    });
    let (code, out, _) = cli(&["app", "ls"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("/cli") && out.contains("/tcp") && out.contains("RESTARTS"),
        "{out}"
    );
    std::fs::write(&file, r#"{"id": "cli", "cmd": "x", "instances": -2}"#).unwrap();
    let (code, _, err) = cli(&["app", "deploy", file.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("422") && err.contains("/instances"), "{err}");
    let (code, out, _) = cli(&["app", "rm", "cli"]);
    assert_eq!((code, out.trim()), (Some(0), "cli"));
    Agent::eventually("the app is gone", Duration::from_secs(30), || {
        agent.client().get("/v2/apps/cli").unwrap().status == 404
    });
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn health_checks_report_and_an_instance_failing_them_is_replaced() {
    if !root_or_skip("apps health checks") {
        return;
    }
    let agent = Agent::start(&[]);
    // An HTTP server in the sandbox: /healthy answers 200 while the file is there, 404 after.
    let app = json!({
        "id": "checked", "instances": 1, "cpus": 0.1, "mem": 64, "backoffSeconds": 1,
        "cmd": "touch healthy; exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1",
        "healthChecks": [
            {"protocol": "HTTP", "path": "/healthy", "portIndex": 0, "gracePeriodSeconds": 10,
             "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2,
             "delaySeconds": 0},
            {"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 10, "intervalSeconds": 1,
             "timeoutSeconds": 1, "maxConsecutiveFailures": 0, "delaySeconds": 0},
            {"protocol": "COMMAND", "command": {"value": "test \"$PORT0\" -gt 0 && test -d /proc/1"},
             "gracePeriodSeconds": 10, "intervalSeconds": 1, "timeoutSeconds": 5,
             "maxConsecutiveFailures": 0, "delaySeconds": 0}
        ]
    });
    let r = post_app(&agent, &app);
    assert_eq!(r.status, 201, "{}", r.text());
    let mut first = Value::Null;
    Agent::eventually("a healthy instance", Duration::from_secs(30), || {
        let a = get_json(&agent, "/v2/apps/checked")["app"].clone();
        first = a["tasks"][0].clone();
        a["tasksHealthy"] == 1
            && first["healthCheckResults"]
                .as_array()
                .is_some_and(|r| r.len() == 3 && r.iter().all(|c| c["alive"] == true))
    });
    let results = &first["healthCheckResults"][0];
    assert_eq!(results["consecutiveFailures"], 0);
    assert!(
        results["lastSuccess"].as_str().unwrap().ends_with('Z'),
        "{results}"
    );
    // The check starts failing: after 2 failures in a row the instance is replaced.
    let victim = first["id"].as_str().unwrap().to_string();
    std::fs::remove_file(agent.sandbox(&container_of(&first)).join("healthy")).unwrap();
    Agent::eventually("a healthy replacement", Duration::from_secs(60), || {
        let a = get_json(&agent, "/v2/apps/checked")["app"].clone();
        let t = &a["tasks"];
        a["tasksHealthy"] == 1 && t.as_array().unwrap().len() == 1 && t[0]["id"] != victim.as_str()
    });
    let app = get_json(&agent, "/v2/apps/checked?embed=apps.restarts")["app"].clone();
    assert_eq!(app["restarts"], 1, "{app}");
    assert_eq!(app["lastTaskFailure"]["taskId"], victim.as_str());
    assert!(
        app["lastTaskFailure"]["message"]
            .as_str()
            .unwrap()
            .contains("health check"),
        "{app}"
    );
}
