//! The TCP listener (`--ip`, `--port`): the seed's curl command, read-only without
//! credentials, HTTP Basic with `--http_credentials`, the unix socket unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::tcp::{basic, call, free_port, get, port_is_free};
use common::{resources, root_or_skip, Agent};
use serde_json::json;

fn launch_call(id: &str) -> serde_json::Value {
    json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id},
        "command": {"value": "sleep 1000", "shell": true},
        "resources": resources(0.1, 32.0)}})
}

/// A credentials file in Mesos's format in the agent's own directory.
fn credentials_file(dir: &std::path::Path, json: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("credentials.json");
    std::fs::write(&path, json).unwrap();
    path.display().to_string()
}

const CREDS: &str = r#"{"credentials": [{"principal": "ops", "secret": "s3cret"}]}"#;

#[test]
fn the_seeds_curl_command_works_over_tcp() {
    if !root_or_skip("tcp seed command") {
        return;
    }
    // Port 5051 exactly when it is free; a parallel test or agent may hold it.
    let port = if port_is_free(5051) {
        5051
    } else {
        let p = free_port();
        println!("port 5051 is taken here: the seed's command runs against port {p} instead");
        p
    };
    let agent = Agent::start(&[&format!("--port={port}")]);
    let port = agent.port();
    assert_eq!(
        agent
            .launch_shell("seed-1", "sleep 1000", resources(0.1, 32.0))
            .status,
        200
    );
    let cmd = format!("curl -s http://localhost:{port}/monitor/statistics | python3 -mjson.tool");
    let out = Command::new("sh").args(["-c", &cmd]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{cmd}: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["container_id"] == "seed-1")
        .unwrap_or_else(|| panic!("no seed-1 in {text}"));
    assert_eq!(entry["executor_id"], "seed-1");
    assert!(entry["statistics"]["timestamp"].as_f64().unwrap() > 0.0);
    assert!(entry["statistics"]["mem_rss_bytes"].is_u64(), "{entry}");
    // python's json.tool indents: the answer was pretty-printed, not merely passed through.
    assert!(text.contains("\n    {"), "{text}");
}

/// The harness's answer to a port taken between `free_port` and the agent's bind: the agent
/// exits ("Failed to listen on TCP") and is started again on another port.
#[test]
fn an_agent_whose_port_is_taken_is_started_again_on_another() {
    if !root_or_skip("tcp port taken") {
        return;
    }
    let port = free_port();
    let holder = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
    let agent = Agent::start(&[&format!("--port={port}")]);
    assert_ne!(agent.port(), port);
    assert_eq!(get(agent.port(), "/health", None).status, 200);
    let log = agent.log_text();
    assert!(
        log.contains(&format!("Failed to listen on TCP 0.0.0.0:{port}")),
        "{log}"
    );
    drop(holder);
}

#[test]
fn without_credentials_tcp_is_read_only() {
    if !root_or_skip("tcp read-only") {
        return;
    }
    let agent = Agent::start_tcp(&[]);
    let port = agent.port();
    let refused = call(port, &launch_call("tcp-no"), None);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("read-only without credentials"),
        "{}",
        refused.text()
    );
    assert!(agent.container("tcp-no").is_none(), "refused but launched");
    // A login changes nothing when the agent has no credentials to check it against.
    let with_login = call(port, &launch_call("tcp-no"), Some(&basic("ops", "s3cret")));
    assert_eq!(with_login.status, 403);
    // The unix socket keeps its model: a local client may launch.
    assert_eq!(
        agent
            .launch_shell("tcp-local", "sleep 1000", resources(0.1, 32.0))
            .status,
        200
    );
    for mutating in [
        json!({"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": "tcp-local"}}}),
        json!({"type": "REMOVE_CONTAINER", "remove_container": {"container_id": {"value": "tcp-local"}}}),
        json!({"type": "PRUNE_IMAGES"}),
        json!({"type": "NOT_A_CALL"}),
    ] {
        let r = call(port, &mutating, None);
        assert_eq!(r.status, 403, "{mutating}: {}", r.text());
    }
    assert_eq!(agent.container("tcp-local").unwrap()["state"], "RUNNING");
    for path in [
        "/monitor/statistics",
        "/metrics",
        "/containers",
        "/health",
        "/flags",
        "/version",
    ] {
        assert_eq!(get(port, path, None).status, 200, "{path}");
    }
    let listed = call(port, &json!({"type": "GET_CONTAINERS"}), None);
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.json()["get_containers"]["containers"][0]["container_id"]["value"],
        "tcp-local"
    );
    for read in ["GET_HEALTH", "GET_VERSION", "GET_FLAGS", "GET_METRICS"] {
        assert_eq!(
            call(port, &json!({"type": read}), None).status,
            200,
            "{read}"
        );
    }
    let wait = call(
        port,
        &json!({"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": "nope"}}}),
        None,
    );
    assert_eq!(wait.status, 404, "WAIT reads: it reaches the handler");
}

#[test]
fn credentials_allow_writes_to_the_right_login_only() {
    if !root_or_skip("tcp credentials") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-creds-{}", std::process::id()));
    let creds = credentials_file(&dir, CREDS);
    let agent = Agent::start_tcp(&[
        &format!("--http_credentials={creds}"),
        "--authenticate_http_readwrite",
    ]);
    let port = agent.port();
    let ok = call(
        port,
        &launch_call("tcp-auth"),
        Some(&basic("ops", "s3cret")),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(agent.container("tcp-auth").unwrap()["state"], "RUNNING");
    assert!(agent
        .log_text()
        .contains("LAUNCH_CONTAINER tcp-auth from TCP 127.0.0.1:"));

    let wrong = call(
        port,
        &launch_call("tcp-wrong"),
        Some(&basic("ops", "guess")),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    assert_eq!(
        wrong.header("WWW-Authenticate"),
        Some("Basic realm=\"mesos\"")
    );
    assert!(agent.container("tcp-wrong").is_none());
    Agent::eventually(
        "the failed login's log line",
        Duration::from_secs(10),
        || {
            agent
                .log_text()
                .lines()
                .any(|l| l.contains("Failed HTTP login from 127.0.0.1:") && l.contains("'ops'"))
        },
    );
    let none = call(port, &launch_call("tcp-none"), None);
    assert_eq!(none.status, 401);
    for garbage in [
        "Basic !!!!",
        "Basic",
        "Bearer abc",
        "basic",
        "Basic c2VjcmV0",
        "Basic ////////////////////////////////////////////////////////////////",
    ] {
        let r = call(port, &launch_call("tcp-garbage"), Some(garbage));
        assert_eq!(r.status, 401, "{garbage:?}: {}", r.text());
    }
    assert!(agent.container("tcp-garbage").is_none());
    assert_eq!(
        get(port, "/health", None).status,
        200,
        "alive after garbage"
    );
    // Reads need no login unless --authenticate_http_readonly.
    assert_eq!(get(port, "/monitor/statistics", None).status, 200);
    let kill = call(
        port,
        &json!({"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": "tcp-auth"}}}),
        Some(&basic("ops", "s3cret")),
    );
    assert_eq!(kill.status, 200, "{}", kill.text());
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn readonly_authentication_guards_reads_on_tcp_only() {
    if !root_or_skip("tcp readonly auth") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-creds-ro-{}", std::process::id()));
    let creds = credentials_file(&dir, CREDS);
    let agent = Agent::start_tcp(&[
        &format!("--http_credentials={creds}"),
        "--authenticate_http_readonly",
    ]);
    let port = agent.port();
    for path in ["/monitor/statistics", "/metrics", "/containers", "/flags"] {
        let r = get(port, path, None);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"mesos\""));
        assert_eq!(get(port, path, Some(&basic("ops", "nope"))).status, 401);
        assert_eq!(get(port, path, Some(&basic("ops", "s3cret"))).status, 200);
    }
    let r = call(port, &json!({"type": "GET_CONTAINERS"}), None);
    assert_eq!(r.status, 401);
    // Writes stay refused without --authenticate_http_readwrite, even to a good login.
    let w = call(port, &launch_call("ro-w"), Some(&basic("ops", "s3cret")));
    assert_eq!(w.status, 403, "{}", w.text());
    // The unix socket asks for nothing.
    assert_eq!(
        agent.client().get("/monitor/statistics").unwrap().status,
        200
    );
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts an agent that should refuse to start; its exit status and stderr.
fn start_refused(extra: &[String]) -> (std::process::ExitStatus, String) {
    let dir = std::env::temp_dir().join(format!(
        "mltest-refused-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = vec![
        "agent".to_string(),
        format!("--work_dir={}", dir.join("work").display()),
        format!("--runtime_dir={}", dir.join("run").display()),
        format!("--socket={}", dir.join("agent.sock").display()),
        format!("--cgroups_root=mltest-refused-{}", std::process::id()),
        "--isolation=filesystem/posix".to_string(),
        "--launcher=posix".to_string(),
    ];
    args.extend(extra.iter().cloned());
    let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(&args)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_credentials_stop_the_agent_with_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("mltest-badcreds-{}", std::process::id()));
    let port = free_port();
    let cases = [
        ("{not json", "Failed to parse --http_credentials"),
        (r#"{"credentials": []}"#, "lists no credentials"),
        (
            r#"{"credentials": [{"principal": "", "secret": "x"}]}"#,
            "empty principal",
        ),
        (r#"{"users": []}"#, "Failed to parse --http_credentials"),
    ];
    for (content, said) in cases {
        let path = credentials_file(&dir, content);
        let (status, stderr) = start_refused(&[
            format!("--port={port}"),
            format!("--http_credentials={path}"),
        ]);
        assert!(!status.success(), "{content}: started");
        assert!(stderr.contains(said), "{content}: {stderr}");
    }
    let missing = dir.join("missing.json");
    let (status, stderr) = start_refused(&[
        format!("--port={port}"),
        format!("--http_credentials={}", missing.display()),
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("Failed to read --http_credentials") && stderr.contains("missing.json"),
        "{stderr}"
    );
    let (status, stderr) = start_refused(&[
        format!("--port={port}"),
        "--authenticate_http_readwrite".to_string(),
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("--authenticate_http_readwrite needs --http_credentials"),
        "{stderr}"
    );
    let (status, stderr) = start_refused(&["--port=70000".to_string()]);
    assert!(!status.success());
    assert!(stderr.contains("port"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
