//! A launch cut into steps, one per loop iteration, so that no iteration holds the loop for a
//! whole launch: START (checkpoint, sandbox, runtime directory), PREPARE (cgroups, limits,
//! isolators) and CLONE (the init, its pid checkpoint, isolate, release). Between two steps
//! the launch waits in the container as a `Staging`; a destroy that comes meanwhile takes it
//! away, as it does a lookup or a provisioning, so the step that was due finds nothing to do.

use std::os::fd::OwnedFd;

use mio::Registry;

use super::error::LaunchError;
use super::launch::Staged;
use super::provision::runtime::TaskCommand;
use super::{slot_container, ContainerId, MesosContainerizer, Notice};
use crate::isolator::Plan;
use crate::spec::LaunchRequest;
use crate::sys::user::User;
use crate::timer::{TimerKind, Timers};

/// A launch between two of its steps.
#[derive(Debug)]
pub(super) struct Staging {
    pub req: LaunchRequest,
    /// The task's user, once known (the command's, or the image's from PREPARE on).
    pub user: Option<User>,
    pub next: Next,
}

/// The step a staged launch goes on with.
#[derive(Debug)]
pub(super) enum Next {
    /// Nothing made yet.
    Start,
    /// Checkpointed, with its sandbox and runtime directory (and rootfs).
    Prepare(Staged),
    /// In ISOLATING: cgroups made and limited, isolators prepared; the clone is next.
    /// (Boxed: the plan is by far the largest step.)
    Clone(Box<Prepared>),
}

/// What PREPARE hands to CLONE.
#[derive(Debug)]
pub(super) struct Prepared {
    pub task: TaskCommand,
    pub plan: Plan,
    pub stdio: (OwnedFd, OwnedFd, OwnedFd),
}

impl MesosContainerizer {
    /// Keeps the launch in its container, its next step due in a later loop iteration.
    pub(super) fn stage(
        &mut self,
        id: &ContainerId,
        req: LaunchRequest,
        user: Option<User>,
        next: Next,
        timers: &mut Timers,
    ) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        c.staging = Some(Box::new(Staging { req, user, next }));
        let kind = TimerKind::LaunchStep(c.slot);
        match super::crash::step_pause() {
            Some(pause) => timers.add(pause, kind),
            None => timers.defer(kind),
        }
    }

    /// A launch's next step is due. A failure is recorded and destroys what was made.
    pub(super) fn on_launch_step(
        &mut self,
        slot: u32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        // Taken by a destroy, or already run (a slot's stale timer).
        let Some(staging) = c.staging.take() else {
            return Vec::new();
        };
        let Staging { req, user, next } = *staging;
        let done = match next {
            Next::Start => self.start(&id, req, user, registry, timers),
            Next::Prepare(staged) => {
                // Parked while the cgroup helper makes its cgroups: PREPARE comes back then.
                let Some((req, user, next)) =
                    self.park_for_cgroups(&id, req, user, Next::Prepare(staged))
                else {
                    return Vec::new();
                };
                match self.begin_prelaunch(&id, req, user, next, registry, timers) {
                    Ok(Some((req, user, Next::Prepare(staged)))) => {
                        self.continue_launch(&id, req, user, staged, timers)
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Next::Clone(prepared) => {
                self.finish_launch(&id, &req, user.as_ref(), prepared, registry, timers)
            }
        };
        match done {
            Ok(()) => Vec::new(),
            Err(e) => self.step_failed(&id, e, registry, timers),
        }
    }

    /// A launch step (or a hook) failed: the launch is answered and what it made destroyed.
    pub(super) fn step_failed(
        &mut self,
        id: &ContainerId,
        e: LaunchError,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let (msg, notices) = self.launch_error(id, &e, registry, timers);
        let mut all = vec![Notice::LaunchFailed(id.clone(), msg)];
        all.extend(notices);
        all
    }

    /// DESTROYING between two steps: the launch is dropped (with the descriptors it held) and
    /// its LAUNCH answered; one that made nothing yet is forgotten, as a lookup's is.
    pub(super) fn abort_staging(&mut self, id: &ContainerId) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        let Some(staging) = c.staging.take() else {
            return Vec::new();
        };
        let msg = "Failed to launch container: the container was destroyed while it was launched";
        if matches!(staging.next, Next::Start) {
            return self.forget_unstarted(id, msg.to_string());
        }
        if c.launch_failure.is_some() {
            return Vec::new();
        }
        if !c.killed {
            c.launch_failure = Some(msg.to_string());
        }
        vec![Notice::LaunchFailed(id.clone(), msg.to_string())]
    }
}
