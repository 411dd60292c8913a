//! An app instance as a LAUNCH_CONTAINER: the definition becomes the Mesos operator API's
//! `launch_container` object, and the same parser as the API's checks it, so an app is held
//! to exactly what a hand-written launch is (and its refusals read the same).

use serde_json::{json, Map, Value};

use super::validate::scala;
use super::{AppDefinition, ContainerType, Network};
use crate::containerizer::{parse_launch, LaunchRequest};

/// What is particular to one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFacts<'a> {
    pub task_id: &'a str,
    pub container_id: &'a str,
    /// Host ports in `PORT0`, `PORT1`, ... order.
    pub host_ports: &'a [u16],
    pub hostname: &'a str,
}

/// The launch of one instance of `def`.
pub fn launch_request(
    def: &AppDefinition,
    facts: &InstanceFacts<'_>,
) -> Result<LaunchRequest, String> {
    parse_launch(&launch_json(def, facts))
}

/// The `launch_container` object (also what `mesolite app deploy --dry-run` would print).
pub fn launch_json(def: &AppDefinition, facts: &InstanceFacts<'_>) -> Value {
    let mut resources = vec![scalar("cpus", def.cpus), scalar("mem", def.mem)];
    if def.disk > 0.0 {
        resources.push(scalar("disk", def.disk));
    }
    if !facts.host_ports.is_empty() {
        let mut ports: Vec<u16> = facts.host_ports.to_vec();
        ports.sort_unstable();
        ports.dedup();
        let range: Vec<Value> = ports
            .iter()
            .map(|p| json!({"begin": p, "end": p}))
            .collect();
        resources.push(json!({"name": "ports", "type": "RANGES", "ranges": {"range": range}}));
    }
    let mut command = Map::new();
    match (&def.cmd, &def.args) {
        (Some(cmd), _) => {
            command.insert("shell".into(), Value::Bool(true));
            command.insert("value".into(), Value::String(cmd.clone()));
        }
        (None, Some(args)) => {
            command.insert("shell".into(), Value::Bool(false));
            if is_docker(def) {
                // Marathon's args of a Docker app are the image's Cmd: appended to its Entrypoint.
                command.insert("arguments".into(), json!(args));
            } else if let Some(first) = args.first() {
                command.insert("value".into(), Value::String(first.clone()));
                command.insert("arguments".into(), json!(args));
            }
        }
        (None, None) => {
            command.insert("shell".into(), Value::Bool(false));
        }
    }
    command.insert(
        "environment".into(),
        json!({"variables": environment(def, facts)
            .into_iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect::<Vec<_>>()}),
    );
    if let Some(user) = &def.user {
        command.insert("user".into(), Value::String(user.clone()));
    }
    if !def.fetch.is_empty() {
        let uris: Vec<Value> = def
            .fetch
            .iter()
            .map(|f| {
                let mut u = json!({
                    "value": f.uri,
                    "extract": f.extract,
                    "executable": f.executable,
                    "cache": f.cache,
                });
                if let Some(out) = &f.output_file {
                    u["output_file"] = Value::String(out.clone());
                }
                u
            })
            .collect();
        command.insert("uris".into(), Value::Array(uris));
    }
    let mut launch = json!({
        "container_id": {"value": facts.container_id},
        "command": Value::Object(command),
        "resources": resources,
    });
    if let Some(container) = container_json(def, facts) {
        launch["container"] = container;
    }
    launch
}

fn scalar(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value}})
}

fn is_docker(def: &AppDefinition) -> bool {
    def.container
        .as_ref()
        .is_some_and(|c| c.kind == ContainerType::Docker && c.docker.is_some())
}

/// Marathon's variables for a task (its `TaskBuilder` and `EnvironmentHelper`), then the
/// app's `env`, which may override them.
pub fn environment(def: &AppDefinition, facts: &InstanceFacts<'_>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: String, v: String| {
        env.retain(|(name, _)| *name != k);
        env.push((k, v));
    };
    set("MESOS_TASK_ID".into(), facts.task_id.into());
    set("MARATHON_APP_ID".into(), def.id.clone());
    set(
        "MARATHON_APP_VERSION".into(),
        def.version.clone().unwrap_or_default(),
    );
    if let Some(d) = def.container.as_ref().and_then(|c| c.docker.as_ref()) {
        if is_docker(def) {
            set("MARATHON_APP_DOCKER_IMAGE".into(), d.image.clone());
        }
    }
    set("MARATHON_APP_RESOURCE_CPUS".into(), scala(def.cpus));
    set("MARATHON_APP_RESOURCE_MEM".into(), scala(def.mem));
    set("MARATHON_APP_RESOURCE_DISK".into(), scala(def.disk));
    set(
        "MARATHON_APP_RESOURCE_GPUS".into(),
        format!("{:.0}", def.gpus),
    );
    // Labels as Marathon exports them: names escaped, too long ones left out.
    let labels: Vec<(String, &String)> = def
        .labels
        .iter()
        .filter(|(k, v)| k.len() < MAX_ENV - LABEL_PREFIX.len() && v.len() < MAX_ENV)
        .map(|(k, v)| (label_name(k), v))
        .collect();
    set(
        "MARATHON_APP_LABELS".into(),
        labels
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    for (k, v) in &labels {
        set(format!("{LABEL_PREFIX}{k}"), (*v).clone());
    }
    let ports = facts.host_ports;
    if !ports.is_empty() {
        for (i, p) in ports.iter().enumerate() {
            set(format!("PORT{i}"), p.to_string());
        }
        // PORT_<the port asked for> (the container port on the bridge), or PORT_<the one
        // given> for a dynamic one; and PORT_<NAME> for a named one.
        for ((name, asked), p) in requested_ports(def).into_iter().zip(ports) {
            let key = if asked > 0 {
                asked.to_string()
            } else {
                p.to_string()
            };
            set(format!("PORT_{key}"), p.to_string());
            if let Some(name) = name {
                set(format!("PORT_{}", name.to_uppercase()), p.to_string());
            }
        }
        set("PORT".into(), ports[0].to_string());
        set(
            "PORTS".into(),
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    set("HOST".into(), facts.hostname.into());
    for (k, v) in &def.env {
        set(k.clone(), v.clone());
    }
    env
}

const MAX_ENV: usize = 512;
const LABEL_PREFIX: &str = "MARATHON_APP_LABEL_";

/// Marathon's label escape: runs of anything but `[a-zA-Z0-9_]` become one `_`, upper case.
fn label_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut in_run = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_uppercase());
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// The ports as the app asks for them, in `PORT<n>` order: the mappings' container ports on
/// the bridge, the port definitions' ports on the host's network (0: any).
fn requested_ports(def: &AppDefinition) -> Vec<(Option<&String>, i64)> {
    if def.uses_port_mappings() {
        def.port_mappings()
            .iter()
            .map(|m| (m.name.as_ref(), m.container_port))
            .collect()
    } else {
        def.port_definitions
            .iter()
            .flatten()
            .map(|d| (d.name.as_ref(), d.port))
            .collect()
    }
}

fn container_json(def: &AppDefinition, facts: &InstanceFacts<'_>) -> Option<Value> {
    let c = def.container.as_ref()?;
    let volumes: Vec<Value> = c
        .volumes
        .iter()
        .map(|v| {
            let mut vol = json!({"container_path": v.container_path, "mode": v.mode});
            if let Some(h) = &v.host_path {
                vol["host_path"] = Value::String(h.clone());
            }
            vol
        })
        .collect();
    match (c.kind, &c.docker) {
        (ContainerType::Docker, Some(d)) => {
            let network = match d.network {
                Network::Host => "HOST",
                Network::Bridge => "BRIDGE",
                Network::User => "USER",
                Network::None => "NONE",
            };
            let mappings: Vec<Value> = if def.uses_port_mappings() {
                d.port_mappings
                    .iter()
                    .zip(facts.host_ports)
                    .flat_map(|(m, host)| {
                        // containerPort 0 means "the same as the host port" in Marathon.
                        let container = if m.container_port == 0 {
                            i64::from(*host)
                        } else {
                            m.container_port
                        };
                        // "udp,tcp" publishes the port for both protocols.
                        m.protocol.split(',').map(move |protocol| {
                            json!({"host_port": host, "container_port": container, "protocol": protocol})
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let parameters: Vec<Value> = d
                .parameters
                .iter()
                .map(|p| json!({"key": p.key, "value": p.value}))
                .collect();
            Some(json!({
                "type": "DOCKER",
                "docker": {
                    "image": d.image,
                    "network": network,
                    "port_mappings": mappings,
                    "privileged": d.privileged,
                    "parameters": parameters,
                    "force_pull_image": d.force_pull_image,
                },
                "volumes": volumes,
            }))
        }
        (ContainerType::Mesos, docker) => {
            let mut info = json!({"type": "MESOS", "volumes": volumes});
            if let Some(d) = docker {
                info["mesos"] = json!({"image": {
                    "type": "DOCKER",
                    "docker": {"name": d.image},
                    "cached": !d.force_pull_image,
                }});
            }
            Some(info)
        }
        (ContainerType::Docker, None) => {
            (!volumes.is_empty()).then(|| json!({"type": "MESOS", "volumes": volumes}))
        }
    }
}
