//! After a container's end: its WAIT is answered as soon as its status is known, and what
//! follows (rootfs, isolators' cleanup, cgroups, the termination checkpoint) runs right after,
//! in the same loop iteration, before anything can REMOVE it. REMOVE_CONTAINER then only
//! renames: the checkpoints and the sandbox go into the trash, and the deleter removes them.
//! A container's cgroups are removed by the deleter too; until it is done, the ID stays
//! reserved (a LAUNCH of it waits), so a new container never finds an old cgroup.

use std::path::Path;

use mio::Registry;

use super::checkpoint;
use super::container::Cleanup;
use super::destroy::container_ctx;
use super::{ContainerId, ControlError, LaunchOutcome, MesosContainerizer, Notice, State};
use crate::children::ChildEvent;
use crate::deleter::{RequestId, What};
use crate::isolator::LoopParts;
use crate::spec::LaunchRequest;
use crate::timer::Timers;

impl MesosContainerizer {
    /// Starts the deleter (at recovery, early, while the agent is small) and hands it what a
    /// previous agent left in the trash.
    pub(super) fn start_deleter(&mut self, registry: &Registry) {
        if let Err(e) = self.deleter.start(&mut self.children, registry) {
            log::warn!("Cannot start the deleter: {e}; it is tried again when needed");
        }
        if self.cgroups.is_some() {
            if let Err(e) = self.cgroup_helper.start(&mut self.children, registry) {
                log::warn!("Cannot start the cgroup helper: {e}; it is tried again when needed");
            }
        }
        for left in self.trash.leftovers() {
            log::info!("Deleting {}, left in the trash", left.display());
            self.deleter.submit(What::Tree(left));
        }
    }

    /// Renames `path` into the trash and has the deleter remove it; false if it cannot be
    /// renamed (it is left where it is).
    pub(super) fn trash_and_delete(&mut self, path: &Path, registry: &Registry) -> bool {
        match self.trash.take(path) {
            Ok(Some(moved)) => {
                self.deleter.submit(What::Tree(moved));
                self.deleter.ensure_running(&mut self.children, registry);
                true
            }
            Ok(None) => true,
            Err(e) => {
                log::warn!("Failed to move {} into the trash: {e}", path.display());
                false
            }
        }
    }

    /// The cleanup of a TERMINATED container, once (the WAIT was answered before it).
    pub(super) fn run_cleanup(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        if c.state != State::Terminated || c.cleanup != Cleanup::Pending {
            return;
        }
        // The init is gone (and its mount namespace with it): the rootfs can go.
        if let Some(rootfs) =
            super::provision::remove_rootfs(&self.settings.work_dir, id.as_str(), &self.trash)
        {
            self.deleter.submit(What::Tree(rootfs));
        }
        // Nothing runs in the container any more: the isolators release what it held.
        let mut lp = LoopParts {
            registry,
            timers,
            children: &mut self.children,
        };
        self.isolators.cleanup(&container_ctx(c), &mut lp);
        c.cleanup = Cleanup::Done;
        // A launch destroyed while the helper made its cgroups: removed after they are made.
        let asked = std::mem::take(&mut c.cgroups_asked);
        let cgroup = c.cgroup.take().or_else(|| {
            let cgroups = self.cgroups.as_ref().filter(|_| asked)?;
            Some(cgroups.open(c.id.as_str()))
        });
        if let Some(cgroup) = cgroup {
            match self
                .cgroup_helper
                .submit(What::Cgroups(cgroup.release_for_removal()))
            {
                Some(request) => {
                    self.cgroup_removals.insert(request, id.clone());
                    c.cleanup = Cleanup::Cgroups(request);
                }
                None => {
                    self.metrics.destroy_errors += 1;
                    log::error!(
                        "Container {id}: its cgroup is left behind (the cgroup helper's queue is full)"
                    );
                }
            }
        }
        self.deleter.ensure_running(&mut self.children, registry);
        self.cgroup_helper
            .ensure_running(&mut self.children, registry);
        if c.orphan {
            log::info!("Orphan container {id} destroyed");
            let (slot, cleanup) = (c.slot, c.cleanup);
            self.containers.remove(id);
            self.by_slot.remove(&slot);
            self.retire(id, cleanup);
            return;
        }
        if let Some(t) = &c.termination {
            if let Err(e) =
                checkpoint::write(&c.ckpt.termination(), &checkpoint::TerminationRecord::of(t))
            {
                log::warn!("Container {id}: failed to checkpoint its termination: {e}");
            }
        }
    }

    /// A forgotten container whose cgroups are still being removed keeps its ID reserved.
    fn retire(&mut self, id: &ContainerId, cleanup: Cleanup) {
        if let Cleanup::Cgroups(_) = cleanup {
            self.retiring.insert(id.clone(), None);
        }
    }

    /// REMOVE_CONTAINER: forgets a terminated container and deletes its checkpoints and sandbox,
    /// renamed into the trash at once and deleted by the deleter.
    pub fn remove(
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
        // A REMOVE pipelined behind the WAIT that was answered before the cleanup ran.
        self.run_cleanup(id, registry, timers);
        let Some(c) = self.containers.get(id) else {
            return Err(ControlError::NotFound(id.clone()));
        };
        // Cleanup again (it is idempotent): what an isolator could not release at the end of
        // the destroy, or found held at recovery, is released with the files.
        let mut lp = LoopParts {
            registry,
            timers,
            children: &mut self.children,
        };
        self.isolators.cleanup(&container_ctx(c), &mut lp);
        let (runtime, meta, sandbox) = (
            c.ckpt.runtime.clone(),
            c.ckpt.meta.clone(),
            c.sandbox.clone(),
        );
        self.run_remove_hook(id, &sandbox, registry, timers);
        for dir in [runtime, meta] {
            if !self.trash_and_delete(&dir, registry) {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        if !self.trash_and_delete(&sandbox, registry) {
            return Err(ControlError::Failed(
                id.clone(),
                format!("Failed to remove the sandbox {}", sandbox.display()),
            ));
        }
        let Some(c) = self.containers.remove(id) else {
            return Ok(());
        };
        self.by_slot.remove(&c.slot);
        self.retire(id, c.cleanup);
        log::info!("Removed container {id}");
        Ok(())
    }

    /// Whether a LAUNCH_CONTAINER of `id` must wait: its old cgroups are still being removed.
    pub(super) fn launch_must_wait(&self, id: &ContainerId) -> bool {
        self.retiring.contains_key(id)
    }

    /// Keeps a launch until the old cgroups of its ID are gone (a second one is answered 202,
    /// as for any ID in use).
    pub(super) fn defer_launch(&mut self, req: LaunchRequest) -> LaunchOutcome {
        let Some(waiting) = self.retiring.get_mut(&req.id) else {
            return LaunchOutcome::Refused(format!("Container {}: nothing to wait for", req.id));
        };
        if waiting.is_some() {
            return LaunchOutcome::AlreadyExists;
        }
        log::debug!(
            "Container {}: launched again while its old cgroups are removed: waiting",
            req.id
        );
        *waiting = Some(req);
        LaunchOutcome::Pending
    }

    /// What the deleter answered: trees gone (counted and, failed, logged by the deleter).
    pub(super) fn on_deleter_event(&mut self, event: ChildEvent, registry: &Registry) {
        let _answers = self.deleter.on_event(event, &mut self.children, registry);
    }

    /// The cgroup helper removed a container's cgroups (or gave up).
    pub(super) fn cgroups_removed(
        &mut self,
        request: RequestId,
        result: Result<(), String>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(id) = self.cgroup_removals.remove(&request) else {
            return Vec::new();
        };
        if let Err(e) = result {
            self.metrics.destroy_errors += 1;
            log::error!("Failed to destroy container {id}: {e}: its cgroup is left behind");
        }
        if let Some(c) = self.containers.get_mut(&id) {
            if c.cleanup == Cleanup::Cgroups(request) {
                c.cleanup = Cleanup::Done;
            }
            return Vec::new();
        }
        let Some(Some(req)) = self.retiring.remove(&id) else {
            return Vec::new();
        };
        match super::MesosContainerizer::launch(self, req, registry, timers) {
            LaunchOutcome::Pending => Vec::new(),
            LaunchOutcome::AlreadyExists => {
                vec![Notice::LaunchFailed(
                    id,
                    "The container ID is in use".into(),
                )]
            }
            LaunchOutcome::Refused(msg) | LaunchOutcome::Failed(msg) => {
                vec![Notice::LaunchFailed(id, msg)]
            }
        }
    }
}

impl MesosContainerizer {
    /// The deleter's counters, for /metrics.
    pub(super) fn deleter_metrics(&self, out: &mut Vec<(String, f64)>) {
        let c = self.deleter.counters;
        let g = self.cgroup_helper.counters;
        for (name, value) in [
            ("containerizer/deleter/restarts", c.restarts),
            ("containerizer/deleter/deletions", c.done),
            ("containerizer/deleter/failures", c.failed),
            ("containerizer/deleter/refused", c.refused),
            ("containerizer/cgroup_helper/restarts", g.restarts),
            ("containerizer/cgroup_helper/requests", g.done),
            ("containerizer/cgroup_helper/failures", g.failed),
            ("containerizer/cgroup_helper/refused", g.refused),
            (
                "containerizer/cgroups_made_off_loop",
                self.metrics.cgroups_made_off_loop,
            ),
        ] {
            out.push((name.to_string(), value as f64));
        }
    }
}
