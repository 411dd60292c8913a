//! Issue 13 acceptance 5: the agent itself in a Docker container (`scripts/agent-in-docker.sh`,
//! configured by Mesos's `MESOS_*` variables as the seed's walkthrough does) against a private
//! dockerd. It launches a DOCKER and a MESOS task through its socket (bind-mounted out); its
//! container is killed and started again; the next agent re-adopts both tasks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod dockerd_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{resources, root_or_skip, Agent};
use dockerd_support::Dockerd;
use mesolite::http::Client;
use serde_json::{json, Value};

const TASK_IMAGE: &str = "mesolite-test/busybox:1";
const AGENT_IMAGE: &str = "mesolite-test/agent:1";

struct Setup {
    dir: PathBuf,
    socket: PathBuf,
    name: String,
}

impl Setup {
    fn script(&self, args: &[&str]) -> std::process::Output {
        let bin = Path::new(env!("CARGO_BIN_EXE_mesolite")).parent().unwrap();
        Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/agent-in-docker.sh"
        ))
        .args(args)
        .env("DOCKER", "/usr/bin/docker")
        .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
        .env("DOCKER_SOCKET", &self.socket)
        .env("BINARY_DIR", bin)
        .env("AGENT_PRIVILEGE", privilege())
        .output()
        .unwrap()
    }

    fn start_agent(&self, docker: &Dockerd) {
        let cgroups_root = format!("--cgroups_root={}", self.name);
        let dir = self.dir.join("agent");
        let out = self.script(&[
            "run",
            AGENT_IMAGE,
            dir.to_str().unwrap(),
            &self.name,
            &cgroups_root,
            "--logging_level=DEBUG",
            "--docker_api_timeout=20secs",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let client = self.client();
        let mut last = String::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            match client.get("/health") {
                Ok(r) if r.status == 200 => return,
                r => last = format!("{r:?}"),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the agent in Docker does not answer: {last}\n{}",
            self.logs(docker)
        );
    }

    fn client(&self) -> Client {
        Client::new(&self.dir.join("agent/agent.sock")).with_timeout(Some(Duration::from_secs(60)))
    }

    fn call(&self, body: Value) -> (u16, String) {
        let r = self.client().post_json("/api/v1", &body).unwrap();
        (r.status, r.text())
    }

    fn state(&self, id: &str) -> String {
        let (_, text) = self.call(json!({"type": "GET_CONTAINERS"}));
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        v.pointer("/get_containers/containers")
            .and_then(|c| c.as_array())
            .and_then(|list| {
                list.iter()
                    .find(|c| c["container_id"]["value"] == id)
                    .map(|c| c["state"].as_str().unwrap_or("").to_string())
            })
            .unwrap_or_default()
    }

    fn logs(&self, docker: &Dockerd) -> String {
        let out = docker.try_run(&["logs", "--tail", "40", &self.name]);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// `--privileged` asks for every capability: where this process lacks some (a sandboxed CI),
/// all it has, and no seccomp or AppArmor filter.
fn privilege() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    // CAP_SYS_RESOURCE (24) is the one sandboxes here drop; the others Docker knows are 0..=40.
    let all = (1u64 << 41) - 1;
    if bounding & all == all {
        return "--privileged".into();
    }
    let mut flags = vec!["--cap-add=ALL".to_string()];
    if bounding & (1 << 24) == 0 {
        flags.push("--cap-drop=SYS_RESOURCE".into());
    }
    flags.push("--security-opt=seccomp=unconfined".into());
    flags.push("--security-opt=apparmor=unconfined".into());
    flags.join(" ")
}

#[test]
fn the_agent_in_docker_launches_and_re_adopts_docker_and_mesos_tasks() {
    if !root_or_skip("agent_in_docker") {
        return;
    }
    let pid = std::process::id();
    let Some((_one, dir)) = dockerd_support::scratch("aid") else {
        return;
    };
    let Some(docker) = Dockerd::start(&dir.join("docker")) else {
        return;
    };
    docker.import_busybox(&dir, TASK_IMAGE);
    let s = Setup {
        socket: dir.join("docker/docker.sock"),
        name: format!("mltest-aid-{pid}"),
        dir: dir.clone(),
    };
    let out = s.script(&["build", AGENT_IMAGE]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.start_agent(&docker);

    let (status, text) = s.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "dtask"}, "command": {"value": "echo up; sleep 1000"},
        "resources": resources(0.1, 32.0),
        "container": {"type": "DOCKER", "docker": {"image": TASK_IMAGE, "network": "NONE"}}}}));
    assert_eq!(status, 200, "{text}\n{}", s.logs(&docker));
    let (status, text) = s.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "mtask"}, "command": {"value": "sleep 1000", "shell": true},
        "resources": resources(0.1, 32.0)}}));
    assert_eq!(status, 200, "{text}\n{}", s.logs(&docker));
    for id in ["dtask", "mtask"] {
        assert_eq!(s.state(id), "RUNNING", "{id}");
    }
    // The DOCKER task's sandbox is the host path the agent named.
    let sandbox = dir.join("agent/work/containers/dtask");
    Agent::eventually("the task's output", Duration::from_secs(20), || {
        std::fs::read_to_string(sandbox.join("stdout")).is_ok_and(|o| o == "up\n")
    });

    // The agent container is killed and started again: both tasks are re-adopted.
    docker.run(&["kill", &s.name]);
    docker.run(&["rm", &s.name]);
    let names = docker.run(&["ps", "--format", "{{.Names}}"]);
    assert!(names.contains("mesos-dtask"), "{names}");
    s.start_agent(&docker);
    for id in ["dtask", "mtask"] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while s.state(id) != "RUNNING" {
            assert!(
                std::time::Instant::now() < deadline,
                "{id} not re-adopted: {} {}\n{}",
                s.state(id),
                s.call(json!({"type": "WAIT_CONTAINER",
                    "wait_container": {"container_id": {"value": id}}}))
                    .1,
                s.logs(&docker)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    for id in ["dtask", "mtask"] {
        let (status, text) = s.call(json!({"type": "KILL_CONTAINER",
            "kill_container": {"container_id": {"value": id}, "signal": 9}}));
        assert_eq!(status, 200, "{id}: {text}");
        let (status, text) = s.call(json!({"type": "WAIT_CONTAINER",
            "wait_container": {"container_id": {"value": id}}}));
        assert_eq!(status, 200, "{id}: {text}");
        assert!(text.contains("TASK_KILLED"), "{id}: {text}");
    }
    for id in ["dtask", "mtask"] {
        let (status, text) = s.call(json!({"type": "REMOVE_CONTAINER",
            "remove_container": {"container_id": {"value": id}}}));
        assert_eq!(status, 200, "{id}: {text}");
    }
    docker.run(&["rm", "-f", &s.name]);
    // The agent's cgroups_root in every hierarchy (its containers' cgroups went at REMOVE).
    for sub in ["cpu", "cpuacct", "memory", "pids", "freezer", "unified", ""] {
        let root = Path::new("/sys/fs/cgroup").join(sub).join(&s.name);
        for _ in 0..50 {
            if !root.exists() || std::fs::remove_dir(&root).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(docker);
    let _ = std::fs::remove_dir_all(&dir);
}
