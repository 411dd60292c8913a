//! `cgroups/mem`: the hard memory limit is the requested `mem` (MB); the kernel's OOM kills in
//! the container are watched (v1 `memory.oom_control` eventfd, v2 `memory.events` inotify) and
//! end it with REASON_CONTAINER_LIMITATION_MEMORY, as Mesos's memory isolator does. Memory
//! pressure is counted at three levels into `mem_{low,medium,critical}_pressure_counter` (v1
//! `memory.pressure_level` eventfds, v2 PSI triggers; see `cgroups::pressure`), from zero at
//! each agent start, as Mesos's counters.

use std::os::fd::{AsRawFd, OwnedFd};

use super::super::{
    ContainerCtx, Isolated, Isolator, IsolatorError, Ops, Plan, PrepareCtx, UsageCtx,
};
use crate::cgroups::{Controller, PressureLevel, PressureWatch};
use crate::resources::Resources;
use crate::slot_map::SlotMap;
use crate::stats::ResourceStatistics;
use crate::status::{Limitation, Reason};
use crate::sys::notify;

const MB: u64 = 1024 * 1024;
/// The tag of a container's OOM fd in the loop; its pressure levels' are [`pressure_tag`].
const OOM_TAG: u8 = 0;

/// The loop's tag for a pressure level's fd.
fn pressure_tag(level: PressureLevel) -> u8 {
    1 + level as u8
}

#[derive(Debug, Default)]
pub struct CgroupsMem {
    /// What is watched of each container, by slot.
    watches: SlotMap<Watched>,
}

/// The notification fds of one container and the pressure events counted so far.
#[derive(Debug, Default)]
struct Watched {
    oom: Option<OwnedFd>,
    pressure: Vec<PressureWatch>,
    /// By `PressureLevel` (low, medium, critical).
    counters: [u64; 3],
}

impl Watched {
    /// The pressure fd watched under `tag` is ready: count what its readiness stands for.
    fn count(&mut self, tag: u8) {
        if let Some(w) = self.pressure.iter().find(|w| pressure_tag(w.level) == tag) {
            let c = &mut self.counters[w.level as usize];
            *c = c.saturating_add(w.events_when_ready());
        }
    }
}

impl CgroupsMem {
    /// Registers the container's OOM fd (with a memory limit) and pressure listeners with the
    /// loop. A part that cannot be registered is logged; the rest is kept.
    fn watch(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        let Some(cg) = ctx.cgroup else {
            return Ok(());
        };
        if self.watches.contains_key(ctx.slot) {
            return Ok(());
        }
        let mut watched = Watched::default();
        let pressure = cg.pressure_watches();
        if ctx.resources.mem_mb > 0.0 {
            if let Some(fd) = cg.oom_watch().map_err(IsolatorError::Stats)? {
                ops.watch(ctx.slot, OOM_TAG, fd.as_raw_fd())
                    .map_err(IsolatorError::Watch)?;
                watched.oom = Some(fd);
            }
        }
        match pressure {
            Ok(listeners) => {
                for w in listeners {
                    let tag = pressure_tag(w.level);
                    let registered = if w.is_psi() {
                        ops.watch_priority(ctx.slot, tag, w.fd())
                    } else {
                        ops.watch(ctx.slot, tag, w.fd())
                    };
                    match registered {
                        Ok(()) => watched.pressure.push(w),
                        Err(e) => log::warn!(
                            "Container {}: cannot watch {} memory pressure: {e}",
                            ctx.id,
                            w.level.name()
                        ),
                    }
                }
            }
            Err(e) => log::warn!(
                "Container {}: cannot listen to memory pressure: {e}",
                ctx.id
            ),
        }
        self.watches.insert(ctx.slot, watched);
        Ok(())
    }
}

impl Isolator for CgroupsMem {
    fn name(&self) -> &'static str {
        "cgroups/mem"
    }

    fn controller(&self) -> Option<Controller> {
        Some(Controller::Memory)
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, _plan: &mut Plan) -> Result<(), IsolatorError> {
        match ctx.cgroup {
            Some(cg) if ctx.resources.mem_mb > 0.0 => {
                let bytes = (ctx.resources.mem_mb * 1024.0 * 1024.0).round() as u64;
                cg.set_memory(bytes)
                    .map_err(|source| IsolatorError::Cgroup {
                        what: "the memory limit",
                        source,
                    })
            }
            _ => Ok(()),
        }
    }

    fn isolate(
        &mut self,
        ctx: &ContainerCtx<'_>,
        ops: &mut Ops<'_>,
    ) -> Result<Isolated, IsolatorError> {
        // A container that cannot be watched still runs: it loses only the limitation's reason.
        if let Err(e) = self.watch(ctx, ops) {
            log::warn!("Container {}: cannot watch for OOM: {e}", ctx.id);
        }
        Ok(Isolated::Done)
    }

    fn recover(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        self.watch(ctx, ops)
    }

    fn on_ready(
        &mut self,
        ctx: &ContainerCtx<'_>,
        tag: u8,
        _ops: &mut Ops<'_>,
    ) -> Option<Limitation> {
        let watched = self.watches.get_mut(ctx.slot)?;
        if tag != OOM_TAG {
            watched.count(tag);
            return None;
        }
        let oom_fired = watched
            .oom
            .as_ref()
            .is_some_and(|fd| notify::drain(fd.as_raw_fd()));
        if !oom_fired {
            return None;
        }
        let cg = ctx.cgroup?;
        // v2's memory.events also changes for `high` and `max` events: only a kill counts.
        if !cg.oom_notified() {
            return None;
        }
        Some(memory_limitation(ctx.resources, cg.memory_peak()))
    }

    fn on_exit(&mut self, ctx: &ContainerCtx<'_>) -> Option<Limitation> {
        // The task's end may be seen before the OOM notification: the kill counter tells.
        let cg = ctx.cgroup?;
        (cg.oom_kills() > 0).then(|| memory_limitation(ctx.resources, cg.memory_peak()))
    }

    fn cleanup(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        if let Some(watched) = self.watches.remove(ctx.slot) {
            let pressure = watched.pressure.iter().map(PressureWatch::fd);
            for fd in watched.oom.iter().map(AsRawFd::as_raw_fd).chain(pressure) {
                ops.unwatch(fd);
            }
        }
        Ok(())
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        if let Some(w) = self
            .watches
            .get(ctx.slot)
            .filter(|w| !w.pressure.is_empty())
        {
            let [low, medium, critical] = w.counters;
            out.mem_low_pressure_counter = Some(low);
            out.mem_medium_pressure_counter = Some(medium);
            out.mem_critical_pressure_counter = Some(critical);
        }
        super::usage_of(Controller::Memory, ctx, buf, out)
    }
}

/// The limitation of a container that ran out of memory.
fn memory_limitation(resources: &Resources, peak: Option<u64>) -> Limitation {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn each_readiness_counts_the_level_watched_under_its_tag() {
        // PSI watches: their fds report nothing once epoll has polled them, as these pipes.
        let mut watched = Watched::default();
        for level in PressureLevel::ALL {
            let (read, _write) = crate::sys::fd::pipe(true).unwrap();
            watched.pressure.push(PressureWatch::new(level, read, true));
        }
        let medium = pressure_tag(PressureLevel::Medium);
        watched.count(medium);
        watched.count(medium);
        watched.count(pressure_tag(PressureLevel::Low));
        watched.count(99);
        assert_eq!(watched.counters, [1, 2, 0]);
        assert_ne!(pressure_tag(PressureLevel::Low), OOM_TAG);
    }
}
