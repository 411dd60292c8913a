//! Acceptance 3: cgroup limits written as Mesos writes them, and statistics with Mesos's field
//! names read live from the kernel (this host: cgroup v1 controllers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{resources, root_or_skip, Agent};

fn read(p: std::path::PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn limits_and_statistics_of_a_busy_task() {
    if !root_or_skip("limits_and_statistics") {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        eprintln!("SKIPPED limits_and_statistics: no cgroup v1 memory controller here (the v2 guest test covers v2)");
        return;
    }
    let agent = Agent::start(&["--cgroups_enable_cfs"]);
    let busy = "head -c 8000000 /dev/zero | tail -c 1 > /dev/null; while :; do :; done";
    let r = agent.launch_shell("busy", busy, resources(0.5, 64.0));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        read(agent.v1_cgroup("cpu", "busy").join("cpu.shares")),
        "512"
    );
    assert_eq!(
        read(agent.v1_cgroup("cpu", "busy").join("cpu.cfs_period_us")),
        "100000"
    );
    assert_eq!(
        read(agent.v1_cgroup("cpu", "busy").join("cpu.cfs_quota_us")),
        "50000"
    );
    assert_eq!(
        read(
            agent
                .v1_cgroup("memory", "busy")
                .join("memory.limit_in_bytes")
        ),
        "67108864"
    );

    let mut stats = serde_json::Value::Null;
    Agent::eventually("cpu time and rss reported", Duration::from_secs(15), || {
        let all = agent
            .client()
            .get("/monitor/statistics")
            .unwrap()
            .json()
            .unwrap();
        stats = all
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["container_id"] == "busy")
            .unwrap()["statistics"]
            .clone();
        stats["cpus_user_time_secs"].as_f64().unwrap_or(0.0) > 0.1
            && stats["mem_rss_bytes"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(stats["cpus_limit"], 0.5);
    assert_eq!(stats["cpus_soft_limit"], 0.5);
    assert_eq!(stats["mem_limit_bytes"], 67108864);
    assert!(stats["timestamp"].as_f64().unwrap() > 1.7e9);
    assert!(stats["mem_total_bytes"].as_u64().unwrap() > 0);
    assert!(stats["processes"].as_u64().unwrap() >= 2, "{stats}");
    assert!(stats["cpus_nr_periods"].as_u64().unwrap() > 0, "{stats}");
    // GET_CONTAINERS carries the same statistics.
    let c = agent.container("busy").unwrap();
    assert_eq!(c["resource_statistics"]["mem_limit_bytes"], 67108864);
    assert_eq!(agent.kill("busy", None).status, 200);
    agent.wait_json("busy");
    // The deleter removes the cgroup right after the WAIT is answered.
    let cg = agent.v1_cgroup("cpu", "busy");
    Agent::eventually("cgroup removed", Duration::from_secs(10), || !cg.exists());
}

#[test]
fn cpu_shares_without_cfs_and_no_quota() {
    if !root_or_skip("cpu_shares_without_cfs") {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
        eprintln!("SKIPPED cpu_shares_without_cfs: no cgroup v1 cpu controller here");
        return;
    }
    let agent = Agent::start(&[]);
    assert_eq!(
        agent
            .launch_shell("shares", "sleep 1000", resources(2.0, 32.0))
            .status,
        200
    );
    assert_eq!(
        read(agent.v1_cgroup("cpu", "shares").join("cpu.shares")),
        "2048"
    );
    assert_eq!(
        read(agent.v1_cgroup("cpu", "shares").join("cpu.cfs_quota_us")),
        "-1"
    );
}

/// The v1 hierarchies the agent uses on this host (the freezer to kill with).
const V1_HIERARCHIES: [&str; 5] = ["freezer", "cpu", "cpuacct", "memory", "pids"];

#[test]
fn the_init_and_its_task_are_in_every_v1_hierarchy() {
    if !root_or_skip("init_and_task_in_every_hierarchy") {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/freezer/cgroup.procs").exists() {
        eprintln!("SKIPPED init_and_task_in_every_hierarchy: no cgroup v1 here");
        return;
    }
    let agent = Agent::start(&[]);
    // The task's child too: forked after the init moved itself, so it inherits every cgroup.
    let r = agent.launch_shell(
        "everywhere",
        "cat /proc/self/cgroup; sleep 1000",
        resources(0.1, 32.0),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let init = agent.container("everywhere").unwrap()["container_status"]["executor_pid"]
        .as_i64()
        .expect("the init's pid");
    let stdout = agent.sandbox("everywhere").join("stdout");
    Agent::eventually(
        "the task's cgroups printed",
        Duration::from_secs(10),
        || std::fs::read_to_string(&stdout).is_ok_and(|s| s.contains("freezer:")),
    );
    let printed = read(stdout);
    let want = format!("/{}/everywhere", agent.cgroups_root);
    for subsystem in V1_HIERARCHIES {
        let line = printed
            .lines()
            .find(|l| l.split(':').nth(1) == Some(subsystem))
            .unwrap_or_else(|| panic!("no {subsystem} line in {printed}"));
        assert!(line.ends_with(&format!(":{want}")), "{line} in {printed}");
        let procs = read(
            agent
                .v1_cgroup(subsystem, "everywhere")
                .join("cgroup.procs"),
        );
        let pids: Vec<i64> = procs.lines().map(|l| l.parse().unwrap()).collect();
        assert!(
            pids.contains(&init),
            "{subsystem}: init {init} not in {pids:?}"
        );
        // The init, the shell, and the sleep it forked (or exec'd into): the task's side too.
        assert!(pids.len() >= 2, "{subsystem}: {pids:?}");
    }
    assert_eq!(agent.kill("everywhere", None).status, 200);
    agent.wait_json("everywhere");
    // The deleter removes them just after the WAIT is answered.
    for subsystem in V1_HIERARCHIES {
        let cg = agent.v1_cgroup(subsystem, "everywhere");
        Agent::eventually("cgroup removed", Duration::from_secs(10), || !cg.exists());
    }
}

/// A real refusal of the init's own move: with RT group scheduling a new cpu cgroup has no
/// real-time runtime (`cpu.rt_runtime_us` 0), and the kernel refuses to move a SCHED_FIFO
/// process into it (EINVAL). An agent running SCHED_FIFO clones SCHED_FIFO inits.
#[test]
fn a_refused_move_into_a_cgroup_fails_the_launch_naming_the_hierarchy() {
    if !root_or_skip("refused_self_attach") {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        eprintln!("SKIPPED refused_self_attach: no cgroup v1 cpu controller with RT group scheduling (CONFIG_RT_GROUP_SCHED)");
        return;
    }
    let agent = Agent::start(&[]);
    let pid = agent.child.as_ref().unwrap().id().to_string();
    let chrt = |args: &[&str]| {
        std::process::Command::new("chrt")
            .args(args)
            .arg(&pid)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !chrt(&["-f", "-p", "1"]) {
        eprintln!("SKIPPED refused_self_attach: cannot make the agent SCHED_FIFO here (chrt missing, or this cgroup has no RT runtime)");
        return;
    }
    let r = agent.launch_shell("fifo", "true", resources(0.1, 32.0));
    let back = chrt(&["-o", "-p", "0"]);
    assert!(back, "could not put the agent back to SCHED_OTHER");
    assert_eq!(r.status, 400, "{}", r.text());
    let want = format!(
        "Failed to launch container: Failed to move the container's init into its cpu cgroup /sys/fs/cgroup/cpu/{}/fifo/cgroup.procs: Invalid argument",
        agent.cgroups_root
    );
    assert!(r.text().contains(&want), "{}", r.text());
    let w = agent.wait_json("fifo");
    assert_eq!(w["reason"], "REASON_CONTAINER_LAUNCH_FAILED", "{w}");
    assert_eq!(w["message"], want.as_str(), "{w}");
    Agent::eventually(
        "the failed container's cgroups removed",
        Duration::from_secs(10),
        || {
            V1_HIERARCHIES
                .iter()
                .all(|s| !agent.v1_cgroup(s, "fifo").exists())
        },
    );
    // Back to SCHED_OTHER, launches work again.
    let r = agent.launch_shell("other", "true", resources(0.1, 32.0));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("other")["exit_status"], 0);
}
