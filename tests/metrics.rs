//! Metrics, health, version and flags endpoints, in Mesos's shapes and Prometheus text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{root_or_skip, Agent};
use serde_json::json;

#[test]
fn metrics_count_launches_failures_and_states() {
    if !root_or_skip("metrics") {
        return;
    }
    let agent = Agent::start(&[]);
    assert_eq!(
        agent.launch_shell("ok", "sleep 1000", json!([])).status,
        200
    );
    let bad = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "bad"}, "command": {"value": "/no/such", "shell": false}}}));
    assert_eq!(bad.status, 400);
    agent.wait_json("bad");
    let snap = agent
        .client()
        .get("/metrics/snapshot")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(snap["containerizer/mesos/launches"], 2.0);
    assert_eq!(snap["containerizer/mesos/launch_failures"], 1.0);
    assert_eq!(snap["containerizer/mesos/containers_running"], 1.0);
    assert_eq!(snap["containerizer/mesos/containers_terminated"], 1.0);
    let text = agent.client().get("/metrics").unwrap();
    assert_eq!(text.status, 200);
    let body = text.text();
    assert!(
        body.contains("mesolite_containers{state=\"RUNNING\"} 1"),
        "{body}"
    );
    assert!(body.contains("mesolite_launch_failures_total 1"), "{body}");
    assert!(
        body.contains("mesolite_launch_latency_seconds_count 1"),
        "{body}"
    );
    assert!(body.contains("mesolite_loop_iterations_total"), "{body}");
    let v1 = agent
        .call(json!({"type": "GET_METRICS", "get_metrics": {}}))
        .json()
        .unwrap();
    let list = v1["get_metrics"]["metrics"].as_array().unwrap();
    assert!(list
        .iter()
        .any(|m| m["name"] == "containerizer/mesos/container_destroy_errors" && m["value"] == 0.0));
}

#[test]
fn health_version_flags_and_containers_endpoints() {
    if !root_or_skip("endpoints") {
        return;
    }
    let agent = Agent::start(&[]);
    let c = agent.client();
    assert_eq!(c.get("/health").unwrap().status, 200);
    assert_eq!(
        agent.call(json!({"type": "GET_HEALTH"})).json().unwrap()["get_health"]["healthy"],
        true
    );
    let v = agent.call(json!({"type": "GET_VERSION"})).json().unwrap();
    assert_eq!(
        v["get_version"]["version_info"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        c.get("/version").unwrap().json().unwrap()["version"],
        env!("CARGO_PKG_VERSION")
    );
    let flags = c.get("/flags").unwrap().json().unwrap();
    assert_eq!(
        flags["flags"]["work_dir"],
        agent.work_dir.display().to_string()
    );
    assert_eq!(flags["flags"]["cgroups_root"], agent.cgroups_root);
    assert_eq!(agent.launch_shell("x", "sleep 1000", json!([])).status, 200);
    let list = c.get("/containers").unwrap().json().unwrap();
    assert_eq!(list[0]["container_id"], "x");
    assert!(list[0]["statistics"]["timestamp"].as_f64().is_some());
    // Mesos's /containers names the ContainerStatus `status` (GET_CONTAINERS: `container_status`).
    assert!(
        list[0]["status"]["executor_pid"].as_u64().is_some(),
        "{list}"
    );
    assert!(list[0].get("container_status").is_none(), "{list}");
    let stats = c.get("/monitor/statistics.json").unwrap().json().unwrap();
    assert_eq!(stats[0]["container_id"], "x");
    // Mesos writes the executor's framework and name for every entry; a standalone one has none.
    assert_eq!(stats[0]["framework_id"], "", "{stats}");
    assert_eq!(stats[0]["executor_name"], "", "{stats}");
    // A HEAD and a wrong method.
    assert_eq!(
        c.request("DELETE", "/health", &[], b"").unwrap().status,
        405
    );
}

fn snapshot(agent: &Agent, query: &str) -> serde_json::Value {
    agent
        .client()
        .get(&format!("/metrics/snapshot{query}"))
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn the_loop_measures_its_iterations_and_the_max_resets() {
    if !root_or_skip("loop_stats") {
        return;
    }
    let agent = Agent::start(&[]);
    let before = snapshot(&agent, "");
    for name in [
        "agent/loop_max_iteration_ms",
        "agent/loop_iterations_over_2ms",
        "agent/loop_iterations_over_5ms",
    ] {
        assert!(before[name].as_f64().is_some(), "{name} in {before}");
    }
    // The test binary's hook stalls the iteration that answers this request.
    snapshot(&agent, "?test_stall_ms=200");
    let stalled = snapshot(&agent, "?reset_loop_max=1");
    assert!(
        stalled["agent/loop_max_iteration_ms"].as_f64().unwrap() >= 200.0,
        "{stalled}"
    );
    for name in [
        "agent/loop_iterations_over_2ms",
        "agent/loop_iterations_over_5ms",
    ] {
        assert!(
            stalled[name].as_f64().unwrap() >= before[name].as_f64().unwrap() + 1.0,
            "{name}: {before} then {stalled}"
        );
    }
    // A new window: what is left are short iterations (the generous bound only catches a max
    // that was not reset), while the counters stay monotonic.
    let after = snapshot(&agent, "");
    let max = after["agent/loop_max_iteration_ms"].as_f64().unwrap();
    assert!(max > 0.0 && max < 200.0, "{after}");
    assert!(
        after["agent/loop_iterations_over_5ms"].as_f64().unwrap()
            >= stalled["agent/loop_iterations_over_5ms"].as_f64().unwrap(),
        "{after}"
    );
    let text = agent.client().get("/metrics").unwrap().text();
    assert!(
        text.contains("mesolite_loop_max_iteration_seconds "),
        "{text}"
    );
    assert!(
        text.contains("mesolite_loop_iterations_over_5ms_total "),
        "{text}"
    );
    // The slow iteration is logged at debug (the tests run the agent at DEBUG) with what it did.
    Agent::eventually(
        "the slow iteration's log line",
        std::time::Duration::from_secs(10),
        || {
            agent.log_text().lines().any(|l| {
                l.contains("loop iteration took")
                    && l.contains("GET /metrics/snapshot")
                    && l.contains("Conn(")
            })
        },
    );
}
