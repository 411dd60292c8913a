//! How a Docker container's end is reported: its exit code as a wait status, an OOM kill
//! (dockerd's `State.OOMKilled`) as Mesos's memory limitation, a container the agent lost track
//! of as ended with the reason why.

use super::DockerContainerizer;
use crate::containerizer::Notice;
use crate::resources::Resources;
use crate::spec::ContainerId;
use crate::status::{Reason, TaskState, Termination};

/// `State.OOMKilled` of an inspect answer.
pub(super) fn oom_killed(inspect: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(inspect)
        .ok()
        .and_then(|v| v.pointer("/State/OOMKilled").and_then(|o| o.as_bool()))
        == Some(true)
}

impl DockerContainerizer {
    /// dockerd reported the container's exit code.
    pub(super) fn exited(
        &mut self,
        id: &ContainerId,
        code: i64,
        oom: bool,
        message: Option<String>,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get(id) else {
            return Vec::new();
        };
        let status = super::wait_status(code);
        log::info!("Container {id} exited with code {code}");
        if oom && !c.killed {
            // As the Mesos containerizer's memory isolator reports it.
            log::info!("Container {id} was killed by the OOM killer");
            let mem = Resources {
                mem_mb: c.resources.mem_mb,
                ..Resources::default()
            };
            let message = format!(
                "Memory limit exceeded: Requested: {}MB Maximum Used: unknown",
                c.resources.mem_mb
            );
            return self.terminate(
                id,
                Termination {
                    status: Some(status),
                    state: TaskState::Failed,
                    reason: Some(Reason::ContainerLimitationMemory),
                    message: Some(message),
                    limited: Some(mem.to_json()),
                },
            );
        }
        let state = if c.killed {
            TaskState::Killed
        } else if status == 0 {
            TaskState::Finished
        } else {
            TaskState::Failed
        };
        self.terminate(
            id,
            Termination {
                status: Some(status),
                state,
                reason: None,
                message,
                limited: None,
            },
        )
    }

    /// The agent lost track of a started container (dockerd forgot it, or cannot be asked).
    pub(super) fn lost(&mut self, id: &ContainerId, why: String) -> Vec<Notice> {
        log::error!("Container {id}: {why}");
        let state = if self.containers.get(id).is_some_and(|c| c.killed) {
            TaskState::Killed
        } else {
            TaskState::Failed
        };
        self.terminate(
            id,
            Termination {
                status: None,
                state,
                reason: Some(Reason::ExecutorTerminated),
                message: Some(why),
                limited: None,
            },
        )
    }
}
