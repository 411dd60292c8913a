//! The Mesos containerizer behind the containerizer interface.

use std::path::Path;

use mio::Registry;

use super::MesosContainerizer;
use crate::containerizer::{
    ContainerStatus, Containerizer, ControlError, FetchCounters, LaunchOutcome, Metrics, Notice,
    Recovered, State, UsagePass,
};
use crate::event::Source;
use crate::resources::Resources;
use crate::spec::{ContainerId, LaunchRequest};
use crate::stats::ResourceStatistics;
use crate::timer::{TimerKind, Timers};

fn status_of(cz: &MesosContainerizer, c: &super::Container) -> ContainerStatus {
    ContainerStatus {
        id: c.id.clone(),
        state: c.state,
        executor_pid: c.live_pid(),
        termination: c.termination.clone(),
        network_infos: cz.isolator_status(c.slot).network_infos,
    }
}

impl Containerizer for MesosContainerizer {
    fn recover(&mut self, rebooted: bool, registry: &Registry, timers: &mut Timers) -> Recovered {
        let recovered = MesosContainerizer::recover(self, rebooted, registry, timers);
        self.remove_stale_rootfses();
        recovered
    }

    fn launch(
        &mut self,
        req: LaunchRequest,
        registry: &Registry,
        timers: &mut Timers,
    ) -> LaunchOutcome {
        if self.launch_must_wait(&req.id) {
            return self.defer_launch(req);
        }
        MesosContainerizer::launch(self, req, registry, timers)
    }

    fn kill(
        &mut self,
        id: &ContainerId,
        signal: i32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Vec<Notice>, ControlError> {
        MesosContainerizer::kill(self, id, signal, registry, timers)
    }

    fn remove(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), ControlError> {
        MesosContainerizer::remove(self, id, registry, timers)
    }

    fn destroy_all(&mut self, registry: &Registry, timers: &mut Timers) {
        MesosContainerizer::destroy_all(self, registry, timers)
    }

    fn all_terminated(&self) -> bool {
        MesosContainerizer::all_terminated(self)
    }

    fn status(&self, id: &ContainerId) -> Option<ContainerStatus> {
        self.get(id).map(|c| status_of(self, c))
    }

    fn list(&self) -> Vec<ContainerStatus> {
        self.containers().map(|c| status_of(self, c)).collect()
    }

    fn ids(&self) -> Vec<ContainerId> {
        self.containers().map(|c| c.id.clone()).collect()
    }

    fn usage(
        &self,
        id: &ContainerId,
        pass: &UsagePass,
        buf: &mut Vec<u8>,
    ) -> Option<ResourceStatistics> {
        MesosContainerizer::usage(self, self.get(id)?, pass, buf)
    }

    fn reload(&mut self) {
        self.isolators.reload();
    }

    fn prune_images(&mut self) -> Result<usize, ControlError> {
        MesosContainerizer::prune_images(self).map_err(|e| ControlError::Refused(e.to_string()))
    }

    fn total(&self) -> &Resources {
        &self.settings.total
    }

    fn allocated(&self) -> Resources {
        MesosContainerizer::allocated(self)
    }

    fn work_dir(&self) -> &Path {
        &self.settings.work_dir
    }

    fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    fn count_by_state(&self) -> Vec<(State, usize)> {
        MesosContainerizer::count_by_state(self)
    }

    fn fetch_counters(&self) -> Option<FetchCounters> {
        let f = &self.fetcher;
        let cache = f.cache.stats();
        Some(FetchCounters {
            succeeded: f.metrics.succeeded,
            failed: f.metrics.failed,
            cache_capacity: f.cache.capacity(),
            cache_used: f.cache.used_bytes(),
            hits: cache.hits,
            misses: cache.misses,
            evictions: cache.evictions,
        })
    }

    fn extra_metrics(&self, out: &mut Vec<(String, f64)>) {
        self.isolators.metrics(out);
        self.deleter_metrics(out);
    }

    fn on_event(
        &mut self,
        source: Source,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        MesosContainerizer::on_event(self, source, registry, timers)
    }

    fn on_timer(
        &mut self,
        kind: &TimerKind,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        MesosContainerizer::on_timer(self, kind, registry, timers)
    }

    fn on_sigchld(&mut self, registry: &Registry, timers: &mut Timers) -> Vec<Notice> {
        MesosContainerizer::on_sigchld(self, registry, timers)
    }
}
