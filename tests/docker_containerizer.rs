//! The Docker containerizer against a real (private) dockerd, Mesos's §9.7 scenarios: Launch,
//! Logs, Default_CMD (and _Override, _Args), Usage, Kill, WaitUnknownContainer,
//! DockerPullFailure, the composing containerizer (a MESOS and a DOCKER container side by side),
//! Recover and KillOrphanContainers. One dockerd serves them all, in sequence: each starts its
//! own containerd, which is heavy on 2 cores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod dockerd_support;

use std::time::Duration;

use common::{resources, root_or_skip, Agent};
use dockerd_support::Dockerd;
use serde_json::{json, Value};

const IMAGE: &str = "mesolite-test/busybox:1";

fn launch_docker(
    agent: &Agent,
    id: &str,
    command: Value,
    docker: Value,
    res: Value,
) -> (u16, String) {
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id}, "command": command, "resources": res,
        "container": {"type": "DOCKER", "docker": docker}}}));
    (r.status, r.text())
}

fn image() -> Value {
    json!({"image": IMAGE, "network": "NONE"})
}

fn read(agent: &Agent, id: &str, file: &str) -> String {
    std::fs::read_to_string(agent.sandbox(id).join(file)).unwrap_or_default()
}

/// `docker ps -a` names.
fn docker_names(docker: &Dockerd) -> Vec<String> {
    docker
        .run(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn docker_containerizer_scenarios() {
    if !root_or_skip("docker_containerizer_scenarios") {
        return;
    }
    let Some((_one, dir)) = dockerd_support::scratch("dockerc") else {
        return;
    };
    let Some(docker) = Dockerd::start(&dir.join("docker")) else {
        return;
    };
    docker.import_busybox(&dir, IMAGE);
    let socket = dir.join("docker/docker.sock");
    let socket_flag = format!("--docker_socket={}", socket.display());
    let mut agent = Agent::start(&[
        "--containerizers=docker,mesos",
        &socket_flag,
        "--docker_api_timeout=20secs",
    ]);

    // Launch + Logs: the task's output reaches the sandbox; exit 3 is wait status 3<<8.
    let (status, text) = launch_docker(
        &agent,
        "d1",
        json!({"value": "echo out; echo err >&2; echo $MESOS_SANDBOX; exit 3"}),
        image(),
        resources(0.1, 32.0),
    );
    assert_eq!(status, 200, "{text}\n{}", agent.log_text());
    let w = agent.wait_json("d1");
    assert_eq!(w["exit_status"], 3 << 8, "{w}");
    assert_eq!(w["state"], "TASK_FAILED");
    assert_eq!(read(&agent, "d1", "stdout"), "out\n/mnt/mesos/sandbox\n");
    assert_eq!(read(&agent, "d1", "stderr"), "err\n");
    assert!(docker_names(&docker).contains(&"mesos-d1".to_string()));
    assert_eq!(agent.remove("d1").status, 200);
    Agent::eventually("mesos-d1 removed", Duration::from_secs(30), || {
        !docker_names(&docker).contains(&"mesos-d1".to_string())
    });
    assert!(!docker_names(&docker).contains(&"mesos-d1".to_string()));

    // Default_CMD, _Override, _Args.
    for (id, command, want) in [
        ("cmd1", json!({"shell": false}), "default-cmd\n"),
        (
            "cmd2",
            json!({"shell": false, "value": "/bin/echo", "arguments": ["over", "ride"]}),
            "over ride\n",
        ),
        (
            "cmd3",
            json!({"shell": false, "arguments": ["/bin/echo", "only-args"]}),
            "only-args\n",
        ),
    ] {
        let (status, text) = launch_docker(&agent, id, command, image(), resources(0.1, 32.0));
        assert_eq!(status, 200, "{id}: {text}");
        assert_eq!(agent.wait_json(id)["state"], "TASK_FINISHED", "{id}");
        assert_eq!(read(&agent, id, "stdout"), want, "{id}");
    }

    // Usage: resources become the container's limits; statistics come from its cgroup.
    let (status, text) = launch_docker(
        &agent,
        "u1",
        json!({"value": "sleep 1000"}),
        image(),
        resources(0.5, 64.0),
    );
    assert_eq!(status, 200, "{text}");
    let limits = docker.run(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.CpuShares}}",
        "mesos-u1",
    ]);
    assert_eq!(limits.trim(), "67108864 512");
    let c = agent.container("u1").unwrap();
    assert_eq!(c["state"], "RUNNING", "{c}");
    assert!(
        c["container_status"]["executor_pid"].as_i64().unwrap_or(0) > 0,
        "{c}"
    );
    let stats = &c["resource_statistics"];
    assert_eq!(stats["mem_limit_bytes"], 67108864, "{c}");
    assert!(stats["mem_total_bytes"].as_u64().unwrap_or(0) > 0, "{c}");
    assert!(stats["cpus_user_time_secs"].is_number(), "{c}");
    // /metrics has it under cAdvisor's names too, from the same statistics.
    let metrics = agent.client().get("/metrics").unwrap().text();
    for line in [
        "container_spec_memory_limit_bytes{container_id=\"u1\"} 67108864\n",
        "container_spec_cpu_shares{container_id=\"u1\"} 512\n",
        "container_memory_usage_bytes{container_id=\"u1\"} ",
        "container_memory_rss{container_id=\"u1\"} ",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }

    // Kill: SIGKILL destroys (docker stop -t 0): killed by signal 9, TASK_KILLED.
    assert_eq!(agent.kill("u1", Some(9)).status, 200);
    let w = agent.wait_json("u1");
    assert_eq!(
        (w["exit_status"].as_i64(), w["state"].as_str()),
        (Some(9), Some("TASK_KILLED")),
        "{w}"
    );

    // WaitUnknownContainer.
    assert_eq!(agent.wait("nosuch").status, 404);

    // DockerPullFailure: the answer and the WAIT show dockerd's real error.
    let (status, text) = launch_docker(
        &agent,
        "p1",
        json!({"value": "true"}),
        json!({"image": "127.0.0.1:1/nosuch:1", "force_pull_image": true}),
        resources(0.1, 32.0),
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("127.0.0.1:1") && text.contains("connection refused"),
        "{text}"
    );
    let w = agent.wait_json("p1");
    assert_eq!(w["reason"], "REASON_CONTAINER_LAUNCH_FAILED", "{w}");
    assert!(
        w["message"]
            .as_str()
            .unwrap_or("")
            .contains("connection refused"),
        "{w}"
    );

    // Composing: a MESOS and a DOCKER container side by side.
    assert_eq!(
        agent
            .launch_shell("m1", "sleep 1000", resources(0.1, 32.0))
            .status,
        200
    );
    let (status, text) = launch_docker(
        &agent,
        "r1",
        json!({"value": "echo before; sleep 1000"}),
        image(),
        resources(0.1, 32.0),
    );
    assert_eq!(status, 200, "{text}");
    for id in ["m1", "r1"] {
        assert_eq!(agent.container(id).unwrap()["state"], "RUNNING", "{id}");
    }
    assert!(agent.container("m1").unwrap()["resource_statistics"].is_object());

    // An orphan of this agent (its work_dir label) and a container of another agent.
    let ours = format!("org.mesolite.work_dir={}", agent.work_dir.display());
    docker.run(&[
        "run",
        "-d",
        "--network=none",
        "--name",
        "mesos-orphan1",
        "--label",
        &ours,
        IMAGE,
        "sleep",
        "1000",
    ]);
    docker.run(&[
        "run",
        "-d",
        "--network=none",
        "--name",
        "mesos-other1",
        "--label",
        "org.mesolite.work_dir=/elsewhere",
        IMAGE,
        "sleep",
        "1000",
    ]);

    // Recover: both containers are re-adopted by their own containerizer; orphans of this
    // agent go, the other agent's stays.
    agent.stop();
    agent = agent.restart();
    for id in ["m1", "r1"] {
        let c = agent.container(id).unwrap();
        assert_eq!(c["state"], "RUNNING", "{id}: {c}");
    }
    Agent::eventually(
        "r1 re-adopted with its pid",
        Duration::from_secs(30),
        || {
            agent
                .container("r1")
                .is_some_and(|c| c["container_status"]["executor_pid"].as_i64().unwrap_or(0) > 0)
        },
    );
    assert!(
        agent.container("r1").unwrap()["container_status"]["executor_pid"]
            .as_i64()
            .unwrap_or(0)
            > 0
    );
    Agent::eventually("the orphan removed", Duration::from_secs(30), || {
        !docker_names(&docker).contains(&"mesos-orphan1".to_string())
    });
    let names = docker_names(&docker);
    assert!(!names.contains(&"mesos-orphan1".to_string()), "{names:?}");
    assert!(names.contains(&"mesos-other1".to_string()), "{names:?}");
    assert!(names.contains(&"mesos-r1".to_string()), "{names:?}");
    for id in ["r1", "m1"] {
        assert_eq!(agent.kill(id, Some(9)).status, 200, "{id}");
        assert_eq!(agent.wait_json(id)["state"], "TASK_KILLED", "{id}");
    }
    assert!(read(&agent, "r1", "stdout").starts_with("before\n"));
    drop(agent);
    drop(docker);
    let _ = std::fs::remove_dir_all(&dir);
}
