//! The container's rules: its type and image, the network and its ports (port mappings on the
//! bridge, port definitions on the host's network), volumes, and the health checks that probe
//! those ports. Marathon's messages where Marathon has the rule; where one node is narrower
//! (MESOS containers on the host network only, no USER networks) the message says so.

use std::collections::BTreeSet;

use super::{at, index, Found};
use crate::apps::definition::{AppDefinition, ContainerType, Network};
use crate::apps::health::{HealthCheck, Protocol};

const PORT_INDEX: &str =
    "Health check port indices must address an element of the ports array or container port mappings.";
const MAPPING_PROTOCOLS: [&str; 3] = ["tcp", "udp", "udp,tcp"];

/// Where the port mappings were posted: `/container/docker/portMappings`, or Marathon 1.5's
/// `/container/portMappings` (which `normalise` folds into the first).
pub(super) fn mappings_path(def: &AppDefinition) -> &'static str {
    let moved = def
        .container
        .as_ref()
        .and_then(|c| c.port_mappings.as_ref())
        .is_some_and(|m| !m.is_empty());
    if moved {
        "/container/portMappings"
    } else {
        "/container/docker/portMappings"
    }
}

pub(super) fn check_into(def: &AppDefinition, mappings_at: &str, found: &mut Found) {
    if let Some(c) = &def.container {
        match (c.kind, &c.docker) {
            (ContainerType::Docker, None) => found.add("/container/docker", "not defined"),
            (kind, Some(d)) => {
                if d.image.trim().is_empty() {
                    found.add("/container/docker/image", "must not be empty");
                }
                if kind == ContainerType::Mesos {
                    mesos_docker(d, mappings_at, found);
                } else if d.network == Network::User {
                    found.add(
                        "/container/docker/network",
                        "USER networks are not supported by mesolite apps: use BRIDGE or HOST",
                    );
                }
            }
            (ContainerType::Mesos, None) => {}
        }
        for (i, v) in c.volumes.iter().enumerate() {
            volume(v, c.kind, &index("/container/volumes", i), found);
        }
    }
    port_mappings(def, mappings_at, found);
    port_definitions(def, found);
    let ports = def.port_needs().len();
    let mut mesos_checks = 0;
    for (i, hc) in def.health_checks.iter().enumerate() {
        health_check(hc, ports, &index("/healthChecks", i), found);
        mesos_checks += usize::from(matches!(
            hc.protocol,
            Protocol::MesosHttp | Protocol::MesosTcp
        ));
    }
    if mesos_checks > 1 {
        found.add(
            "/",
            "AppDefinition can contain at most one Mesos health check",
        );
    }
}

/// A MESOS container runs its image on the host's network here: the Docker-only fields of
/// `container.docker` must be empty (Marathon's rule for the Mesos containerizer).
fn mesos_docker(d: &crate::apps::definition::Docker, mappings_at: &str, found: &mut Found) {
    if d.network != Network::Host {
        found.add(
            "/container/docker/network",
            "must be empty: MESOS containers run on the host network here",
        );
    }
    if !d.port_mappings.is_empty() {
        found.add(
            mappings_at,
            "must be empty: MESOS containers run on the host network here",
        );
    }
    if !d.parameters.is_empty() {
        found.add("/container/docker/parameters", "must be empty");
    }
    if d.privileged {
        found.add(
            "/container/docker/privileged",
            "must be false: only DOCKER containers run privileged",
        );
    }
}

fn port_mappings(def: &AppDefinition, path: &str, found: &mut Found) {
    let Some(d) = def
        .container
        .as_ref()
        .filter(|c| c.kind == ContainerType::Docker)
        .and_then(|c| c.docker.as_ref())
    else {
        return;
    };
    if d.port_mappings.is_empty() {
        return;
    }
    match d.network {
        Network::Host => found.add(path, "portMappings are not allowed with host-networking"),
        Network::None => found.add(
            path,
            "portMappings are not allowed without a network (NONE)",
        ),
        Network::Bridge | Network::User => {}
    }
    let mut host_ports = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (i, m) in d.port_mappings.iter().enumerate() {
        let here = index(path, i);
        for (field, port) in [
            ("containerPort", m.container_port),
            ("hostPort", m.host_port),
            ("servicePort", m.service_port),
        ] {
            port_range(found, &at(&here, field), port);
        }
        if !MAPPING_PROTOCOLS.contains(&m.protocol.as_str()) {
            found.add(
                &at(&here, "protocol"),
                format!("is not one of ({})", MAPPING_PROTOCOLS.join(",")),
            );
        }
        if m.host_port != 0 && !host_ports.insert(m.host_port) {
            found.add(
                path,
                "Host ports must be unique (protocol \"udp,tcp\" publishes both on one port).",
            );
        }
        if let Some(name) = &m.name {
            if !names.insert(name) {
                found.add(path, "Port names must be unique.");
            }
        }
    }
}

fn port_definitions(def: &AppDefinition, found: &mut Found) {
    let defs = def.port_definitions.as_deref().unwrap_or_default();
    if defs.is_empty() {
        return;
    }
    let mut ports = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (i, d) in defs.iter().enumerate() {
        let here = index("/portDefinitions", i);
        port_range(found, &at(&here, "port"), d.port);
        if d.protocol.split(',').any(|p| !matches!(p, "tcp" | "udp")) {
            found.add(&at(&here, "protocol"), "is not one of (tcp,udp)");
        }
        if d.port != 0 && !ports.insert(d.port) {
            found.add("/portDefinitions", "Ports must be unique.");
        }
        if let Some(name) = &d.name {
            if !names.insert(name) {
                found.add("/portDefinitions", "Port names must be unique.");
            }
        }
    }
}

fn port_range(found: &mut Found, path: &str, port: i64) {
    if !(0..=65535).contains(&port) {
        found.add(path, format!("got {port}, expected between 0 and 65535"));
    }
}

/// Host volumes only (a persistent, external or secret volume was refused by the shape pass);
/// a DOCKER container's path is absolute (a MESOS one may be relative to the sandbox).
fn volume(v: &crate::apps::definition::Volume, kind: ContainerType, path: &str, found: &mut Found) {
    let container_path = at(path, "containerPath");
    if v.container_path.is_empty() {
        found.add(&container_path, "must not be empty");
    } else if kind == ContainerType::Docker && !v.container_path.starts_with('/') {
        found.add(
            &container_path,
            "must be an absolute path for DOCKER containers",
        );
    }
    match v.host_path.as_deref() {
        None => found.add(
            &at(path, "hostPath"),
            "must be defined: only host volumes are supported here (not persistent, external \
             or secret ones)",
        ),
        Some("") => found.add(&at(path, "hostPath"), "must not be empty"),
        Some(_) => {}
    }
    for (field, p) in [
        ("containerPath", Some(v.container_path.as_str())),
        ("hostPath", v.host_path.as_deref()),
    ] {
        if p.is_some_and(|p| p.split('/').any(|s| s == "..")) {
            found.add(&at(path, field), "must not contain '..'");
        }
    }
    if !matches!(v.mode.as_str(), "RO" | "RW") {
        found.add(&at(path, "mode"), "is not one of (RO,RW)");
    }
}

/// A COMMAND check has a command and no port; the others probe one of the instance's ports,
/// by `portIndex` (or the only port) or a fixed `port`, and have no command.
fn health_check(hc: &HealthCheck, ports: usize, path: &str, found: &mut Found) {
    let command = at(path, "command");
    if hc.protocol == Protocol::Command {
        match &hc.command {
            None => found.add(&command, "must be defined for protocol COMMAND"),
            Some(c) if c.value.trim().is_empty() => {
                found.add(&at(&command, "value"), "must not be empty");
            }
            Some(_) => {}
        }
        return;
    }
    if hc.command.is_some() {
        found.add(
            &command,
            format!(
                "must be undefined for protocol {}",
                protocol_name(hc.protocol)
            ),
        );
    }
    match (hc.port_index, hc.port) {
        (Some(_), Some(_)) => found.add(
            path,
            "HealthCheck must specify either a port or a portIndex",
        ),
        (Some(i), None) if usize::try_from(i).map_or(true, |i| i >= ports) => {
            found.add(&at(path, "portIndex"), PORT_INDEX);
        }
        (None, None) if ports != 1 => found.add(path, PORT_INDEX),
        _ => {}
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Http => "HTTP",
        Protocol::MesosHttp => "MESOS_HTTP",
        Protocol::Tcp => "TCP",
        Protocol::MesosTcp => "MESOS_TCP",
        Protocol::Command => "COMMAND",
    }
}
