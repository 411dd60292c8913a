//! The deleter (issue 12): REMOVE only renames into the trash; one long-lived process deletes,
//! never through a symlink or into a mount a task left, comes back if killed, and empties what
//! a previous agent left in the trash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{nice_of, resources, root_or_skip, Agent};

/// The pid of the agent's deleter, if it runs.
fn deleter_pid(agent: &Agent) -> Option<i32> {
    agent.child_named("mesolite-del")
}

fn trash(agent: &Agent) -> PathBuf {
    agent.work_dir.join("trash")
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// Whether a sandbox `fill` filled is (still) in the trash.
fn sandbox_in_trash(agent: &Agent) -> bool {
    std::fs::read_dir(trash(agent)).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            std::fs::read_dir(e.path()).is_ok_and(|mut sub| {
                sub.any(|s| s.is_ok_and(|s| s.file_name().to_string_lossy().starts_with('d')))
            })
        })
    })
}

/// A finished container whose sandbox the test fills.
fn ended(agent: &Agent, id: &str) -> PathBuf {
    let r = agent.launch_shell(id, "true", resources(0.1, 32.0));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json(id)["state"], "TASK_FINISHED");
    agent.sandbox(id)
}

fn fill(dir: &Path, dirs: usize, files: usize) {
    for d in 0..dirs {
        let sub = dir.join(format!("d{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..files {
            std::fs::write(sub.join(format!("f{f}")), b"x").unwrap();
        }
    }
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let prefix = dir.to_string_lossy().into_owned();
    text.lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&prefix)))
        .map(str::to_string)
        .collect()
}

#[test]
fn removal_never_follows_a_symlink_nor_deletes_through_a_mount() {
    if !root_or_skip("deleter_hostile") {
        return;
    }
    let agent = Agent::start(&[]);
    let host = agent.dir.join("host");
    std::fs::create_dir_all(host.join("linked/sub")).unwrap();
    std::fs::write(host.join("linked/canary"), "alive").unwrap();
    std::fs::write(host.join("linked/sub/canary"), "alive").unwrap();
    std::fs::create_dir_all(host.join("mounted")).unwrap();
    std::fs::write(host.join("mounted/canary"), "alive").unwrap();
    // The task, in its own mount namespace, links to the host and bind-mounts a host directory.
    let linked = host.join("linked");
    let mounted = host.join("mounted");
    let cmd = format!(
        "cd \"$MESOS_SANDBOX\" && ln -s {l} link && ln -s / root && ln -s {l}/canary file && \
         mkdir mnt && mount --bind {m} mnt && test -f mnt/canary",
        l = linked.display(),
        m = mounted.display()
    );
    let r = agent.launch_shell("hostile", &cmd, resources(0.1, 32.0));
    assert_eq!(r.status, 200, "{}", r.text());
    let w = agent.wait_json("hostile");
    assert_eq!(w["state"], "TASK_FINISHED", "the task made its mount: {w}");
    // A mount that reached the agent's namespace (as if propagated), of the same filesystem.
    let sandbox = agent.sandbox("hostile");
    std::fs::create_dir_all(sandbox.join("leak")).unwrap();
    let ok = Command::new("mount")
        .arg("--bind")
        .arg(&mounted)
        .arg(sandbox.join("leak"))
        .status()
        .unwrap();
    assert!(ok.success());
    assert_eq!(agent.remove("hostile").status, 200);
    assert!(!sandbox.exists());
    Agent::eventually("sandbox deleted", Duration::from_secs(30), || {
        is_empty_dir(&trash(&agent))
    });
    for canary in ["linked/canary", "linked/sub/canary", "mounted/canary"] {
        assert_eq!(
            std::fs::read_to_string(host.join(canary)).unwrap(),
            "alive",
            "{canary}"
        );
    }
    assert!(Path::new("/bin/sh").exists());
    assert_eq!(mounts_under(&agent.work_dir), Vec::<String>::new());
    assert!(agent.log_text().contains("detaching a mount"));
}

#[test]
fn a_killed_deleter_is_restarted_and_finishes_what_it_was_given() {
    if !root_or_skip("deleter_restart") {
        return;
    }
    let agent = Agent::start(&[]);
    let first = deleter_pid(&agent).expect("the deleter runs from the start");
    assert_eq!(
        nice_of(first),
        10,
        "the deleter yields the CPU to the agent"
    );
    let sandbox = ended(&agent, "busy");
    fill(&sandbox, 30, 1000);
    assert_eq!(agent.remove("busy").status, 200);
    // Killed in the middle of the deletion: what it had not answered is sent again.
    let _ = Command::new("kill")
        .args(["-9", &first.to_string()])
        .status();
    Agent::eventually("a new deleter", Duration::from_secs(10), || {
        deleter_pid(&agent).is_some_and(|p| p != first)
    });
    Agent::eventually("sandbox deleted", Duration::from_secs(60), || {
        is_empty_dir(&trash(&agent))
    });
    assert!(agent.log_text().contains("Deleter ended"));
    let snapshot = agent
        .client()
        .get("/metrics/snapshot")
        .unwrap()
        .json()
        .unwrap();
    assert!(
        snapshot["containerizer/deleter/restarts"].as_f64() >= Some(1.0),
        "{snapshot}"
    );
    // And it serves on.
    let again = ended(&agent, "after");
    assert_eq!(agent.remove("after").status, 200);
    assert!(!again.exists());
    Agent::eventually("second sandbox deleted", Duration::from_secs(30), || {
        is_empty_dir(&trash(&agent))
    });
}

#[test]
fn trash_left_by_a_previous_agent_is_emptied_at_start() {
    if !root_or_skip("deleter_leftovers") {
        return;
    }
    let mut agent = Agent::start(&[]);
    agent.stop();
    let canary = agent.dir.join("canary");
    std::fs::create_dir_all(&canary).unwrap();
    std::fs::write(canary.join("f"), "alive").unwrap();
    let left = trash(&agent).join("123-456-7-old");
    fill(&left, 3, 10);
    std::os::unix::fs::symlink(&canary, left.join("link")).unwrap();
    std::fs::write(trash(&agent).join("a-file"), "x").unwrap();
    let agent = agent.restart();
    Agent::eventually("leftovers deleted", Duration::from_secs(30), || {
        is_empty_dir(&trash(&agent))
    });
    assert_eq!(std::fs::read_to_string(canary.join("f")).unwrap(), "alive");
}

#[test]
fn remove_is_answered_while_a_large_sandbox_is_still_being_deleted() {
    if !root_or_skip("deleter_large") {
        return;
    }
    let agent = Agent::start(&[]);
    let sandbox = ended(&agent, "large");
    fill(&sandbox, 100, 1000);
    let t0 = Instant::now();
    let r = agent.remove("large");
    let took = t0.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    // A hang catcher only: the 100,000 unlinks are not waited for.
    assert!(took < Duration::from_secs(5), "REMOVE took {took:?}");
    assert!(!sandbox.exists());
    let still = sandbox_in_trash(&agent);
    let health = agent.client().get("/health").unwrap();
    assert_eq!(health.status, 200);
    assert!(
        still,
        "the sandbox was already deleted when REMOVE was answered"
    );
    Agent::eventually("sandbox deleted", Duration::from_secs(120), || {
        is_empty_dir(&trash(&agent))
    });
    // The ID can be launched again at once.
    let again = ended(&agent, "large");
    assert!(again.is_dir());
}

#[test]
fn an_id_launched_again_right_after_its_remove_runs_in_a_fresh_cgroup() {
    if !root_or_skip("deleter_reuse") {
        return;
    }
    let agent = Agent::start(&[]);
    // Pipelined as closely as a client can: the old cgroups may still be being removed when
    // the next LAUNCH of the ID comes; it waits for them rather than reusing them.
    for round in 0..20 {
        let r = agent.launch_shell(
            "again",
            &format!("exit {}", round % 3),
            resources(0.1, 32.0),
        );
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
        let w = agent.wait_json("again");
        assert_eq!(w["exit_status"], (round % 3) << 8, "round {round}: {w}");
        assert_eq!(agent.remove("again").status, 200, "round {round}");
    }
    let cg = agent.v1_cgroup("memory", "again");
    Agent::eventually("cgroup removed", Duration::from_secs(10), || !cg.exists());
    let waited = agent
        .log_text()
        .matches("launched again while its old cgroups are removed")
        .count();
    eprintln!("{waited} of 20 launches waited for their old cgroups");
}
