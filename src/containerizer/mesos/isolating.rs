//! ISOLATING with isolators still at work (CNI plugins attaching the container's network):
//! the init is cloned and checkpointed but not released; its release pipe is held in the
//! container, as during FETCHING, and the launch goes on (fetch, then release) once every
//! pending isolator's children report it done. A failure fails the launch with the isolator's
//! message; a destroy meanwhile drops the wait (the isolators' cleanup undoes their work).

use mio::Registry;

use super::error::LaunchError;
use super::{slot_container, ContainerId, MesosContainerizer, Notice};
use crate::fetcher::protocol::Uri;
use crate::isolator::{IsolatorError, Step, StepError};
use crate::timer::Timers;

/// A launch waiting for isolators (by index) to finish their `isolate`.
#[derive(Debug)]
pub(super) struct Isolating {
    pub pending: Vec<u16>,
    /// What FETCHING takes afterwards: the command's URIs and the user to fetch them as.
    pub uris: Vec<Uri>,
    pub user: Option<String>,
}

impl MesosContainerizer {
    /// The isolator at `index` settled the isolate of the containers in `settled`.
    pub(super) fn on_isolated(
        &mut self,
        index: u16,
        settled: Vec<(u32, Result<(), IsolatorError>)>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        for (slot, result) in settled {
            let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
                continue;
            };
            let Some(wait) = c.isolating.as_mut() else {
                continue;
            };
            if !wait.pending.contains(&index) {
                continue;
            }
            if let Err(error) = result {
                c.isolating = None;
                let e = StepError {
                    isolator: self.isolators.name_of(index),
                    step: Step::Isolate,
                    error,
                };
                notices.extend(self.step_failed(&id, LaunchError::Isolator(e), registry, timers));
                continue;
            }
            wait.pending.retain(|i| *i != index);
            if !wait.pending.is_empty() {
                continue;
            }
            let Some(wait) = c.isolating.take() else {
                continue;
            };
            notices.extend(self.isolated(&id, *wait, registry, timers));
        }
        notices
    }

    /// Every isolator is done: FETCHING if there are URIs, else the task is released.
    fn isolated(
        &mut self,
        id: &ContainerId,
        wait: Isolating,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        log::debug!("Container {id}: isolated");
        if wait.uris.is_empty() {
            return self.release_isolated(id, registry, timers);
        }
        match self.start_fetch(id, wait.uris, wait.user, registry) {
            Ok(()) => Vec::new(),
            Err(e) => self.step_failed(id, e, registry, timers),
        }
    }

    /// Writes the release byte: the init goes on to start the task (RUNNING).
    fn release_isolated(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        if c.release.is_none() {
            return Vec::new();
        }
        if let Err(e) = c.release_task() {
            return self.step_failed(id, LaunchError::Release(e), registry, timers);
        }
        log::info!("Launched container {id} (init pid {:?})", c.init_pid());
        Vec::new()
    }

    /// DESTROYING while isolators are at work: the wait is dropped and the LAUNCH answered.
    pub(super) fn abort_isolating(&mut self, id: &ContainerId) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        if c.isolating.take().is_none() {
            return Vec::new();
        }
        c.release = None;
        let msg = "Failed to launch container: the container was destroyed while it was isolated";
        if c.launch_failure.is_some() {
            return Vec::new();
        }
        if !c.killed {
            c.launch_failure = Some(msg.to_string());
        }
        vec![Notice::LaunchFailed(id.clone(), msg.to_string())]
    }
}
