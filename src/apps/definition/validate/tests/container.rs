//! The container rules: type and image, networks, ports, volumes, health checks.

use serde_json::{json, Value};

use super::{app, docker, has, invalid, ok};

#[test]
fn test_bad_port_mappings() {
    let e = invalid(app(json!({"container": docker("BRIDGE", json!([
        {"containerPort": 70000, "hostPort": 8080},
        {"containerPort": 80, "hostPort": -1, "protocol": "sctp"},
        {"containerPort": 81, "hostPort": 8080},
    ]))})));
    let at = "/container/docker/portMappings";
    has(
        &e,
        &format!("{at}(0)/containerPort"),
        "got 70000, expected between 0 and 65535",
    );
    has(
        &e,
        &format!("{at}(1)/hostPort"),
        "got -1, expected between 0 and 65535",
    );
    has(
        &e,
        &format!("{at}(1)/protocol"),
        "is not one of (tcp,udp,udp,tcp)",
    );
    has(&e, at, "Host ports must be unique");
    // Dynamic host ports repeat freely; "udp,tcp" is one mapping for both protocols.
    ok(app(json!({"container": docker("BRIDGE", json!([
        {"containerPort": 53, "hostPort": 0, "protocol": "udp,tcp"},
        {"containerPort": 80, "hostPort": 0}, {"containerPort": 81}]))})));
    has(
        &invalid(app(
            json!({"container": docker("HOST", json!([{"containerPort": 80}]))}),
        )),
        at,
        "portMappings are not allowed with host-networking",
    );
    // Marathon 1.5's place for them is checked at its own path.
    let moved = json!({"type": "DOCKER", "docker": {"image": "busybox", "network": "HOST"},
        "portMappings": [{"containerPort": 80}]});
    has(
        &invalid(app(json!({"container": moved}))),
        "/container/portMappings",
        "portMappings are not allowed with host-networking",
    );
}

#[test]
fn test_port_definitions() {
    let e = invalid(app(json!({"portDefinitions": [
        {"port": 70000}, {"port": 8080, "protocol": "icmp"}, {"port": 8080}]})));
    has(
        &e,
        "/portDefinitions(0)/port",
        "got 70000, expected between 0 and 65535",
    );
    has(
        &e,
        "/portDefinitions(1)/protocol",
        "is not one of (tcp,udp)",
    );
    has(&e, "/portDefinitions", "Ports must be unique.");
    has(
        &invalid(app(json!({"ports": [80, 80]}))),
        "/portDefinitions",
        "Ports must be unique.",
    );
    has(
        &invalid(app(json!({"ports": [70000]}))),
        "/ports(0)",
        "got 70000, expected between 0 and 65535",
    );
    let def = ok(app(json!({"ports": [0, 0, 8080]})));
    assert_eq!(def.port_needs().len(), 3);
    // On the bridge the mappings are the ports (a PUT onto a host-network app keeps its
    // port definitions in the merged body): Marathon drops the definitions.
    let bridge = ok(app(json!({"portDefinitions": [{"port": 0}, {"port": 0}],
        "container": docker("BRIDGE", json!([{"containerPort": 80}]))})));
    assert_eq!(bridge.port_definitions.as_deref().map(<[_]>::len), Some(0));
    assert_eq!(bridge.port_needs().len(), 1);
    has(
        &invalid(app(
            json!({"ports": [80], "portDefinitions": [{"port": 81}]}),
        )),
        "/",
        "cannot specify both ports and port definitions",
    );
}

#[test]
fn test_health_checks() {
    let e = invalid(app(json!({"healthChecks": [
        {"protocol": "HTTP", "portIndex": 1},
        {"protocol": "COMMAND"},
        {"protocol": "HTTP", "command": {"value": "true"}},
        {"protocol": "TCP", "port": 80, "portIndex": 0},
        {"protocol": "HTTPS"},
    ]})));
    has(
        &e,
        "/healthChecks(0)/portIndex",
        "Health check port indices must address an element of the ports array",
    );
    has(
        &e,
        "/healthChecks(1)/command",
        "must be defined for protocol COMMAND",
    );
    has(
        &e,
        "/healthChecks(2)/command",
        "must be undefined for protocol HTTP",
    );
    has(
        &e,
        "/healthChecks(3)",
        "HealthCheck must specify either a port or a portIndex",
    );
    has(
        &e,
        "/healthChecks(4)/protocol",
        "is not one of (HTTP,TCP,COMMAND",
    );
    // A bridge app without mappings has no port to probe.
    has(
        &invalid(app(json!({"container": docker("BRIDGE", json!([])),
            "healthChecks": [{"protocol": "TCP"}]}))),
        "/healthChecks(0)",
        "port indices",
    );
    ok(app(json!({"healthChecks": [
        {"protocol": "HTTP", "path": "/health"},
        {"protocol": "TCP", "portIndex": 0},
        {"protocol": "COMMAND", "command": {"value": "true"}},
        {"protocol": "MESOS_HTTP", "port": 8080}]})));
}

#[test]
fn test_mesos_containers_are_on_the_host_network() {
    let mesos = |docker: Value| json!({"type": "MESOS", "docker": docker});
    let e = invalid(app(json!({"container": mesos(json!({"image": "busybox",
        "network": "BRIDGE", "portMappings": [{"containerPort": 80}],
        "parameters": [{"key": "env", "value": "A=1"}], "privileged": true}))})));
    has(&e, "/container/docker/network", "must be empty");
    has(&e, "/container/docker/portMappings", "must be empty");
    has(&e, "/container/docker/parameters", "must be empty");
    has(&e, "/container/docker/privileged", "must be false");
    let moved = json!({"type": "MESOS", "docker": {"image": "busybox"},
        "portMappings": [{"containerPort": 80}]});
    has(
        &invalid(app(json!({"container": moved}))),
        "/container/portMappings",
        "must be empty",
    );
    ok(app(
        json!({"container": mesos(json!({"image": "busybox", "network": "HOST"}))}),
    ));
    has(
        &invalid(app(json!({"container": docker("USER", json!([]))}))),
        "/container/docker/network",
        "USER networks are not supported",
    );
}

#[test]
fn test_marathon_1_5_networks() {
    let body = |networks: Value| {
        app(json!({"networks": networks, "container": {"type": "DOCKER",
            "docker": {"image": "busybox"}, "portMappings": [{"containerPort": 80}]}}))
    };
    let def = ok(body(json!([{"mode": "container/bridge"}])));
    assert!(def.uses_port_mappings());
    assert_eq!(def.port_mappings()[0].container_port, 80);
    has(
        &invalid(body(json!([{"mode": "container", "name": "dcos"}]))),
        "/networks(0)/mode",
        "not supported",
    );
    has(
        &invalid(body(
            json!([{"mode": "container/bridge"}, {"mode": "host"}]),
        )),
        "/networks",
        "one network",
    );
    let both = json!({"networks": [{"mode": "host"}], "cmd": "x", "id": "/a",
        "container": {"docker": {"image": "busybox", "network": "HOST"}}});
    has(
        &invalid(both),
        "/",
        "must not specify both container.docker.network and networks",
    );
    has(
        &invalid(app(json!({"networks": [{"mode": "container/bridge"}]}))),
        "/networks(0)/mode",
        "needs a Docker image",
    );
}

#[test]
fn test_volumes() {
    let volumes = |kind: &str, vols: Value| {
        app(
            json!({"container": {"type": kind, "docker": {"image": "busybox"},
            "volumes": vols}}),
        )
    };
    let e = invalid(volumes(
        "DOCKER",
        json!([
            {"containerPath": "data", "hostPath": "/srv/data", "mode": "RW"},
            {"containerPath": "/x", "hostPath": "/srv/x", "mode": "RX"},
            {"containerPath": "pv", "persistent": {"size": 10}, "mode": "RW"},
            {"containerPath": "/y", "mode": "RO"},
        ]),
    ));
    has(
        &e,
        "/container/volumes(0)/containerPath",
        "must be an absolute path for DOCKER containers",
    );
    has(&e, "/container/volumes(1)/mode", "is not one of (RO,RW)");
    has(
        &e,
        "/container/volumes(2)/persistent",
        "persistent volumes are not supported",
    );
    has(
        &e,
        "/container/volumes(3)/hostPath",
        "only host volumes are supported",
    );
    ok(volumes(
        "MESOS",
        json!([{"containerPath": "data", "hostPath": "/srv/data", "mode": "RO"}]),
    ));
    ok(volumes(
        "DOCKER",
        json!([{"containerPath": "/data", "hostPath": "/srv/data"}]),
    ));
}

#[test]
fn test_docker_needs_its_object_and_image() {
    has(
        &invalid(app(json!({"container": {"type": "DOCKER"}}))),
        "/container/docker",
        "not defined",
    );
    let e = invalid(app(
        json!({"container": {"type": "DOCKER", "docker": {"network": "BRIDGE"}}}),
    ));
    has(&e, "/container/docker/image", "error.path.missing");
    assert!(
        e.errors_at("/container/docker").is_empty(),
        "{}",
        e.to_json()
    );
    has(
        &invalid(app(json!({"container": {"docker": {"image": ""}}}))),
        "/container/docker/image",
        "must not be empty",
    );
    has(
        &invalid(app(
            json!({"container": {"type": "RKT", "docker": {"image": "x"}}}),
        )),
        "/container/type",
        "is not one of (DOCKER,MESOS)",
    );
}
