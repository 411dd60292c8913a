//! Small parts of issue 13 against a private dockerd: a Docker container the OOM killer ends is
//! reported as Mesos's memory limitation; the composing containerizer's metrics count every
//! member's launches; a Docker-only agent empties the trash a previous agent left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod dockerd_support;

use std::time::Duration;

use common::{resources, root_or_skip, Agent};
use dockerd_support::Dockerd;
use serde_json::{json, Value};

const IMAGE: &str = "mesolite-test/busybox:1";

fn metric(agent: &Agent, name: &str) -> f64 {
    let r = agent.client().get("/metrics/snapshot").unwrap();
    assert_eq!(r.status, 200);
    let v: Value = r.json().unwrap();
    v[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[test]
fn docker_oom_metrics_and_trash() {
    if !root_or_skip("docker_gaps") {
        return;
    }
    let Some((_one, dir)) = dockerd_support::scratch("dockergaps") else {
        return;
    };
    let Some(docker) = Dockerd::start(&dir.join("docker")) else {
        return;
    };
    docker.import_busybox(&dir, IMAGE);
    let socket_flag = format!(
        "--docker_socket={}",
        dir.join("docker/docker.sock").display()
    );
    let agent = Agent::start(&["--containerizers=docker,mesos", &socket_flag]);

    // OOMKilled: a 200 MB buffer in a 32 MB container.
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "oom"},
        "command": {"value": "dd if=/dev/zero of=/dev/null bs=200M count=1"},
        "resources": resources(0.1, 32.0),
        "container": {"type": "DOCKER", "docker": {"image": IMAGE, "network": "NONE"}}}}));
    assert_eq!(r.status, 200, "{}", r.text());
    let w = agent.wait_json("oom");
    assert_eq!(w["state"], "TASK_FAILED", "{w}");
    assert_eq!(w["reason"], "REASON_CONTAINER_LIMITATION_MEMORY", "{w}");
    assert!(
        w["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Memory limit exceeded"),
        "{w}"
    );

    // Metrics of both members: one DOCKER launch (above) and one MESOS launch.
    let r = agent.launch_shell("m1", "true", resources(0.1, 32.0));
    assert_eq!(r.status, 200, "{}", r.text());
    agent.wait_json("m1");
    assert_eq!(metric(&agent, "containerizer/mesos/launches"), 2.0);
    drop(agent);

    // A Docker-only agent empties what a previous agent left in the trash.
    let mut agent = Agent::start(&["--containerizers=docker", &socket_flag]);
    agent.stop();
    let left = agent.work_dir.join("trash/left-by-another");
    std::fs::create_dir_all(left.join("sub")).unwrap();
    std::fs::write(left.join("sub/file"), "x").unwrap();
    let agent = agent.restart();
    Agent::eventually("the trash emptied", Duration::from_secs(20), || {
        !left.exists()
    });
    drop(agent);
    drop(docker);
    let _ = std::fs::remove_dir_all(&dir);
}
