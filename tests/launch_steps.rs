//! A launch runs in steps on successive loop iterations: what arrives between two steps (a
//! KILL, a second LAUNCH of the ID) is handled, and launches in flight together all succeed
//! while the agent goes on answering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use common::{resources, root_or_skip, Agent};
use serde_json::json;

/// Processes whose command line contains `marker`.
fn count(marker: &str) -> usize {
    let out = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn hooks_or_skip(test: &str) -> bool {
    if !cfg!(feature = "test-hooks") {
        eprintln!("SKIPPED {test}: the step pause is built only with --features test-hooks");
        return false;
    }
    root_or_skip(test)
}

/// The LAUNCH of `cmd` as `id`, sent from a thread of its own: it is answered only once the
/// launch is over.
fn launch_in_background(
    agent: &Agent,
    id: &str,
    cmd: &str,
) -> std::thread::JoinHandle<(u16, String)> {
    let client = agent.client();
    let body = json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id}, "command": {"value": cmd, "shell": true},
        "resources": resources(0.1, 32.0)}});
    std::thread::spawn(move || {
        let r = client.post_json("/api/v1", &body).unwrap();
        (r.status, r.text())
    })
}

fn state(agent: &Agent, id: &str) -> Option<String> {
    agent
        .container(id)
        .map(|c| c["state"].as_str().unwrap_or_default().to_string())
}

#[test]
fn a_kill_between_launch_steps_ends_the_launch_and_runs_nothing() {
    if !hooks_or_skip("kill_between_steps") {
        return;
    }
    let agent = Agent::start_with_env(&[], &[("MESOLITE_TEST_LAUNCH_STEP_PAUSE_MS", "1500")]);

    // Held before CLONE: checkpointed, its cgroups made and limited, no init yet.
    let marker = "sleep 6211";
    let launch = launch_in_background(&agent, "late", marker);
    Agent::eventually("ISOLATING", Duration::from_secs(20), || {
        state(&agent, "late").as_deref() == Some("ISOLATING")
    });
    assert!(
        agent.v1_cgroup("memory", "late").is_dir(),
        "PREPARE made no cgroup\n{}",
        agent.log_text()
    );
    let again = agent.launch_shell("late", "true", json!([]));
    assert_eq!(again.status, 202, "a second LAUNCH of a launching ID");
    assert_eq!(agent.kill("late", None).status, 200);
    let (status, text) = launch.join().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("destroyed while it was launched"), "{text}");
    let w = agent.wait_json("late");
    assert_eq!(w["state"], "TASK_KILLED", "{w}");
    // The step that was due finds nothing to do: no task ever starts.
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(count(marker), 0, "the killed launch ran its task");
    Agent::eventually("cgroups removed", Duration::from_secs(10), || {
        !agent.v1_cgroup("memory", "late").exists()
    });
    assert_eq!(agent.remove("late").status, 200);

    // Held before START, nothing made: a SIGTERM (no task to forward it to) ends it at once,
    // and the container is forgotten as a launch refused.
    let launch = launch_in_background(&agent, "early", marker);
    Agent::eventually("listed", Duration::from_secs(20), || {
        state(&agent, "early").is_some()
    });
    assert_eq!(agent.kill("early", Some(libc::SIGTERM)).status, 200);
    let (status, text) = launch.join().unwrap();
    assert_eq!(status, 400, "{text}");
    assert_eq!(agent.wait("early").status, 404);
    assert!(!agent.sandbox("early").exists(), "START ran after the kill");

    // The ID is free again and a launch through every step works.
    assert_eq!(agent.launch_shell("early", "exit 3", json!([])).status, 200);
    assert_eq!(agent.wait_json("early")["exit_status"], 768);
    assert_eq!(count(marker), 0);
}

/// `n` LAUNCH requests of `true`, `first..first+n`, pipelined (keep-alive, the last one closing).
fn pipelined_launches(prefix: &str, ids: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    let last = ids.end - 1;
    for i in ids {
        let body = json!({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": format!("{prefix}{i}")},
            "command": {"value": "true", "shell": true},
            "resources": resources(0.1, 32.0)}})
        .to_string();
        let close = if i == last {
            "Connection: close\r\n"
        } else {
            ""
        };
        out.extend_from_slice(
            format!(
                "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{close}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    out
}

#[test]
fn twenty_launches_in_flight_together_all_succeed_while_health_is_answered() {
    if !hooks_or_skip("launches_in_flight") {
        return;
    }
    // Each step held 50 ms: the launches overlap for a second at least, surely while the
    // health checks below run.
    let agent = Agent::start_with_env(&[], &[("MESOLITE_TEST_LAUNCH_STEP_PAUSE_MS", "50")]);
    let connect = || {
        let s = UnixStream::connect(&agent.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s
    };
    // Ten pipelined on one connection, ten on connections of their own, all sent before any
    // answer is read.
    let mut piped = connect();
    piped.write_all(&pipelined_launches("p", 0..10)).unwrap();
    let mut single: Vec<UnixStream> = (0..10)
        .map(|i| {
            let mut s = connect();
            s.write_all(&pipelined_launches(&format!("s{i}-"), 0..1))
                .unwrap();
            s
        })
        .collect();
    let c = agent.client();
    let mut healthy = 0;
    while state(&agent, "s9-0").as_deref() != Some("RUNNING")
        && state(&agent, "s9-0").as_deref() != Some("TERMINATED")
    {
        let r = c.get("/health").unwrap();
        assert_eq!(r.status, 200);
        healthy += 1;
        assert!(healthy < 100_000, "the launches never ended");
    }
    assert!(healthy > 0);
    let mut out = String::new();
    piped.read_to_string(&mut out).unwrap();
    assert_eq!(out.matches("HTTP/1.1 200").count(), 10, "{out}");
    for s in &mut single {
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }
    let ids = (0..10)
        .map(|i| format!("p{i}"))
        .chain((0..10).map(|i| format!("s{i}-0")));
    for id in ids {
        let w = agent.wait_json(&id);
        assert_eq!(w["exit_status"], 0, "{id}: {w}");
        assert_eq!(agent.remove(&id).status, 200);
    }
}
