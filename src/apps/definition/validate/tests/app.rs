//! The app-level rules: id, resources, command, backoff, env, placement, fetch.

use serde_json::json;

use super::super::{check_node, parse};
use super::{app, docker, has, invalid, ok};

#[test]
fn test_missing_id_and_the_put_path_id() {
    let e = invalid(json!({"cmd": "x"}));
    has(&e, "/id", "error.path.missing");
    assert_eq!(e.to_json()["message"], "Object is not valid");
    assert_eq!(e.violations.len(), 1, "{}", e.to_json());
    let def = parse(&json!({"cmd": "x"}), Some("/web")).expect("the path's id");
    assert_eq!(def.id, "/web");
    let null_id = parse(&json!({"id": null, "cmd": "x"}), Some("/web")).expect("null is absent");
    assert_eq!(null_id.id, "/web");
    assert_eq!(ok(json!({"id": "web/db", "cmd": "x"})).id, "/web/db");
}

#[test]
fn test_invalid_ids_get_marathons_pattern() {
    for id in ["a b", "Web", "-web", "web-", "a#b", "shop/Cart"] {
        has(
            &invalid(json!({"id": id, "cmd": "x"})),
            "/id",
            "must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*",
        );
    }
    has(
        &invalid(json!({"id": "/", "cmd": "x"})),
        "/id",
        "Path must contain at least one path element",
    );
    has(
        &invalid(json!({"id": "/web/tasks", "cmd": "x"})),
        "/id",
        "must not end with any of the following reserved keywords: restart, tasks",
    );
    assert!(!invalid(json!({"id": "a/./b", "cmd": "x"}))
        .errors_at("/id")
        .is_empty());
    has(
        &invalid(json!({"id": 7, "cmd": "x"})),
        "/id",
        "error.expected.jsstring",
    );
}

#[test]
fn test_negative_instances_and_resources() {
    let e = invalid(app(
        json!({"instances": -1, "cpus": -0.5, "mem": -3, "disk": -1}),
    ));
    has(&e, "/instances", "got -1, expected 0 or more");
    has(&e, "/cpus", "got -0.5, expected 0.0 or more");
    has(&e, "/mem", "got -3.0, expected 0.0 or more");
    has(&e, "/disk", "got -1.0, expected 0.0 or more");
    assert_eq!(ok(app(json!({"instances": 0}))).instances, 0);
}

#[test]
fn test_type_errors_are_violations_at_their_paths_with_the_rest() {
    let e = invalid(app(json!({
        "instances": "two", "mem": [], "cpus": {}, "requirePorts": "yes",
        "labels": {"tier": 1}, "args": "not-a-list", "disk": -2,
        "container": {"type": "DOCKER", "docker": {"image": "busybox",
            "portMappings": [{"containerPort": "80"}]}},
        "healthChecks": [{"protocol": "HTTP", "intervalSeconds": -1}],
    })));
    has(&e, "/instances", "error.expected.jsnumber");
    has(&e, "/mem", "error.expected.jsnumber");
    has(&e, "/cpus", "error.expected.jsnumber");
    has(&e, "/requirePorts", "error.expected.jsboolean");
    has(&e, "/labels/tier", "error.expected.jsstring");
    has(&e, "/args", "error.expected.jsarray");
    has(
        &e,
        "/container/docker/portMappings(0)/containerPort",
        "error.expected.jsnumber",
    );
    has(
        &e,
        "/healthChecks(0)/intervalSeconds",
        "got -1, expected 0 or more",
    );
    // The well-typed rest is still checked.
    has(&e, "/disk", "got -2.0, expected 0.0 or more");
    assert!(e.errors_at("/").is_empty(), "{}", e.to_json());
    assert_eq!(
        invalid(json!([1])).errors_at("/"),
        ["error.expected.jsobject"]
    );
}

#[test]
fn test_whole_doubles_are_integers_and_nulls_absent() {
    let def = ok(app(
        json!({"instances": 2.0, "args": null, "container": null, "mem": null}),
    ));
    assert_eq!(def.instances, 2);
    assert_eq!(def.mem, 128.0);
    has(
        &invalid(app(json!({"instances": 2.5}))),
        "/instances",
        "error.expected.int",
    );
}

#[test]
fn test_cmd_and_args_or_an_image() {
    let message = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.";
    has(&invalid(app(json!({"args": ["sleep", "1"]}))), "/", message);
    has(&invalid(json!({"id": "/web"})), "/", message);
    has(
        &invalid(json!({"id": "/web", "container": {"type": "MESOS"}})),
        "/",
        message,
    );
    ok(json!({"id": "/web", "args": ["sleep", "1"]}));
    ok(json!({"id": "/web", "container": docker("HOST", json!([]))}));
    has(
        &invalid(app(json!({"cmd": " "}))),
        "/cmd",
        "must not be an empty string",
    );
}

#[test]
fn test_upgrade_strategy_and_backoff() {
    let e = invalid(app(json!({
        "upgradeStrategy": {"minimumHealthCapacity": 1.2, "maximumOverCapacity": -0.1},
        "backoffFactor": 0.5, "backoffSeconds": -1, "maxLaunchDelaySeconds": -1})));
    has(
        &e,
        "/upgradeStrategy/minimumHealthCapacity",
        "got 1.2, expected between 0.0 and 1.0",
    );
    has(
        &e,
        "/upgradeStrategy/maximumOverCapacity",
        "got -0.1, expected between 0.0 and 1.0",
    );
    has(&e, "/backoffFactor", "got 0.5, expected 1.0 or more");
    has(&e, "/backoffSeconds", "got -1, expected 0 or more");
    has(&e, "/maxLaunchDelaySeconds", "got -1, expected 0 or more");
    let def = ok(app(
        json!({"upgradeStrategy": {"minimumHealthCapacity": 0.5},
        "backoffFactor": 1, "backoffSeconds": 0}),
    ));
    assert_eq!(def.upgrade_strategy.minimum_health_capacity, 0.5);
    assert_eq!(def.upgrade_strategy.maximum_over_capacity, 1.0);
}

#[test]
fn test_env_values_are_strings_and_secrets_refused() {
    let e = invalid(app(
        json!({"env": {"A": 1, "B": {"secret": "db"}, "C": "ok", "D=": "x"}}),
    ));
    has(&e, "/env/A", "error.expected.jsstring");
    has(
        &e,
        "/env/B",
        "secret-references in the environment needs the secrets feature",
    );
    has(&e, "/env/D=", "must not contain '='");
    assert!(e.errors_at("/env/C").is_empty());
    has(
        &invalid(app(json!({"secrets": {"db": {"source": "/db/pw"}}}))),
        "/secrets",
        "no secret store",
    );
    ok(app(json!({"secrets": {}, "env": {"A": "1"}})));
}

#[test]
fn test_what_one_node_cannot_honour_is_refused() {
    let e = invalid(app(json!({
        "constraints": [["rack_id", "CLUSTER", "a"], ["hostname", "FOO"], ["hostname"]],
        "acceptedResourceRoles": ["slave_public"],
        "residency": {"taskLostBehavior": "WAIT_FOREVER"},
        "gpus": 1, "executor": "/opt/my-executor", "tty": true,
        "ipAddress": {"networkName": "n"}, "role": "dev"})));
    has(
        &e,
        "/constraints(0)",
        "only hostname constraints are supported",
    );
    has(
        &e,
        "/constraints(1)",
        "operator must be one of the following",
    );
    has(
        &e,
        "/constraints(2)",
        "Each constraint must have either 2 or 3 fields",
    );
    has(
        &e,
        "/acceptedResourceRoles",
        "acceptedResourceRoles can only contain *",
    );
    has(&e, "/residency", "not supported");
    has(&e, "/gpus", "GPU resources are not supported");
    has(&e, "/executor", "custom executors are not supported");
    has(&e, "/tty", "not supported");
    has(&e, "/ipAddress", "not supported");
    has(&e, "/role", "got dev, expected one of: [*]");
    has(
        &invalid(app(
            json!({"instances": 2, "constraints": [["hostname", "UNIQUE"]]}),
        )),
        "/constraints(0)",
        "hostname:UNIQUE allows one instance on a single node, not 2",
    );
    has(
        &invalid(app(
            json!({"instances": 3, "constraints": [["hostname", "MAX_PER", "2"]]}),
        )),
        "/constraints(0)",
        "allows 2 instances on a single node, not 3",
    );
    has(
        &invalid(app(
            json!({"constraints": [["hostname", "LIKE", "web-[0-9]+"]]}),
        )),
        "/constraints(0)",
        "cannot be matched here",
    );
    ok(app(json!({
        "constraints": [["hostname", "UNIQUE"], ["hostname", "MAX_PER", "1"],
            ["hostname", "GROUP_BY"], ["hostname", "LIKE", ".*"]],
        "acceptedResourceRoles": ["*"], "executor": "//cmd", "gpus": 0, "tty": false,
        "role": "*", "residency": null})));
}

#[test]
fn test_hostname_constraints_against_this_node() {
    let def = ok(app(
        json!({"constraints": [["hostname", "CLUSTER", "node-1"],
        ["hostname", "LIKE", "node.1"], ["hostname", "UNLIKE", "other"]]}),
    ));
    assert!(check_node(&def, "node-1").is_ok());
    let e = check_node(&def, "node-2").expect_err("another host");
    has(
        &e,
        "/constraints(0)",
        "hostname:CLUSTER:node-1 cannot be met: this node is node-2",
    );
    has(&e, "/constraints(1)", "hostname:LIKE:node.1 cannot be met");
    let unlike = ok(app(
        json!({"constraints": [["hostname", "UNLIKE", "node-1"]]}),
    ));
    assert!(check_node(&unlike, "node-1").is_err());
}

#[test]
fn test_fetch_and_uris() {
    has(
        &invalid(app(
            json!({"uris": ["http://h/a.tgz"], "fetch": [{"uri": "http://h/b.tgz"}]}),
        )),
        "/uris",
        "may not be set in conjunction with fetch",
    );
    has(
        &invalid(app(json!({"fetch": [{"uri": "http://h/a b.tgz"}]}))),
        "/fetch(0)/uri",
        "URI has invalid syntax.",
    );
    has(
        &invalid(app(json!({"fetch": [{"extract": true}]}))),
        "/fetch(0)/uri",
        "error.path.missing",
    );
    let def = ok(app(json!({"uris": ["http://h/a.tgz"]})));
    assert_eq!(def.fetch[0].uri, "http://h/a.tgz");
}

#[test]
fn test_what_the_launch_parser_refuses_is_refused_now() {
    // No file name to fetch into: only the launch parser knows.
    has(
        &invalid(app(json!({"fetch": [{"uri": "http://host"}]}))),
        "/",
        "URI",
    );
}

#[test]
fn test_every_violation_at_once_in_marathons_body() {
    let e = invalid(json!({"instances": -1, "mem": "lots",
        "container": {"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE",
            "portMappings": [{"containerPort": 8080, "hostPort": 70000}]}},
        "upgradeStrategy": {"minimumHealthCapacity": 2}}));
    let body = e.to_json();
    assert_eq!(body["message"], "Object is not valid");
    let paths: Vec<&str> = body["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["path"].as_str().expect("a path"))
        .collect();
    for p in [
        "/id",
        "/instances",
        "/mem",
        "/container/docker/portMappings(0)/hostPort",
        "/upgradeStrategy/minimumHealthCapacity",
    ] {
        assert!(paths.contains(&p), "{p} missing from {body}");
    }
    assert!(body["details"][0]["errors"].is_array());
}
