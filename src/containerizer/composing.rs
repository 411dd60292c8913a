//! The composing containerizer (`--containerizers`, an ordered list): the first member that
//! supports a container's ContainerInfo launches it, and every later call about it goes to the
//! member that knows it. Which member that is needs no record of its own: each member
//! checkpoints its containers in its own tree (`meta/containers`, `meta/docker`) and recovers
//! only those, so after a restart the same member knows the container again.
//!
//! Loop events and timers go to every member: each ignores the sources and timer kinds that
//! are not its own.

use std::path::Path;

use mio::Registry;

use super::{
    ContainerStatus, Containerizer, ControlError, FetchCounters, LaunchOutcome, Metrics, Notice,
    Recovered, State, UsagePass,
};
use crate::event::Source;
use crate::resources::Resources;
use crate::spec::{ContainerId, ContainerInfo, LaunchRequest};
use crate::stats::ResourceStatistics;
use crate::timer::{TimerKind, Timers};

/// A member: its `--containerizers` name, what it runs, and the containerizer.
pub struct Member {
    pub name: &'static str,
    pub supports: fn(&ContainerInfo) -> bool,
    pub containerizer: Box<dyn Containerizer>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("name", &self.name).finish()
    }
}

/// What the Mesos containerizer runs: everything but DOCKER containers.
pub fn mesos_supports(info: &ContainerInfo) -> bool {
    info.docker.is_none()
}

/// What the Docker containerizer runs: DOCKER containers.
pub fn docker_supports(info: &ContainerInfo) -> bool {
    info.docker.is_some()
}

#[derive(Debug)]
pub struct Composing {
    /// In `--containerizers` order; never empty (the flag refuses an empty list).
    members: Vec<Member>,
}

impl Composing {
    pub fn new(members: Vec<Member>) -> Composing {
        Composing { members }
    }

    fn owner(&self, id: &ContainerId) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.containerizer.status(id).is_some())
    }

    fn owner_mut(&mut self, id: &ContainerId) -> Result<&mut dyn Containerizer, ControlError> {
        let i = self
            .owner(id)
            .ok_or_else(|| ControlError::NotFound(id.clone()))?;
        Ok(&mut *self.members[i].containerizer)
    }

    fn first(&self) -> &dyn Containerizer {
        &*self.members[0].containerizer
    }
}

impl Containerizer for Composing {
    fn recover(&mut self, rebooted: bool, registry: &Registry, timers: &mut Timers) -> Recovered {
        let mut sum = Recovered::default();
        for m in &mut self.members {
            let r = m.containerizer.recover(rebooted, registry, timers);
            log::info!("Recovered by the {} containerizer: {r:?}", m.name);
            sum.running += r.running;
            sum.ended += r.ended;
            sum.terminated += r.terminated;
            sum.destroyed += r.destroyed;
            sum.orphans += r.orphans;
        }
        sum
    }

    fn launch(
        &mut self,
        req: LaunchRequest,
        registry: &Registry,
        timers: &mut Timers,
    ) -> LaunchOutcome {
        if self.owner(&req.id).is_some() {
            return LaunchOutcome::AlreadyExists;
        }
        // The node's capacity is shared: no member may hand out what another holds.
        let mut available = self.first().total().clone();
        available.subtract(&self.allocated());
        if !req.resources.fits_in(&available) {
            return LaunchOutcome::Refused(format!(
                "Insufficient resources: {}",
                req.resources.shortfall(&available)
            ));
        }
        let info = &req.container;
        match self.members.iter_mut().find(|m| (m.supports)(info)) {
            Some(m) => m.containerizer.launch(req, registry, timers),
            None => {
                let names: Vec<&str> = self.members.iter().map(|m| m.name).collect();
                let kind = if info.docker.is_some() {
                    "DOCKER"
                } else {
                    "MESOS"
                };
                LaunchOutcome::Refused(format!(
                    "No containerizer of --containerizers={} runs {kind} containers",
                    names.join(",")
                ))
            }
        }
    }

    fn kill(
        &mut self,
        id: &ContainerId,
        signal: i32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Vec<Notice>, ControlError> {
        self.owner_mut(id)?.kill(id, signal, registry, timers)
    }

    fn remove(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), ControlError> {
        self.owner_mut(id)?.remove(id, registry, timers)
    }

    fn destroy_all(&mut self, registry: &Registry, timers: &mut Timers) {
        for m in &mut self.members {
            m.containerizer.destroy_all(registry, timers);
        }
    }

    fn all_terminated(&self) -> bool {
        self.members
            .iter()
            .all(|m| m.containerizer.all_terminated())
    }

    fn status(&self, id: &ContainerId) -> Option<ContainerStatus> {
        self.members.iter().find_map(|m| m.containerizer.status(id))
    }

    fn list(&self) -> Vec<ContainerStatus> {
        let mut all: Vec<ContainerStatus> = self
            .members
            .iter()
            .flat_map(|m| m.containerizer.list())
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn ids(&self) -> Vec<ContainerId> {
        let mut all: Vec<ContainerId> = self
            .members
            .iter()
            .flat_map(|m| m.containerizer.ids())
            .collect();
        all.sort();
        all
    }

    fn usage(
        &self,
        id: &ContainerId,
        pass: &UsagePass,
        buf: &mut Vec<u8>,
    ) -> Option<ResourceStatistics> {
        // Asked of each member in turn rather than through `owner`, whose status of the
        // container (cloned ID, isolator statuses) would be built for every container of every
        // statistics request only to be dropped; a member answers None for another's container.
        self.members
            .iter()
            .find_map(|m| m.containerizer.usage(id, pass, buf))
    }

    fn reload(&mut self) {
        for m in &mut self.members {
            m.containerizer.reload();
        }
    }

    /// Prunes in every member that has images of its own to prune.
    fn prune_images(&mut self) -> Result<usize, ControlError> {
        let mut pruned = None;
        let mut first_error = None;
        for m in &mut self.members {
            match m.containerizer.prune_images() {
                Ok(n) => pruned = Some(pruned.unwrap_or(0) + n),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (pruned, first_error) {
            (Some(n), _) => Ok(n),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(0),
        }
    }

    fn total(&self) -> &Resources {
        self.first().total()
    }

    fn allocated(&self) -> Resources {
        let mut sum = Resources::default();
        for m in &self.members {
            sum.add(&m.containerizer.allocated());
        }
        sum
    }

    fn work_dir(&self) -> &Path {
        self.first().work_dir()
    }

    /// The first member's (the launch counters of the others are not summed yet).
    /// Every member's counters and latencies, summed.
    fn metrics(&self) -> Metrics {
        let mut sum = Metrics::default();
        for m in &self.members {
            sum.add(&m.containerizer.metrics());
        }
        sum
    }

    fn count_by_state(&self) -> Vec<(State, usize)> {
        State::ALL
            .iter()
            .map(|s| {
                let n = self
                    .members
                    .iter()
                    .flat_map(|m| m.containerizer.count_by_state())
                    .filter(|(state, _)| state == s)
                    .map(|(_, n)| n)
                    .sum();
                (*s, n)
            })
            .collect()
    }

    fn fetch_counters(&self) -> Option<FetchCounters> {
        self.members
            .iter()
            .find_map(|m| m.containerizer.fetch_counters())
    }

    fn extra_metrics(&self, out: &mut Vec<(String, f64)>) {
        for m in &self.members {
            m.containerizer.extra_metrics(out);
        }
    }

    fn on_event(
        &mut self,
        source: Source,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        for m in &mut self.members {
            notices.extend(m.containerizer.on_event(source, registry, timers));
        }
        notices
    }

    fn on_timer(
        &mut self,
        kind: &TimerKind,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        for m in &mut self.members {
            notices.extend(m.containerizer.on_timer(kind, registry, timers));
        }
        notices
    }

    fn on_sigchld(&mut self, registry: &Registry, timers: &mut Timers) -> Vec<Notice> {
        let mut notices = Vec::new();
        for m in &mut self.members {
            notices.extend(m.containerizer.on_sigchld(registry, timers));
        }
        notices
    }
}
