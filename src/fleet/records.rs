//! The values the fleet keeps in etcd, as JSON.

use serde::{Deserialize, Serialize};

use super::attributes::Attributes;
use crate::apps::AppDefinition;

/// `P/nodes/<host>`: a node as it registered, with what it has allocated now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub hostname: String,
    /// Its TCP listener (`ip:port`), if it has one.
    #[serde(default)]
    pub address: Option<String>,
    /// Its resources in Mesos's text form (`cpus:2;mem:1024;ports:[31000-31099]`).
    pub resources: String,
    #[serde(default)]
    pub attributes: Attributes,
    /// Everything its containers hold now.
    #[serde(default)]
    pub allocated: String,
    /// What of that its containers outside the fleet's apps hold: the scheduler leaves it.
    #[serde(default)]
    pub reserved: String,
    pub registered_at: String,
    pub version: String,
}

/// `P/apps/<stem>`: an app as the API took it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredApp {
    pub app: AppDefinition,
    pub last_scaling_at: String,
    pub last_config_change_at: String,
    /// The deployment of its last change, shown until the fleet converged to it.
    pub deployment: String,
}

/// `P/assign/<host>/<stem>`: the scheduler's word that `host` runs `instances` of `app`
/// (whose own `instances` is that share).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub app: AppDefinition,
    pub instances: u32,
}

/// `P/waiting/<stem>`: instances no node can take now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingRecord {
    pub count: usize,
    pub reason: String,
    pub since: String,
}
