//! How a Docker container's end is reported: its exit code as a wait status, an OOM kill
//! (dockerd's `State.OOMKilled`) as Mesos's memory limitation, a container the agent lost track
//! of as ended with the reason why; a launch's failure; the TERMINATED checkpoint.

use mio::Registry;

use super::engine::{Call, ReqId};
use super::{checkpoint, name, Container, DockerContainerizer, Purpose};
use crate::containerizer::{Notice, State};
use crate::resources::Resources;
use crate::spec::ContainerId;
use crate::status::{Reason, TaskState, Termination};
use crate::timer::Timers;

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

    /// The launch failed after the ID was taken: TERMINATED with the message; whatever dockerd
    /// already made of it is removed.
    pub(super) fn fail(
        &mut self,
        id: &ContainerId,
        message: String,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        if c.state == State::Terminated {
            return Vec::new();
        }
        log::warn!("Container {id}: {message}");
        let launching = c.launching;
        self.abort_fetch(id, registry);
        self.abort_hook(id, registry);
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        let pending: Vec<ReqId> = std::mem::take(&mut c.requests);
        for r in pending {
            self.engine.cancel(r, registry);
            self.requests.remove(&r);
        }
        if c.made {
            self.remove_docker_container(id, registry, timers);
        }
        self.metrics.launch_failures += 1;
        let mut notices = self.terminate(
            id,
            Termination {
                status: None,
                state: TaskState::Failed,
                reason: Some(Reason::ContainerLaunchFailed),
                message: Some(message.clone()),
                limited: None,
            },
        );
        if launching {
            notices.insert(0, Notice::LaunchFailed(id.clone(), message));
        }
        notices
    }

    pub(super) fn terminate(&mut self, id: &ContainerId, t: Termination) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        if c.state == State::Terminated {
            return Vec::new();
        }
        c.state = State::Terminated;
        c.termination = Some(t);
        c.pid = None;
        c.cgroup = None;
        let mut notices = Vec::new();
        if c.launching {
            c.launching = false;
            let msg = c.termination.as_ref().and_then(|t| t.message.clone());
            notices.push(Notice::LaunchFailed(
                id.clone(),
                msg.unwrap_or_else(|| "The container ended during its launch".into()),
            ));
        }
        checkpoint::save(&self.settings.work_dir, &record_of(c));
        notices.push(Notice::Terminated(id.clone()));
        notices
    }

    /// `DELETE /containers/mesos-<id>?force=1`: kills it if it runs; answered in the log only.
    pub(super) fn remove_docker_container(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        let call = Call::delete(
            format!("/containers/{}?force=1", name(id)),
            self.settings.api_timeout,
        );
        if let Err(e) = self.send(None, Purpose::Remove, call, registry, timers) {
            log::warn!("Failed to remove Docker container {}: {e}", name(id));
        }
    }
}

/// The checkpoint of `c`.
pub(super) fn record_of(c: &Container) -> checkpoint::Record {
    checkpoint::Record {
        version: checkpoint::VERSION,
        id: c.id.to_string(),
        resources: c.resources.to_json(),
        sandbox: c.sandbox.clone(),
        image: c.image.clone(),
        created: c.created,
        termination: c
            .termination
            .as_ref()
            .map(checkpoint::TerminationRecord::of),
    }
}
