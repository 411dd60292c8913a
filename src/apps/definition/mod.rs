//! Marathon's app definition (`POST /v2/apps`), with Marathon's field names and defaults, so
//! an app JSON written for Marathon deploys unchanged and is echoed back with the defaults
//! filled in. Fields Marathon has and one node cannot honour (`constraints` beyond the
//! hostname, `acceptedResourceRoles`, `residency`, ...) are refused by `validate`, never
//! silently dropped; fields the answers carry (`tasks`, `deployments`, counts) are ignored
//! on input, as Marathon ignores them.

pub mod launch;
#[cfg(test)]
mod tests;
pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::health::HealthCheck;

/// An app as posted, defaults filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDefinition {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "one")]
    pub instances: i64,
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    #[serde(default = "default_mem")]
    pub mem: f64,
    #[serde(default)]
    pub disk: f64,
    #[serde(default)]
    pub gpus: f64,
    #[serde(default)]
    pub executor: String,
    #[serde(default)]
    pub constraints: Vec<Vec<String>>,
    /// Marathon's older form of `fetch`: folded into it by [`AppDefinition::normalise`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    #[serde(default)]
    pub fetch: Vec<Fetch>,
    #[serde(default)]
    pub store_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(default)]
    pub health_checks: Vec<HealthCheck>,
    #[serde(default)]
    pub readiness_checks: Vec<serde_json::Value>,
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default = "default_backoff_seconds")]
    pub backoff_seconds: f64,
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    #[serde(default = "default_max_launch_delay")]
    pub max_launch_delay_seconds: f64,
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_resource_roles: Option<Vec<String>>,
    #[serde(default)]
    pub port_definitions: Option<Vec<PortDefinition>>,
    /// Marathon's older form of `portDefinitions`: folded into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u32>>,
    #[serde(default)]
    pub require_ports: bool,
    #[serde(default)]
    pub kill_selection: KillSelection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<f64>,
    /// Set by the agent: the time of the last change of the definition (Marathon's version).
    #[serde(default)]
    pub version: Option<String>,
}

fn one() -> i64 {
    1
}
fn default_cpus() -> f64 {
    1.0
}
fn default_mem() -> f64 {
    128.0
}
fn default_backoff_seconds() -> f64 {
    1.0
}
fn default_backoff_factor() -> f64 {
    1.15
}
fn default_max_launch_delay() -> f64 {
    3600.0
}

/// One URI to fetch into the sandbox (Mesos's CommandInfo.URI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fetch {
    pub uri: String,
    #[serde(default = "yes")]
    pub extract: bool,
    #[serde(default)]
    pub executable: bool,
    #[serde(default)]
    pub cache: bool,
    /// Marathon's `destPath` (Mesos's `output_file`); `outputFile` is read too.
    #[serde(
        default,
        rename = "destPath",
        alias = "outputFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_file: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ContainerType {
    #[default]
    #[serde(rename = "DOCKER")]
    Docker,
    #[serde(rename = "MESOS")]
    Mesos,
}

/// `container`: how an instance runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(rename = "type", default)]
    pub kind: ContainerType,
    #[serde(default)]
    pub docker: Option<Docker>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Marathon 1.5's place for the port mappings (beside `docker`, for either type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Network {
    #[default]
    #[serde(rename = "HOST")]
    Host,
    #[serde(rename = "BRIDGE")]
    Bridge,
    #[serde(rename = "USER")]
    User,
    #[serde(rename = "NONE")]
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Docker {
    pub image: String,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    #[serde(default)]
    pub force_pull_image: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    pub key: String,
    pub value: String,
}

/// A container port published on a host port (0: one from the node's `ports` range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    #[serde(default)]
    pub container_port: i64,
    #[serde(default)]
    pub host_port: i64,
    #[serde(default)]
    pub service_port: i64,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn tcp() -> String {
    "tcp".into()
}

/// A host port of a host-network app (0: one from the range), exported as `PORT<n>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    #[serde(default)]
    pub port: i64,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub container_path: String,
    #[serde(default)]
    pub host_path: Option<String>,
    #[serde(default = "rw")]
    pub mode: String,
}

fn rw() -> String {
    "RW".into()
}

/// How a changed definition replaces instances (Marathon's rolling upgrade).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    #[serde(default = "default_fraction")]
    pub minimum_health_capacity: f64,
    #[serde(default = "default_fraction")]
    pub maximum_over_capacity: f64,
}

fn default_fraction() -> f64 {
    1.0
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        UpgradeStrategy {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
        }
    }
}

/// Which instances go first when an app scales down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum KillSelection {
    #[default]
    #[serde(rename = "YOUNGEST_FIRST")]
    YoungestFirst,
    #[serde(rename = "OLDEST_FIRST")]
    OldestFirst,
}

/// One host port an instance needs: a fixed one, or any from the node's range (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortNeed {
    pub host_port: u16,
}

impl AppDefinition {
    /// Folds Marathon's older forms into the current ones (`uris` into `fetch`, `ports` into
    /// `portDefinitions`, `container.portMappings` into `container.docker.portMappings`),
    /// gives a host-network app without ports its one default port and a bridge app no port
    /// definitions, as Marathon does.
    pub fn normalise(&mut self) {
        for uri in std::mem::take(&mut self.uris) {
            self.fetch.push(Fetch {
                uri,
                extract: true,
                executable: false,
                cache: false,
                output_file: None,
            });
        }
        if let Some(ports) = self.ports.take() {
            if self.port_definitions.is_none() {
                self.port_definitions = Some(
                    ports
                        .into_iter()
                        .map(|p| PortDefinition {
                            port: i64::from(p),
                            protocol: tcp(),
                            name: None,
                            labels: BTreeMap::new(),
                        })
                        .collect(),
                );
            }
        }
        if let Some(c) = &mut self.container {
            if let Some(mappings) = c.port_mappings.take() {
                if let Some(d) = &mut c.docker {
                    if d.port_mappings.is_empty() {
                        d.port_mappings = mappings;
                    }
                }
            }
        }
        if self.uses_port_mappings() {
            // Marathon's normalisation: on a container network the mappings are the ports,
            // whatever port definitions were posted (or kept from a host-network version).
            self.port_definitions = Some(Vec::new());
        } else if self.port_definitions.is_none() {
            self.port_definitions = Some(vec![PortDefinition {
                port: 0,
                protocol: tcp(),
                name: None,
                labels: BTreeMap::new(),
            }]);
        }
    }

    /// The Docker network, if the app runs a Docker image.
    pub fn network(&self) -> Network {
        self.container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .map_or(Network::Host, |d| d.network)
    }

    /// Whether its ports are container ports mapped to host ports (BRIDGE, USER).
    pub fn uses_port_mappings(&self) -> bool {
        matches!(self.network(), Network::Bridge | Network::User)
    }

    /// The port mappings (BRIDGE and USER apps).
    pub fn port_mappings(&self) -> &[PortMapping] {
        self.container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .map_or(&[], |d| d.port_mappings.as_slice())
    }

    /// The host ports each instance needs, in `PORT0`, `PORT1`, ... order.
    pub fn port_needs(&self) -> Vec<PortNeed> {
        let to_need = |p: i64| PortNeed {
            host_port: u16::try_from(p).unwrap_or(0),
        };
        if self.uses_port_mappings() {
            self.port_mappings()
                .iter()
                .map(|m| to_need(m.host_port))
                .collect()
        } else {
            self.port_definitions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|d| to_need(d.port))
                .collect()
        }
    }

    /// Whether a change from `self` to `new` needs new instances (anything but `instances`).
    pub fn config_differs(&self, new: &AppDefinition) -> bool {
        let mut a = self.clone();
        let mut b = new.clone();
        a.instances = 0;
        b.instances = 0;
        a.version = None;
        b.version = None;
        a != b
    }

    /// The definition as JSON (Marathon's names, defaults filled), whole numbers as integers
    /// as Marathon writes them (`"mem": 128`, not `128.0`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        whole_numbers(&mut v);
        v
    }
}

fn whole_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                // Exact: the bound keeps the double's integer value within i64.
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}
