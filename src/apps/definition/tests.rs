//! The definitions real clients send (the seed's `app_marathon.json`, the Python client's
//! `MarathonApp`), their echoes, and the launches their instances become.

use serde_json::{json, Value};

use super::launch::{launch_json, InstanceFacts};
use super::validate::parse;
use super::AppDefinition;
use crate::containerizer::{parse_launch, LaunchRequest};
use crate::spec::{DockerNetwork, PortProtocol, VolumeMode, VolumeSource};

/// The seed's `app_marathon.json`, as the walkthrough posts it.
fn seed() -> Value {
    json!({
      "id": "app",
      "container": {
        "docker": {
          "image": "localhost:5000/containersol/nodejs_app:latest",
          "network": "BRIDGE",
          "portMappings": [
            {"containerPort": 8000, "servicePort": 8000}
          ]
        }
      },
      "cpus": 0.2,
      "mem": 512.0,
      "instances": 1
    })
}

/// A MESOS app with everything an instance's launch carries.
fn mesos_app() -> Value {
    json!({
        "id": "/tools/worker",
        "args": ["/bin/worker", "--port", "8080"],
        "env": {"MODE": "batch", "PORT0": "overridden"},
        "fetch": [{"uri": "http://files.local/worker.tgz", "extract": true},
                  {"uri": "http://files.local/conf.json", "destPath": "conf/worker.json"}],
        "container": {"type": "MESOS",
            "docker": {"image": "busybox:1.36", "forcePullImage": true},
            "volumes": [{"containerPath": "data", "hostPath": "/srv/worker", "mode": "RO"}]},
        "portDefinitions": [{"port": 0, "name": "http"}, {"port": 9100}],
        "labels": {"team": "ops", "a.b-c": "x"},
        "healthChecks": [
            {"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0},
            {"protocol": "COMMAND", "command": {"value": "test -f /tmp/ok"}}],
        "cpus": 0.5, "mem": 64, "instances": 2
    })
}

fn parsed(v: Value) -> AppDefinition {
    parse(&v, None).unwrap_or_else(|e| panic!("refused {v}: {}", e.to_json()))
}

fn launch(def: &AppDefinition, ports: &[u16]) -> LaunchRequest {
    let facts = InstanceFacts {
        task_id: "app.0123456789abcdef0123456789abcdef",
        container_id: "app_0123456789abcdef0123456789abcdef",
        host_ports: ports,
        hostname: "node-1",
    };
    let v = launch_json(def, &facts);
    parse_launch(&v).unwrap_or_else(|e| panic!("launch refused: {e}\n{v:#}"))
}

fn env_of(req: &LaunchRequest, name: &str) -> Option<String> {
    req.command
        .environment
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[test]
fn test_seed_app_parses_and_echoes_with_marathons_defaults() {
    let def = parsed(seed());
    let echo = def.to_json();
    let expected = json!({
        "id": "/app",
        "container": {"type": "DOCKER", "volumes": [], "docker": {
            "image": "localhost:5000/containersol/nodejs_app:latest",
            "network": "BRIDGE", "privileged": false, "parameters": [], "forcePullImage": false,
            "portMappings": [{"containerPort": 8000, "hostPort": 0, "servicePort": 8000,
                "protocol": "tcp", "labels": {}}]}},
        "cpus": 0.2, "mem": 512, "disk": 0, "gpus": 0, "instances": 1,
        "env": {}, "labels": {}, "executor": "", "constraints": [], "fetch": [],
        "storeUrls": [], "healthChecks": [], "readinessChecks": [], "dependencies": [],
        "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 3600,
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
        "portDefinitions": [], "requirePorts": false, "killSelection": "YOUNGEST_FIRST",
        "version": null
    });
    assert_eq!(echo, expected, "{echo:#}");
    // The echo is itself a definition that reads back to the same app.
    assert_eq!(parsed(echo), def);
    assert_eq!(def.port_needs().len(), 1);
}

#[test]
fn test_the_python_clients_json_parses() {
    // marathon 0.13: MarathonApp(cmd="sleep 1000", mem=16, cpus=0.1, instances=2)
    //     .to_json(minimal=True), before and after create_app sets its id.
    let bare = r#"{"cmd": "sleep 1000", "cpus": 0.1, "instances": 2, "mem": 16}"#;
    let with_id = r#"{"cmd": "sleep 1000", "cpus": 0.1, "id": "/web", "instances": 2, "mem": 16}"#;
    let def = parsed(serde_json::from_str(with_id).expect("JSON"));
    assert_eq!(
        (def.id.as_str(), def.instances, def.cpus, def.mem),
        ("/web", 2, 0.1, 16.0)
    );
    let body: Value = serde_json::from_str(bare).expect("JSON");
    assert_eq!(parse(&body, Some("/web")).expect("with the path's id"), def);
    // What the client PUTs back after reading our answer (MarathonApp.from_json(answer)
    // .to_json(minimal=True), version blanked as update_app does): output of
    // scripts/marathon-client-echo.py for the seed app and the MESOS app.
    for round_trip in [SEED_ROUND_TRIP, MESOS_ROUND_TRIP] {
        let v: Value = serde_json::from_str(round_trip).expect("JSON");
        parsed(v);
    }
    assert_eq!(
        parsed(serde_json::from_str(SEED_ROUND_TRIP).expect("JSON")),
        parsed(seed())
    );
    assert_eq!(
        parsed(serde_json::from_str(MESOS_ROUND_TRIP).expect("JSON")),
        parsed(mesos_app())
    );
}

const SEED_ROUND_TRIP: &str = r#"{"backoffFactor": 1.15, "backoffSeconds": 1, "container": {"docker": {"forcePullImage": false, "image": "localhost:5000/containersol/nodejs_app:latest", "network": "BRIDGE", "portMappings": [{"containerPort": 8000, "hostPort": 0, "protocol": "tcp", "servicePort": 8000}], "privileged": false}, "type": "DOCKER"}, "cpus": 0.2, "disk": 0, "gpus": 0, "id": "/app", "instances": 1, "killSelection": "YOUNGEST_FIRST", "maxLaunchDelaySeconds": 3600, "mem": 512, "requirePorts": false, "upgradeStrategy": {"maximumOverCapacity": 1, "minimumHealthCapacity": 1}}"#;
const MESOS_ROUND_TRIP: &str = r#"{"args": ["/bin/worker", "--port", "8080"], "backoffFactor": 1.15, "backoffSeconds": 1, "container": {"docker": {"forcePullImage": true, "image": "busybox:1.36", "network": "HOST", "privileged": false}, "type": "MESOS", "volumes": [{"containerPath": "data", "hostPath": "/srv/worker", "mode": "RO"}]}, "cpus": 0.5, "disk": 0, "env": {"MODE": "batch", "PORT0": "overridden"}, "fetch": [{"cache": false, "executable": false, "extract": true, "uri": "http://files.local/worker.tgz"}, {"cache": false, "destPath": "conf/worker.json", "executable": false, "extract": true, "uri": "http://files.local/conf.json"}], "gpus": 0, "healthChecks": [{"delaySeconds": 15, "gracePeriodSeconds": 300, "ignoreHttp1xx": false, "intervalSeconds": 60, "maxConsecutiveFailures": 3, "path": "/health", "portIndex": 0, "protocol": "MESOS_HTTP", "timeoutSeconds": 20}, {"command": {"value": "test -f /tmp/ok"}, "delaySeconds": 15, "gracePeriodSeconds": 300, "ignoreHttp1xx": false, "intervalSeconds": 60, "maxConsecutiveFailures": 3, "path": "/", "protocol": "COMMAND", "timeoutSeconds": 20}], "id": "/tools/worker", "instances": 2, "killSelection": "YOUNGEST_FIRST", "labels": {"a.b-c": "x", "team": "ops"}, "maxLaunchDelaySeconds": 3600, "mem": 64, "portDefinitions": [{"name": "http", "port": 0, "protocol": "tcp"}, {"port": 9100, "protocol": "tcp"}], "requirePorts": false, "upgradeStrategy": {"maximumOverCapacity": 1, "minimumHealthCapacity": 1}}"#;

#[test]
fn test_echoes_for_the_python_client() {
    // scripts/marathon-client-echo.py reads these (MESOLITE_ECHO_DIR) and feeds them to
    // MarathonApp.from_json: only Marathon's field names, no nulls where it wants objects.
    let seed = parsed(seed()).to_json();
    let mesos = parsed(mesos_app()).to_json();
    for echo in [&seed, &mesos] {
        for absent in [
            "cmd",
            "args",
            "user",
            "acceptedResourceRoles",
            "uris",
            "ports",
        ] {
            if echo.get(absent).is_some() {
                assert!(!echo[absent].is_null(), "{absent} null in {echo}");
            }
        }
    }
    assert_eq!(mesos["fetch"][1]["destPath"], "conf/worker.json");
    assert_eq!(
        mesos["healthChecks"][1]["command"]["value"],
        "test -f /tmp/ok"
    );
    if let Some(dir) = std::env::var_os("MESOLITE_ECHO_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("seed.json"), seed.to_string()).expect("write");
        std::fs::write(dir.join("mesos.json"), mesos.to_string()).expect("write");
    }
}

#[test]
fn test_docker_bridge_launch_with_dynamic_host_ports() {
    let mut app = seed();
    app["container"]["docker"]["portMappings"] = json!([
        {"containerPort": 8000, "hostPort": 0, "servicePort": 8000},
        {"containerPort": 0, "hostPort": 0, "name": "admin"},
        {"containerPort": 53, "hostPort": 0, "protocol": "udp,tcp"}]);
    app["labels"] = json!({"tier": "front"});
    let def = parsed(app);
    assert!(def.port_needs().iter().all(|n| n.host_port == 0));
    let req = launch(&def, &[31000, 31001, 31002]);
    let d = req.container.docker.as_ref().expect("docker");
    assert_eq!(d.image, "localhost:5000/containersol/nodejs_app:latest");
    assert_eq!(d.network, DockerNetwork::Bridge);
    let mappings: Vec<(u16, u16, PortProtocol)> = d
        .port_mappings
        .iter()
        .map(|m| (m.host_port, m.container_port, m.protocol))
        .collect();
    assert_eq!(
        mappings,
        [
            (31000, 8000, PortProtocol::Tcp),
            (31001, 31001, PortProtocol::Tcp),
            (31002, 53, PortProtocol::Udp),
            (31002, 53, PortProtocol::Tcp),
        ]
    );
    for (name, value) in [
        ("PORT0", "31000"),
        ("PORT1", "31001"),
        ("PORT2", "31002"),
        ("PORT", "31000"),
        ("PORTS", "31000,31001,31002"),
        ("PORT_8000", "31000"),
        ("PORT_31001", "31001"),
        ("PORT_ADMIN", "31001"),
        ("PORT_53", "31002"),
        ("HOST", "node-1"),
        ("MESOS_TASK_ID", "app.0123456789abcdef0123456789abcdef"),
        ("MARATHON_APP_ID", "/app"),
        (
            "MARATHON_APP_DOCKER_IMAGE",
            "localhost:5000/containersol/nodejs_app:latest",
        ),
        ("MARATHON_APP_RESOURCE_CPUS", "0.2"),
        ("MARATHON_APP_RESOURCE_MEM", "512.0"),
        ("MARATHON_APP_RESOURCE_GPUS", "0"),
        ("MARATHON_APP_LABELS", "TIER"),
        ("MARATHON_APP_LABEL_TIER", "front"),
    ] {
        assert_eq!(env_of(&req, name).as_deref(), Some(value), "{name}");
    }
    assert_eq!(env_of(&req, "PORT_0"), None);
    let ports: Vec<(u16, u16)> = req
        .resources
        .ports
        .iter()
        .map(|r| (r.begin, r.end))
        .collect();
    assert_eq!(ports, [(31000, 31002)]);
    assert_eq!(req.resources.cpus, 0.2);
    assert_eq!(req.resources.mem_mb, 512.0);
}

#[test]
fn test_mesos_launch_with_args_env_fetch_and_volumes() {
    let def = parsed(mesos_app());
    let req = launch(&def, &[31005, 9100]);
    assert!(!req.command.shell);
    assert_eq!(req.command.value, "/bin/worker");
    assert_eq!(req.command.arguments, ["/bin/worker", "--port", "8080"]);
    let uris: Vec<(&str, bool, Option<&str>)> = req
        .command
        .uris
        .iter()
        .map(|u| (u.value.as_str(), u.extract, u.output_file.as_deref()))
        .collect();
    assert_eq!(
        uris,
        [
            ("http://files.local/worker.tgz", true, None),
            (
                "http://files.local/conf.json",
                true,
                Some("conf/worker.json")
            ),
        ]
    );
    let image = req.container.image.as_ref().expect("the MESOS image");
    assert!(!image.cached, "forcePullImage pulls again");
    assert!(req.container.docker.is_none());
    assert_eq!(req.container.volumes.len(), 1);
    let v = &req.container.volumes[0];
    assert_eq!(v.container_path, std::path::PathBuf::from("data"));
    assert_eq!(v.mode, VolumeMode::Ro);
    assert_eq!(v.source, VolumeSource::Legacy("/srv/worker".into()));
    for (name, value) in [
        ("MODE", "batch"),
        ("PORT0", "overridden"),
        ("PORT1", "9100"),
        ("PORT_HTTP", "31005"),
        ("PORT_31005", "31005"),
        ("PORT_9100", "9100"),
        ("PORTS", "31005,9100"),
        ("MARATHON_APP_ID", "/tools/worker"),
        ("MARATHON_APP_LABELS", "A_B_C TEAM"),
        ("MARATHON_APP_LABEL_A_B_C", "x"),
        ("MARATHON_APP_RESOURCE_MEM", "64.0"),
    ] {
        assert_eq!(env_of(&req, name).as_deref(), Some(value), "{name}");
    }
    assert_eq!(env_of(&req, "MARATHON_APP_DOCKER_IMAGE"), None);
    // The app's env overrides Marathon's variable, once.
    let port0 = req
        .command
        .environment
        .iter()
        .filter(|(k, _)| k == "PORT0")
        .count();
    assert_eq!(port0, 1);
}

#[test]
fn test_mesos_launch_of_a_shell_command_without_ports() {
    let def = parsed(json!({"id": "/sleeper", "cmd": "sleep 1000", "portDefinitions": []}));
    let req = launch(&def, &[]);
    assert!(req.command.shell);
    assert_eq!(req.command.value, "sleep 1000");
    assert_eq!(env_of(&req, "PORTS"), None);
    assert_eq!(env_of(&req, "PORT"), None);
    assert!(req.resources.ports.is_empty());
    // Without portDefinitions, a host-network app gets Marathon's one dynamic port.
    let def = parsed(json!({"id": "/sleeper", "cmd": "sleep 1000"}));
    assert_eq!(def.port_needs().len(), 1);
    assert_eq!(
        env_of(&launch(&def, &[31007]), "PORT0").as_deref(),
        Some("31007")
    );
}
