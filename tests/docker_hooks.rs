//! Issue 13: `--hooks_dir` for DOCKER containers against a private dockerd. The `prelaunch`
//! hook's variables reach the container's environment; `postfetch` runs once the URIs are in
//! the sandbox; a failing hook fails the launch with its stderr, a hanging one is killed at
//! `--hooks_timeout`; `remove` runs at REMOVE_CONTAINER.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod dockerd_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{resources, root_or_skip, Agent};
use dockerd_support::Dockerd;
use serde_json::{json, Value};

const IMAGE: &str = "mesolite-test/busybox:1";

const PRELAUNCH: &str = r#"req=$(cat)
case "$MESOS_CONTAINER_ID" in
  bad) echo "no thanks for bad" >&2; exit 3;;
  hang) exec sleep 1000;;
esac
case "$req" in *'"container_id"'*) ;; *) echo "no request: $req" >&2; exit 1;; esac
echo '{"environment": {"variables": [{"name": "HOOKED", "value": "by-the-hook"}]}}'"#;

fn launch(agent: &Agent, id: &str, command: Value) -> (u16, String) {
    let body = json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id}, "command": command,
        "resources": resources(0.1, 32.0),
        "container": {"type": "DOCKER", "docker": {"image": IMAGE, "network": "NONE"}}}});
    match agent.client().post_json("/api/v1", &body) {
        Ok(r) => (r.status, r.text()),
        Err(e) => panic!("LAUNCH {id}: {e:?}\n{}", agent.log_text()),
    }
}

#[test]
fn docker_containers_run_the_hooks() {
    if !root_or_skip("docker_hooks") {
        return;
    }
    let Some((_one, dir)) = dockerd_support::scratch("dockerhooks") else {
        return;
    };
    let hooks = dir.join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let removed = dir.join("removed.log");
    for (name, body) in [
        ("prelaunch", PRELAUNCH.to_string()),
        (
            "postfetch",
            "echo postfetch > \"$MESOS_SANDBOX/postfetch-ran\"".into(),
        ),
        (
            "remove",
            format!("echo \"$MESOS_CONTAINER_ID\" >> {}", removed.display()),
        ),
    ] {
        let path = hooks.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let Some(docker) = Dockerd::start(&dir.join("docker")) else {
        return;
    };
    docker.import_busybox(&dir, IMAGE);
    let socket_flag = format!(
        "--docker_socket={}",
        dir.join("docker/docker.sock").display()
    );
    let hooks_flag = format!("--hooks_dir={}", hooks.display());
    let agent = Agent::start(&[
        "--containerizers=docker",
        &socket_flag,
        &hooks_flag,
        "--hooks_timeout=3secs",
    ]);

    // prelaunch adds HOOKED; postfetch ran after the fetch, before the container.
    let file = dir.join("fetched.txt");
    std::fs::write(&file, "x\n").unwrap();
    let (status, text) = launch(
        &agent,
        "ok",
        json!({"value": "echo HOOKED=$HOOKED; cat $MESOS_SANDBOX/postfetch-ran",
               "uris": [{"value": file.to_str().unwrap(), "extract": false}]}),
    );
    assert_eq!(status, 200, "{text}\n{}", agent.log_text());
    assert_eq!(agent.wait_json("ok")["state"], "TASK_FINISHED");
    let out = std::fs::read_to_string(agent.sandbox("ok").join("stdout")).unwrap();
    assert_eq!(out, "HOOKED=by-the-hook\npostfetch\n");

    // A failing prelaunch hook: its stderr in the message, no Docker container made.
    let (status, text) = launch(&agent, "bad", json!({"value": "echo ran"}));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("prelaunch hook") && text.contains("no thanks for bad"),
        "{text}"
    );
    let names = docker.run(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!names.contains("mesos-bad"), "{names}");

    // A hanging one is killed at --hooks_timeout.
    let started = Instant::now();
    let (status, text) = launch(&agent, "hang", json!({"value": "echo ran"}));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("timed out"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(30));

    // remove runs at REMOVE_CONTAINER.
    assert_eq!(agent.remove("ok").status, 200);
    Agent::eventually("the remove hook ran", Duration::from_secs(10), || {
        std::fs::read_to_string(&removed).is_ok_and(|s| s.contains("ok"))
    });
    drop(agent);
    drop(docker);
    let _ = std::fs::remove_dir_all(&dir);
}
