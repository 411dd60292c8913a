//! Marathon health checks of app instances: HTTP and TCP probes as non-blocking sockets in the
//! loop, COMMAND as a child in the instance's container. An instance that fails
//! `maxConsecutiveFailures` checks in a row after its grace period is reported to the app
//! controller, which replaces it.
//!
//! Timing as Marathon's: a check first runs `delaySeconds` after the watch (Marathon uses it
//! for its MESOS_* checks only; here it applies to all, default 15), then every
//! `intervalSeconds`; a probe that takes longer than `timeoutSeconds` fails; failures within
//! `gracePeriodSeconds` of the watch do not count until a first success. HTTP is healthy on
//! 200-399; a 1xx answer to a check with `ignoreHttp1xx` is discarded (Marathon's `Ignored`:
//! the health stays as it was).

mod book;
mod checker;
mod command;
mod exec;
mod probe;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use checker::Checker;
pub use exec::{run as run_verb, VERB};

/// Where a task's checks are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where HTTP and TCP checks connect (127.0.0.1 for host ports).
    pub ip: IpAddr,
    /// The task's host ports (`PORT0`, ...): a check probes the one at its `portIndex` (0)
    /// unless it names a `port`.
    pub ports: Vec<u16>,
    /// The container's first process, whose namespaces a COMMAND check runs in.
    pub pid: Option<i32>,
    /// The task's environment, which a COMMAND check gets (Marathon's examples use `$HOST`
    /// and `$PORT0`).
    pub env: Vec<(String, String)>,
}

/// A task's health changed: every check alive, the most consecutive failures of any, and
/// whether one reached its `maxConsecutiveFailures` (failures within the grace period before
/// a first success do not count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub task: String,
    pub alive: bool,
    pub consecutive_failures: u32,
    pub failed_out: bool,
}

/// One check's results, Marathon's `healthCheckResults` entry; times in unix seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckResult {
    pub alive: bool,
    pub consecutive_failures: u32,
    pub first_success: Option<f64>,
    pub last_success: Option<f64>,
    pub last_failure: Option<f64>,
    pub last_failure_cause: Option<String>,
}

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
