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
