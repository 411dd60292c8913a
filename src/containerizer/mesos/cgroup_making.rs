//! A launch's cgroups made by the cgroup helper rather than in the loop, while other inits
//! are attaching themselves. A v1 attach (the init's write into `cgroup.procs`) holds the
//! kernel's cgroup lock while it waits for an RCU grace period (no `favordynmods`), and a mkdir
//! of a cgroup needs that lock: in the loop, it held whole iterations for 5-17 ms under a mixed
//! load. With no init attaching, the loop makes them itself (a mkdir then costs microseconds,
//! and a round trip to the helper would only add to the launch).
//!
//! The launch waits, parked between its START and PREPARE steps with no timer, for the
//! helper's answer; PREPARE then finds the directories made (its mkdir gets EEXIST, which
//! takes no lock). The helper also removes containers' cgroups, in the order asked, so a launch
//! destroyed while it waits has its cgroups removed only after they were made.

use mio::Registry;

use super::steps::{Next, Staging};
use super::{ContainerId, MesosContainerizer, Notice};
use crate::children::ChildEvent;
use crate::deleter::{RequestId, What};
use crate::spec::LaunchRequest;
use crate::sys::user::User;
use crate::timer::Timers;

impl MesosContainerizer {
    /// Whether the cgroups of `id`'s launch are to be asked of the helper: the launch has
    /// cgroups, has not asked yet, the helper runs, and another container's init may be
    /// attaching (spawned, its exec report not in yet).
    fn cgroups_off_loop(&self, id: &ContainerId) -> bool {
        if self.cgroups.is_none() || self.isolators.controllers().is_empty() {
            return false;
        }
        if !self.cgroup_helper.is_running() {
            return false;
        }
        let Some(c) = self.containers.get(id) else {
            return false;
        };
        if c.cgroups_asked {
            return false;
        }
        super::crash::cgroups_off_loop_always()
            || self
                .containers
                .values()
                .any(|other| other.id != *id && other.exec_report.is_some())
    }

    /// PREPARE is due: if the cgroups are to be made off the loop, they are asked of the
    /// helper and the launch parked until it answers (None); else the launch is handed back,
    /// to go on with PREPARE now.
    pub(super) fn park_for_cgroups(
        &mut self,
        id: &ContainerId,
        req: LaunchRequest,
        user: Option<User>,
        next: Next,
    ) -> Option<(LaunchRequest, Option<User>, Next)> {
        if !self.cgroups_off_loop(id) {
            return Some((req, user, next));
        }
        let Some(cgroups) = &self.cgroups else {
            return Some((req, user, next));
        };
        let dirs = cgroups.open(id.as_str()).dirs_to_make();
        let Some(request) = self.cgroup_helper.submit(What::MakeCgroups(dirs)) else {
            return Some((req, user, next));
        };
        let Some(c) = self.containers.get_mut(id) else {
            return Some((req, user, next));
        };
        log::debug!("Container {id}: its cgroups are made by the cgroup helper ({request})");
        // From here a destroy removes them (through the helper, after they were made). Not
        // its `cgroup` yet: nothing may look into directories that may not exist (a lookup
        // that misses in the cgroups' root waits behind the helper's mkdir there).
        c.cgroups_asked = true;
        c.staging = Some(Box::new(Staging { req, user, next }));
        self.cgroup_makes.insert(request, id.clone());
        self.metrics.cgroups_made_off_loop += 1;
        None
    }

    /// What the cgroup helper answered: a launch's cgroups made (it goes on with PREPARE in
    /// the next iteration), or a container's cgroups removed.
    pub(super) fn on_cgroup_helper_event(
        &mut self,
        event: ChildEvent,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let answers = self
            .cgroup_helper
            .on_event(event, &mut self.children, registry);
        // Ended: started again now, not when work waits for it, so that the next launch that
        // finds inits attaching can use it.
        if !self.cgroup_helper.is_running() {
            if let Err(e) = self.cgroup_helper.start(&mut self.children, registry) {
                log::warn!("Cannot start the cgroup helper again: {e}");
            }
        }
        let mut notices = Vec::new();
        for (request, result) in answers {
            match self.cgroup_makes.remove(&request) {
                Some(id) => self.cgroups_made(&id, request, result, timers),
                None => notices.extend(self.cgroups_removed(request, result, registry, timers)),
            }
        }
        notices
    }

    fn cgroups_made(
        &mut self,
        id: &ContainerId,
        request: RequestId,
        result: Result<(), String>,
        timers: &mut Timers,
    ) {
        if let Err(e) = &result {
            // PREPARE makes them itself then, and fails the launch with the kernel's error.
            log::warn!("Container {id}: the cgroup helper could not make its cgroups: {e}");
        }
        // Destroyed meanwhile: its staging went with the destroy.
        let Some(staging) = self.containers.get_mut(id).and_then(|c| c.staging.take()) else {
            log::info!(
                "Container {id}: its cgroups were made ({request}) after its destroy; they are removed"
            );
            return;
        };
        let Staging { req, user, next } = *staging;
        self.stage(id, req, user, next, timers);
    }
}
