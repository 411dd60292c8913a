//! Containers survive the agent; limits are enforced and reported; faults lose nothing
//! (the recovery issue's acceptance 1-6 and 8, on this host's real kernel).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{resources, root_or_skip, Agent};
use serde_json::json;

/// Processes whose command line contains `marker`.
fn count(marker: &str) -> usize {
    let out = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn cgroup_dirs(root: &str) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["cpu", "cpuacct", "memory", "pids", "freezer"] {
        if let Ok(rd) = std::fs::read_dir(Path::new("/sys/fs/cgroup").join(sub).join(root)) {
            for e in rd.flatten().filter(|e| e.path().is_dir()) {
                found.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// The deleter removes a container's cgroups right after its WAIT is answered: soon, not
/// necessarily before the answer.
fn assert_cgroups_removed(agent: &Agent, what: &str) {
    Agent::eventually(what, Duration::from_secs(10), || {
        cgroup_dirs(&agent.cgroups_root).is_empty()
    });
}

#[test]
fn twenty_containers_survive_a_crash_and_five_that_ended_report_their_status() {
    if !root_or_skip("survive_crash") {
        return;
    }
    let mut agent = Agent::start(&[]);
    // Each task exits 7 once its stop file appears.
    let task = "while [ ! -f \"$MESOS_SANDBOX/stop\" ]; do sleep 0.05; done; exit 7";
    for i in 0..20 {
        let r = agent.launch_shell(&format!("c{i}"), task, resources(0.01, 16.0));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    agent.sigkill();
    for i in 0..5 {
        std::fs::write(agent.sandbox(&format!("c{i}")).join("stop"), b"").unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let agent = agent.restart();
    for i in 0..5 {
        let w = agent.wait_json(&format!("c{i}"));
        assert_eq!(w["exit_status"], 7 << 8, "c{i}: {w}");
        assert_eq!(w["state"], "TASK_FAILED");
    }
    let stats = agent
        .client()
        .get("/monitor/statistics")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stats.as_array().unwrap().len(), 15, "{stats}");
    for i in 5..20 {
        let id = format!("c{i}");
        let c = agent.container(&id).unwrap();
        assert_eq!(c["state"], "RUNNING", "{c}");
        assert!(
            c["resource_statistics"]["mem_total_bytes"]
                .as_u64()
                .unwrap()
                > 0,
            "{c}"
        );
        assert_eq!(
            c["resource_statistics"]["mem_limit_bytes"],
            16 * 1024 * 1024
        );
    }
    for i in 5..20 {
        assert_eq!(agent.kill(&format!("c{i}"), None).status, 200);
    }
    for i in 5..20 {
        let w = agent.wait_json(&format!("c{i}"));
        assert_eq!(w["exit_status"], 9);
        assert_eq!(w["state"], "TASK_KILLED");
    }
    assert_cgroups_removed(&agent, "cgroups removed");
}

#[test]
fn a_crash_at_each_step_of_a_launch_leaves_nothing_unknown() {
    if !root_or_skip("crash_at_each_step") {
        return;
    }
    if !cfg!(feature = "test-hooks") {
        eprintln!(
            "SKIPPED crash_at_each_step: the crash points are built only with --features test-hooks (scripts/test.sh)"
        );
        return;
    }
    for step in ["checkpoint", "prepare", "clone", "attach"] {
        let marker = format!("sleep 6{}", 100 + step.len());
        let mut agent = Agent::start_with_env(&[], &[("MESOLITE_TEST_CRASH_AT", step)]);
        // The agent dies in the middle of this launch: the client sees the connection drop.
        let _ = agent.client().post_json("/api/v1", &json!({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": "victim"}, "command": {"value": marker.clone(), "shell": true},
            "resources": resources(0.1, 32.0)}}));
        let status = agent.child.as_mut().unwrap().wait().unwrap();
        assert_eq!(
            status.code(),
            Some(70),
            "{step}: the hook did not fire\n{}",
            agent.log_text()
        );
        agent.child = None;
        agent.env.clear();
        let agent = agent.restart();
        let c = agent
            .container("victim")
            .unwrap_or_else(|| panic!("{step}: not listed\n{}", agent.log_text()));
        Agent::eventually("destroyed", Duration::from_secs(10), || {
            agent.container("victim").unwrap()["state"] == "TERMINATED"
        });
        let w = agent.wait_json("victim");
        assert_eq!(
            w["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
            "{step}: {c} {w}"
        );
        assert_eq!(count(&marker), 0, "{step}: a process was left behind");
        assert_cgroups_removed(&agent, &format!("{step}: cgroups removed"));
        // The ID can be reused once removed, and launches work again.
        assert_eq!(agent.remove("victim").status, 200);
        assert_eq!(agent.launch_shell("victim", "true", json!([])).status, 200);
        assert_eq!(agent.wait_json("victim")["exit_status"], 0);
    }
}

#[test]
fn an_orphan_cgroup_is_destroyed_at_start() {
    if !root_or_skip("orphan_cgroup") {
        return;
    }
    let mut agent = Agent::start(&[]);
    agent.stop();
    let marker = "sleep 6789";
    let mut child = Command::new("sh")
        .args(["-c", &format!("exec {marker}")])
        .spawn()
        .unwrap();
    for sub in ["cpu", "cpuacct", "memory", "pids", "freezer"] {
        let dir = Path::new("/sys/fs/cgroup")
            .join(sub)
            .join(&agent.cgroups_root)
            .join("orphan1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
    }
    let agent = agent.restart();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_some(),
        "the orphan's process still runs"
    );
    Agent::eventually("orphan cgroups removed", Duration::from_secs(10), || {
        cgroup_dirs(&agent.cgroups_root).is_empty()
    });
    assert!(agent.log_text().contains("orphan1"));
    assert!(agent.container("orphan1").is_none());
}

#[test]
fn memory_over_the_limit_is_a_memory_limitation() {
    if !root_or_skip("oom") {
        return;
    }
    let agent = Agent::start(&[]);
    let r = agent.launch_shell(
        "hog",
        "dd if=/dev/zero of=/dev/null bs=200M count=1; sleep 1000",
        resources(0.1, 32.0),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let w = agent.wait_json("hog");
    assert_eq!(w["state"], "TASK_FAILED", "{w}");
    assert_eq!(w["reason"], "REASON_CONTAINER_LIMITATION_MEMORY", "{w}");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .starts_with("Memory limit exceeded"),
        "{w}"
    );
    assert_eq!(w["limitation"]["resources"][0]["name"], "mem", "{w}");
    // Mesos's TaskResourceLimitation has `resources` only: the reason is `reason` above.
    assert_eq!(w["limitation"].as_object().map(|l| l.len()), Some(1), "{w}");
}

#[test]
fn a_task_that_ignores_sigterm_is_killed_after_the_grace_period() {
    if !root_or_skip("grace") {
        return;
    }
    let agent = Agent::start(&["--executor_shutdown_grace_period=1secs"]);
    assert_eq!(
        agent
            .launch_shell("stubborn", "trap '' TERM; sleep 1000", json!([]))
            .status,
        200
    );
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    assert_eq!(agent.kill("stubborn", Some(15)).status, 200);
    let w = agent.wait_json("stubborn");
    assert_eq!(w["exit_status"], 9, "{w}");
    assert_eq!(w["state"], "TASK_KILLED");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "killed before the grace period: {:?}",
        t0.elapsed()
    );
}

#[test]
fn corrupt_checkpoints_are_logged_and_their_containers_destroyed() {
    if !root_or_skip("corrupt_checkpoints") {
        return;
    }
    let mut agent = Agent::start(&[]);
    assert_eq!(
        agent.launch_shell("trunc", "sleep 6801", json!([])).status,
        200
    );
    assert_eq!(
        agent
            .launch_shell("garbage", "sleep 6802", json!([]))
            .status,
        200
    );
    assert_eq!(
        agent
            .launch_shell("version", "sleep 6803", json!([]))
            .status,
        200
    );
    agent.sigkill();
    let meta = agent.work_dir.join("meta/containers");
    let launch = meta.join("trunc/launch.json");
    let text = std::fs::read(&launch).unwrap();
    std::fs::write(&launch, &text[..text.len() / 2]).unwrap();
    std::fs::write(
        agent.runtime_dir.join("containers/garbage/pid.json"),
        b"\x00\x01\xfe garbage",
    )
    .unwrap();
    std::fs::write(meta.join("version/launch.json"), br#"{"version": 99}"#).unwrap();
    let agent = agent.restart();
    for (id, marker) in [
        ("trunc", "sleep 6801"),
        ("garbage", "sleep 6802"),
        ("version", "sleep 6803"),
    ] {
        Agent::eventually("destroyed", Duration::from_secs(10), || {
            agent.container(id).unwrap()["state"] == "TERMINATED"
        });
        assert_eq!(count(marker), 0, "{id}: its process was not killed");
        let w = agent.wait_json(id);
        assert!(
            w["message"]
                .as_str()
                .unwrap_or_default()
                .contains("recover"),
            "{id}: {w}"
        );
        assert!(agent.log_text().contains(id));
    }
    assert!(agent.log_text().contains("format version 99"));
    assert_cgroups_removed(&agent, "cgroups removed");
}

#[test]
fn one_agent_per_work_dir_and_a_reboot_ends_the_old_containers() {
    if !root_or_skip("lock_and_reboot") {
        return;
    }
    let mut agent = Agent::start(&[]);
    let (status, stderr) = agent.start_second(&agent.dir.join("second.sock"));
    assert!(!status.success());
    let pid = agent.child.as_ref().unwrap().id();
    assert!(stderr.contains(&format!("pid {pid}")), "{stderr}");

    assert_eq!(
        agent.launch_shell("old", "sleep 6804", json!([])).status,
        200
    );
    agent.sigkill();
    std::fs::write(
        agent.work_dir.join("meta/boot_id"),
        "00000000-0000-0000-0000-000000000000",
    )
    .unwrap();
    let agent = agent.restart();
    Agent::eventually("terminated", Duration::from_secs(10), || {
        agent.container("old").unwrap()["state"] == "TERMINATED"
    });
    let w = agent.wait_json("old");
    assert!(w["message"].as_str().unwrap().contains("rebooted"), "{w}");
    assert_eq!(count("sleep 6804"), 0);
    assert_cgroups_removed(&agent, "cgroups removed");
}

#[test]
fn recover_cleanup_destroys_everything_and_exits() {
    if !root_or_skip("recover_cleanup") {
        return;
    }
    let mut agent = Agent::start(&[]);
    assert_eq!(agent.launch_shell("a", "sleep 6805", json!([])).status, 200);
    agent.stop();
    assert!(
        count("sleep 6805") >= 1,
        "SIGTERM of the agent leaves containers running"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args([
            "agent".to_string(),
            format!("--work_dir={}", agent.work_dir.display()),
            format!("--runtime_dir={}", agent.runtime_dir.display()),
            format!("--socket={}", agent.socket.display()),
            format!("--cgroups_root={}", agent.cgroups_root),
            "--recover=cleanup".into(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count("sleep 6805"), 0);
    // --recover=cleanup exits only once the deleter removed every cgroup.
    assert!(cgroup_dirs(&agent.cgroups_root).is_empty());
}

#[test]
fn a_pid_record_without_a_start_time_matches_no_process() {
    if !root_or_skip("pid_record_without_start_time") {
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut agent = Agent::start(&[]);
    assert_eq!(
        agent
            .launch_shell("nostart", "sleep 6811", json!([]))
            .status,
        200
    );
    agent.sigkill();
    // An unrelated process, leading a process group of its own as an init does, now holds the
    // pid the record names; the record lost its start time.
    let mut unrelated = Command::new("sleep")
        .arg("1000")
        .process_group(0)
        .spawn()
        .unwrap();
    let record = agent.runtime_dir.join("containers/nostart/pid.json");
    std::fs::write(
        &record,
        format!(
            r#"{{"version": 1, "pid": {}, "start_time": 0}}"#,
            unrelated.id()
        ),
    )
    .unwrap();
    let agent = agent.restart();
    Agent::eventually("terminated", Duration::from_secs(10), || {
        agent.container("nostart").unwrap()["state"] == "TERMINATED"
    });
    let w = agent.wait_json("nostart");
    assert_eq!(w["state"], "TASK_FAILED", "{w}");
    assert!(
        w["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no start time"),
        "{w}"
    );
    // The container's own processes went with its cgroup; the unrelated one is untouched.
    assert_eq!(count("sleep 6811"), 0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        unrelated.try_wait().unwrap().is_none(),
        "the unrelated process was killed"
    );
    let _ = unrelated.kill();
    let _ = unrelated.wait();
    assert_cgroups_removed(&agent, "cgroups removed");
}

/// The mount point of every cgroup v1 hierarchy of this host (one per hierarchy).
fn v1_hierarchies() -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut devices = Vec::new();
    let mut found = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.get(dash + 1) == Some(&"cgroup") && !devices.contains(&fields[2]) {
            devices.push(fields[2]);
            found.push(std::path::PathBuf::from(fields[4]));
        }
    }
    found
}

/// Processes the test started, killed however it ends.
struct Sleepers(Vec<(String, std::process::Child)>);

impl Drop for Sleepers {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn an_orphan_in_every_v1_hierarchy_is_destroyed_at_start() {
    if !root_or_skip("orphan_in_every_v1_hierarchy") {
        return;
    }
    let hierarchies = v1_hierarchies();
    if hierarchies.is_empty() {
        eprintln!("SKIPPED orphan_in_every_v1_hierarchy: no cgroup v1 hierarchy on this host");
        return;
    }
    let mut agent = Agent::start(&[]);
    agent.stop();
    let root = agent.cgroups_root.clone();
    let sleeper = || {
        Command::new("sleep")
            .arg("6812")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // In the hierarchies the agent uses, the orphan is destroyed as a container is: one
    // cgroup each, one process in all of them (as the agent would have put it).
    let mut sleepers = Sleepers(vec![("the agent's hierarchies".into(), sleeper())]);
    let in_all = sleepers.0[0].1.id().to_string();
    for mount in &hierarchies {
        let name = mount.file_name().unwrap().to_string_lossy().into_owned();
        let dir = mount.join(&root).join("orphan2");
        if ["cpu", "cpuacct", "memory", "pids", "freezer"].contains(&name.as_str()) {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cgroup.procs"), &in_all).unwrap();
            continue;
        }
        // In the others the whole tree goes: a nested cgroup with a process of its own in
        // each but cpuset (whose cgroups take one only once given cpus and mems).
        let dir = dir.join("nested");
        std::fs::create_dir_all(&dir).unwrap();
        if name != "cpuset" {
            let child = sleeper();
            std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
            sleepers.0.push((name, child));
        }
    }
    let agent = agent.restart();
    for (name, child) in &mut sleepers.0 {
        Agent::eventually(
            &format!("the orphan's process in {name} killed"),
            Duration::from_secs(10),
            || child.try_wait().unwrap().is_some(),
        );
    }
    for mount in &hierarchies {
        let dir = mount.join(&root).join("orphan2");
        Agent::eventually(
            &format!("{} removed", dir.display()),
            Duration::from_secs(10),
            || !dir.exists(),
        );
    }
    assert!(agent.log_text().contains("orphan2"));
    assert!(agent.container("orphan2").is_none());
    drop(agent);
    for mount in &hierarchies {
        let _ = std::fs::remove_dir(mount.join(&root));
    }
}
