//! KILL_CONTAINER and REMOVE_CONTAINER of Docker containers.

use mio::Registry;

use super::engine::{Call, ReqId};
use super::{checkpoint, name, DockerContainerizer, Purpose};
use crate::containerizer::{ControlError, Notice, State};
use crate::spec::ContainerId;
use crate::timer::Timers;

impl DockerContainerizer {
    /// SIGKILL destroys (`stop` with `--docker_stop_timeout`), SIGTERM stops with the shutdown
    /// grace period, any other signal is delivered (`kill`). During the launch the launch is
    /// abandoned: its requests are dropped and what dockerd made of it removed.
    pub(super) fn kill(
        &mut self,
        id: &ContainerId,
        signal: i32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Vec<Notice>, ControlError> {
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| ControlError::NotFound(id.clone()))?;
        match c.state {
            State::Terminated => return Ok(Vec::new()),
            State::Running | State::Destroying => {}
            _ => {
                c.killed = true;
                let what = match c.state {
                    State::Fetching => "while fetching its URIs",
                    State::Pulling => "while pulling its image",
                    State::Preparing => "while its prelaunch hook ran",
                    _ => "during its launch",
                };
                let msg = format!("Container destroyed {what}");
                return Ok(self.fail(id, msg, registry, timers));
            }
        }
        c.killed = true;
        let (call, purpose) = if signal == libc::SIGKILL || signal == libc::SIGTERM {
            c.state = State::Destroying;
            let grace = if signal == libc::SIGKILL {
                self.settings.stop_timeout
            } else {
                self.settings.shutdown_grace
            };
            let path = format!("/containers/{}/stop?t={}", name(id), grace.as_secs());
            // dockerd answers once the container is gone: after the grace at most.
            (
                Call::post(path, None, grace + self.settings.api_timeout),
                Purpose::Stop,
            )
        } else {
            let path = format!("/containers/{}/kill?signal={signal}", name(id));
            (
                Call::post(path, None, self.settings.api_timeout),
                Purpose::Signal,
            )
        };
        self.send(Some(id), purpose, call, registry, timers)
            .map(|_: ReqId| Vec::new())
            .map_err(|e| ControlError::Failed(id.clone(), e.to_string()))
    }

    /// Forgets a TERMINATED container: its Docker container, checkpoint and sandbox go.
    pub(super) fn remove(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), ControlError> {
        let c = self
            .containers
            .get(id)
            .ok_or_else(|| ControlError::NotFound(id.clone()))?;
        if !c.state.can_remove() {
            return Err(ControlError::StillRunning(id.clone()));
        }
        let sandbox = c.sandbox.clone();
        self.remove_docker_container(id, registry, timers);
        crate::containerizer::mesos::run_remove_hook(
            &self.settings.hooks,
            &mut self.children,
            id,
            &sandbox,
            registry,
            timers,
        );
        // Renamed at once (the ID may be reused), deleted by the deleter.
        self.trash_and_delete(
            &checkpoint::dir(&self.settings.work_dir, id.as_str()),
            registry,
        );
        self.trash_and_delete(&sandbox, registry);
        self.containers.remove(id);
        Ok(())
    }
}
