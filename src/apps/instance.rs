//! An app's instance: one container running one version of the definition.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::TaskId;
use crate::containerizer::ContainerId;

/// Where an instance is in its life, as Marathon names a task's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// LAUNCH_CONTAINER sent, the task not exec'd yet (fetching, pulling, isolating).
    Staging,
    Running,
    /// Killed by the controller (scaled down, replaced, app deleted): its end is no failure.
    Killing,
}

impl InstanceState {
    pub fn marathon_name(self) -> &'static str {
        match self {
            InstanceState::Staging => "TASK_STAGING",
            InstanceState::Running => "TASK_RUNNING",
            InstanceState::Killing => "TASK_KILLING",
        }
    }
}

/// What a checkpoint keeps of an instance (the rest is learnt again after a restart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub task_id: String,
    pub container_id: String,
    /// The definition's version (its last config change) the instance runs.
    pub version: String,
    pub ports: Vec<u16>,
    pub staged_at: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub killing: bool,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub task: TaskId,
    pub container: ContainerId,
    pub version: String,
    pub ports: Vec<u16>,
    pub staged_at: String,
    pub started_at: Option<String>,
    pub state: InstanceState,
    /// When it began running (this agent's clock): for the backoff's reset.
    pub running_since: Option<Instant>,
    /// Health: None until a check has an answer (or always, without checks).
    pub alive: Option<bool>,
    /// Launch order, for the kill selection.
    pub seq: u64,
}

impl Instance {
    pub fn record(&self) -> InstanceRecord {
        InstanceRecord {
            task_id: self.task.as_str().to_string(),
            container_id: self.container.as_str().to_string(),
            version: self.version.clone(),
            ports: self.ports.clone(),
            staged_at: self.staged_at.clone(),
            started_at: self.started_at.clone(),
            killing: self.state == InstanceState::Killing,
        }
    }

    /// Healthy for deployments: running, and alive when the app has checks.
    pub fn healthy(&self, has_checks: bool) -> bool {
        self.state == InstanceState::Running && (!has_checks || self.alive == Some(true))
    }
}

/// Marathon's `lastTaskFailure`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailure {
    pub app_id: String,
    pub host: String,
    pub message: String,
    pub state: String,
    pub task_id: String,
    pub timestamp: String,
    pub version: String,
    pub slave_id: String,
}
