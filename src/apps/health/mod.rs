//! Marathon health checks of app instances: HTTP and TCP probes as non-blocking sockets in the
//! loop, COMMAND as a child in the instance's container. An instance that fails
//! `maxConsecutiveFailures` checks in a row after its grace period is reported to the app
//! controller, which replaces it.

use serde::{Deserialize, Serialize};

/// Marathon's protocols (`MESOS_HTTP` and `MESOS_TCP` are probed as `HTTP` and `TCP`: on one
/// node the agent is where Mesos would run them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "MESOS_HTTP")]
    MesosHttp,
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "MESOS_TCP")]
    MesosTcp,
    #[serde(rename = "COMMAND")]
    Command,
}

/// A COMMAND check's command (`{"value": "..."}`), run by `/bin/sh -c` in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCommand {
    pub value: String,
}

/// One health check of an app, Marathon's fields and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    #[serde(default = "http")]
    pub protocol: Protocol,
    #[serde(default = "slash", skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Which of the instance's host ports is probed (its `PORT<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
    /// A fixed port to probe instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CheckCommand>,
    #[serde(default = "default_grace")]
    pub grace_period_seconds: u64,
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default = "default_failures")]
    pub max_consecutive_failures: u32,
    #[serde(default)]
    pub ignore_http1xx: bool,
    #[serde(default = "default_delay")]
    pub delay_seconds: u64,
}

fn http() -> Protocol {
    Protocol::Http
}
fn slash() -> Option<String> {
    Some("/".into())
}
fn default_grace() -> u64 {
    300
}
fn default_interval() -> u64 {
    60
}
fn default_timeout() -> u64 {
    20
}
fn default_failures() -> u32 {
    3
}
fn default_delay() -> u64 {
    15
}
