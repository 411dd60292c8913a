//! The Docker containerizer behind the containerizer interface.

use std::path::Path;

use mio::Registry;

use super::DockerContainerizer;
use crate::cgroups::Controller;
use crate::containerizer::{
    ContainerStatus, Containerizer, ControlError, FetchCounters, LaunchOutcome, Metrics, Notice,
    Recovered, State, UsagePass,
};
use crate::event::Source;
use crate::resources::Resources;
use crate::spec::{ContainerId, LaunchRequest};
use crate::stats::ResourceStatistics;
use crate::timer::{TimerKind, Timers};

fn status_of(c: &super::Container) -> ContainerStatus {
    ContainerStatus {
        id: c.id.clone(),
        state: c.state,
        executor_pid: c.pid,
        termination: c.termination.clone(),
        network_infos: Vec::new(),
    }
}

impl Containerizer for DockerContainerizer {
    fn recover(&mut self, _rebooted: bool, registry: &Registry, timers: &mut Timers) -> Recovered {
        // After a reboot dockerd reports the containers as exited: the inspect tells.
        DockerContainerizer::recover(self, registry, timers)
    }

    fn launch(
        &mut self,
        req: LaunchRequest,
        registry: &Registry,
        timers: &mut Timers,
    ) -> LaunchOutcome {
        DockerContainerizer::launch(self, req, registry, timers)
    }

    fn kill(
        &mut self,
        id: &ContainerId,
        signal: i32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Vec<Notice>, ControlError> {
        DockerContainerizer::kill(self, id, signal, registry, timers)
    }

    fn remove(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), ControlError> {
        DockerContainerizer::remove(self, id, registry, timers)
    }

    fn destroy_all(&mut self, registry: &Registry, timers: &mut Timers) {
        let ids: Vec<ContainerId> = self.containers.keys().cloned().collect();
        for id in ids {
            if let Err(e) = DockerContainerizer::kill(self, &id, libc::SIGKILL, registry, timers) {
                log::warn!("Failed to destroy container {id}: {e}");
            }
        }
    }

    fn all_terminated(&self) -> bool {
        self.containers
            .values()
            .all(|c| c.state == State::Terminated)
    }

    fn status(&self, id: &ContainerId) -> Option<ContainerStatus> {
        self.containers.get(id).map(status_of)
    }

    fn list(&self) -> Vec<ContainerStatus> {
        self.containers.values().map(status_of).collect()
    }

    /// From the container's cgroup files (found through its pid), with limits as the Mesos
    /// containerizer fills them.
    fn usage(
        &self,
        id: &ContainerId,
        pass: &UsagePass,
        buf: &mut Vec<u8>,
    ) -> Option<ResourceStatistics> {
        let c = self.containers.get(id)?;
        if c.state == State::Terminated {
            return None;
        }
        let mut out = ResourceStatistics {
            timestamp: crate::sys::now_secs(),
            ..Default::default()
        };
        if let Some(cg) = &c.cgroup {
            let all = [Controller::Cpu, Controller::Memory, Controller::Pids];
            if let Err(e) = cg.usage_of(&all, pass.figures(), buf, &mut out) {
                log::debug!("Container {id}: statistics: {e}");
            }
        }
        crate::containerizer::fill_limits(
            &mut out,
            &c.resources,
            self.settings.enable_cfs,
            &self.settings.total,
        );
        Some(out)
    }

    /// Nothing is read from files once.
    fn reload(&mut self) {}

    fn prune_images(&mut self) -> Result<usize, ControlError> {
        Err(ControlError::Refused(
            "PRUNE_IMAGES does not prune dockerd's images (docker image prune does)".into(),
        ))
    }

    fn total(&self) -> &Resources {
        &self.settings.total
    }

    fn allocated(&self) -> Resources {
        DockerContainerizer::allocated(self)
    }

    fn work_dir(&self) -> &Path {
        &self.settings.work_dir
    }

    fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    fn count_by_state(&self) -> Vec<(State, usize)> {
        DockerContainerizer::count_by_state(self)
    }

    fn fetch_counters(&self) -> Option<FetchCounters> {
        None
    }

    fn extra_metrics(&self, _out: &mut Vec<(String, f64)>) {}

    fn on_event(
        &mut self,
        source: Source,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let req = match source {
            Source::Docker(req) => req,
            Source::Child(id) => {
                let events = self.children.on_ready(id, registry);
                return self.on_child_events(events, registry, timers);
            }
            _ => return Vec::new(),
        };
        let replies = self.engine.on_ready(req, registry, timers);
        self.on_replies(replies, registry, timers)
    }

    fn on_timer(
        &mut self,
        kind: &TimerKind,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let req = match kind {
            TimerKind::Docker(req) => req,
            TimerKind::ChildDeadline(n) => {
                self.children.on_deadline(*n);
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        let replies = self.engine.on_timer(*req, registry, timers);
        self.on_replies(replies, registry, timers)
    }

    fn on_sigchld(&mut self, registry: &Registry, timers: &mut Timers) -> Vec<Notice> {
        let events = self.children.on_sigchld();
        self.on_child_events(events, registry, timers)
    }
}

impl DockerContainerizer {
    fn on_replies(
        &mut self,
        replies: super::engine::Replies,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        for (req, progress) in replies {
            notices.extend(self.on_reply(req, progress, registry, timers));
        }
        notices
    }
}
