//! The memory limitation, as Mesos's memory isolator reports it: the kernel OOM-killed in the
//! container, so the container is destroyed and ends TASK_FAILED with
//! REASON_CONTAINER_LIMITATION_MEMORY.

use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::container::{Container, Limitation, Reason, State};
use super::{slot_container, Containerizer, Notice};
use crate::event::Source;
use crate::resources::Resources;
use crate::sys::notify;
use crate::timer::Timers;

const MB: u64 = 1024 * 1024;

/// The limitation of a container that ran out of memory.
pub(super) fn memory_limitation(resources: &Resources, peak: Option<u64>) -> Limitation {
    let requested = format!("{}MB", resources.mem_mb);
    let used = peak.map_or_else(|| "unknown".to_string(), |p| format!("{}MB", p / MB));
    let mem = Resources {
        mem_mb: resources.mem_mb,
        ..Resources::default()
    };
    Limitation {
        reason: Reason::ContainerLimitationMemory,
        message: format!("Memory limit exceeded: Requested: {requested} Maximum Used: {used}"),
        resources: mem.to_json(),
    }
}

/// Starts watching a container's memory cgroup for OOM kills, if it has a memory limit.
pub(super) fn watch(c: &mut Container, registry: &Registry) {
    if c.resources.mem_mb <= 0.0 {
        return;
    }
    let Some(cg) = &c.cgroup else { return };
    match cg.oom_watch() {
        Ok(Some(fd)) => {
            let token = Token::from(Source::Oom(c.slot));
            match registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE) {
                Ok(()) => c.oom_watch = Some(fd),
                Err(e) => log::warn!("Container {}: cannot watch for OOM: {e}", c.id),
            }
        }
        Ok(None) => {}
        Err(e) => log::warn!("Container {}: cannot watch for OOM: {e}", c.id),
    }
}

impl Containerizer {
    /// The OOM notification fired: if the kernel killed in the container, destroy it.
    pub(super) fn on_oom(
        &mut self,
        slot: u32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        if let Some(fd) = &c.oom_watch {
            notify::drain(fd.as_raw_fd());
        }
        let Some(cg) = &c.cgroup else {
            return Vec::new();
        };
        // v2's memory.events also changes for `high` and `max` events: only a kill counts.
        if !cg.oom_notified() || matches!(c.state, State::Terminated) || c.limitation.is_some() {
            return Vec::new();
        }
        let limitation = memory_limitation(&c.resources, cg.memory_peak());
        log::warn!("Container {id}: {}", limitation.message);
        c.limitation = Some(limitation);
        self.begin_destroy(&id, registry, timers)
    }
}
