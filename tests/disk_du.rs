//! disk/du, ported from Mesos's disk_quota_tests.cpp (§9.3): DiskUsageExceedsQuota,
//! NoQuotaEnforcement, ResourceStatistics and SlaveRecovery, against the real filesystem.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{root_or_skip, Agent};
use serde_json::{json, Value};

fn disk(mb: f64) -> Value {
    json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
           {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}},
           {"name": "disk", "type": "SCALAR", "scalar": {"value": mb}}])
}

fn stats(agent: &Agent, id: &str) -> Value {
    agent.statistics(id)
}

const ISOLATION: &str = "--isolation=cgroups/cpu,cgroups/mem,disk/du";

#[test]
fn disk_usage_exceeds_quota() {
    if !root_or_skip("disk_usage_exceeds_quota") {
        return;
    }
    let agent = Agent::start(&[
        ISOLATION,
        "--container_disk_watch_interval=100ms",
        "--enforce_container_disk_quota",
    ]);
    let r = agent.launch_shell(
        "hog",
        "dd if=/dev/zero of=file bs=1048576 count=2 && sleep 1000",
        disk(1.0),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let w = agent.wait_json("hog");
    assert_eq!(w["state"], "TASK_FAILED", "{w}");
    assert_eq!(w["reason"], "REASON_CONTAINER_LIMITATION_DISK", "{w}");
    let msg = w["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Disk usage (") && msg.ends_with("exceeds quota (1MB)"),
        "{msg}"
    );
    assert_eq!(w["limitation"]["resources"][0]["name"], "disk");
}

#[test]
fn no_quota_enforcement_reports_usage_above_the_limit() {
    if !root_or_skip("no_quota_enforcement") {
        return;
    }
    let agent = Agent::start(&[ISOLATION, "--container_disk_watch_interval=100ms"]);
    assert_eq!(
        agent
            .launch_shell(
                "big",
                "dd if=/dev/zero of=file bs=1048576 count=2 && sleep 1000",
                disk(1.0)
            )
            .status,
        200
    );
    Agent::eventually("usage above the limit", Duration::from_secs(10), || {
        stats(&agent, "big")["disk_used_bytes"]
            .as_u64()
            .unwrap_or(0)
            > 1024 * 1024
    });
    let s = stats(&agent, "big");
    assert_eq!(s["disk_limit_bytes"], 1024 * 1024);
    assert_eq!(agent.container("big").unwrap()["state"], "RUNNING");
}

#[test]
fn resource_statistics_report_limit_and_usage() {
    if !root_or_skip("disk_resource_statistics") {
        return;
    }
    let agent = Agent::start(&[
        ISOLATION,
        "--container_disk_watch_interval=100ms",
        "--enforce_container_disk_quota",
    ]);
    assert_eq!(
        agent
            .launch_shell(
                "s",
                "dd if=/dev/zero of=file bs=1048576 count=1 && sleep 1000",
                disk(3.0)
            )
            .status,
        200
    );
    Agent::eventually("usage measured", Duration::from_secs(10), || {
        stats(&agent, "s")["disk_used_bytes"].as_u64().unwrap_or(0) >= 1024 * 1024
    });
    let s = stats(&agent, "s");
    assert_eq!(s["disk_limit_bytes"], 3 * 1024 * 1024);
    assert!(s["disk_used_bytes"].as_u64().unwrap() < 3 * 1024 * 1024);
    assert_eq!(agent.kill("s", None).status, 200);
    assert_eq!(agent.wait_json("s")["state"], "TASK_KILLED");
}

#[test]
fn usage_is_measured_and_enforced_after_an_agent_restart() {
    if !root_or_skip("disk_slave_recovery") {
        return;
    }
    let flags = [
        ISOLATION,
        "--container_disk_watch_interval=100ms",
        "--enforce_container_disk_quota",
    ];
    let mut agent = Agent::start(&flags);
    let cmd = "while [ ! -f go ]; do sleep 0.05; done; dd if=/dev/zero of=file bs=1048576 count=2; sleep 1000";
    assert_eq!(agent.launch_shell("r", cmd, disk(1.0)).status, 200);
    agent.sigkill();
    let agent = agent.restart();
    std::fs::write(agent.sandbox("r").join("go"), b"").unwrap();
    let w = agent.wait_json("r");
    assert_eq!(w["reason"], "REASON_CONTAINER_LIMITATION_DISK", "{w}");
}
