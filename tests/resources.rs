//! Acceptance 8: the agent is its own allocator; launches beyond `--resources` are refused and
//! resources free up when containers end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{resources, root_or_skip, Agent};
use serde_json::json;

#[test]
fn launches_beyond_the_declared_resources_are_refused() {
    if !root_or_skip("insufficient_resources") {
        return;
    }
    let agent = Agent::start(&["--resources=cpus:1;mem:256;disk:1000;ports:[31000-31001]"]);
    assert_eq!(
        agent
            .launch_shell("a", "sleep 1000", resources(0.6, 100.0))
            .status,
        200
    );
    let r = agent.launch_shell("b", "sleep 1000", resources(0.6, 100.0));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Insufficient resources"), "{}", r.text());
    assert!(
        agent.container("b").is_none(),
        "a refused launch keeps nothing"
    );
    let too_much_mem = agent.launch_shell("c", "true", resources(0.1, 200.0));
    assert_eq!(too_much_mem.status, 400);
    let port = agent.launch_shell(
        "p",
        "true",
        json!([{"name": "ports", "type": "RANGES",
        "ranges": {"range": [{"begin": 40000, "end": 40000}]}}]),
    );
    assert_eq!(port.status, 400, "a port outside the node's ranges");
    let metrics = agent
        .client()
        .get("/metrics/snapshot")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(metrics["slave/cpus_used"], 0.6);
    // Once `a` ends (TERMINATED, not even removed), its resources are free again.
    assert_eq!(agent.kill("a", None).status, 200);
    agent.wait_json("a");
    assert_eq!(
        agent
            .launch_shell("b", "sleep 1000", resources(0.6, 100.0))
            .status,
        200
    );
}

#[test]
fn unknown_resource_names_are_400() {
    if !root_or_skip("unknown_resource") {
        return;
    }
    let agent = Agent::start(&[]);
    let r = agent.launch_shell(
        "g",
        "true",
        json!([{"name": "gpus", "type": "SCALAR", "scalar": {"value": 1}}]),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("gpus"), "{}", r.text());
}
