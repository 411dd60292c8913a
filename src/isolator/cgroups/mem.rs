//! `cgroups/mem`: the hard memory limit is the requested `mem` (MB); the kernel's OOM kills in
//! the container are watched (v1 `memory.oom_control` eventfd, v2 `memory.events` inotify) and
//! end it with REASON_CONTAINER_LIMITATION_MEMORY, as Mesos's memory isolator does.

use std::os::fd::{AsRawFd, OwnedFd};

use super::super::{
    ContainerCtx, Isolated, Isolator, IsolatorError, Ops, Plan, PrepareCtx, UsageCtx,
};
use crate::cgroups::Controller;
use crate::resources::Resources;
use crate::slot_map::SlotMap;
use crate::stats::ResourceStatistics;
use crate::status::{Limitation, Reason};
use crate::sys::notify;

const MB: u64 = 1024 * 1024;

#[derive(Debug, Default)]
pub struct CgroupsMem {
    /// The OOM notification fd of each watched container, by slot.
    watches: SlotMap<OwnedFd>,
}

impl CgroupsMem {
    fn watch(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        let Some(cg) = ctx.cgroup else {
            return Ok(());
        };
        if ctx.resources.mem_mb <= 0.0 || self.watches.contains_key(ctx.slot) {
            return Ok(());
        }
        let fd = match cg.oom_watch() {
            Ok(Some(fd)) => fd,
            Ok(None) => return Ok(()),
            Err(source) => {
                return Err(IsolatorError::Stats(source));
            }
        };
        ops.watch(ctx.slot, fd.as_raw_fd())
            .map_err(IsolatorError::Watch)?;
        self.watches.insert(ctx.slot, fd);
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

    fn on_ready(&mut self, ctx: &ContainerCtx<'_>, _ops: &mut Ops<'_>) -> Option<Limitation> {
        if let Some(fd) = self.watches.get(ctx.slot) {
            notify::drain(fd.as_raw_fd());
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
        if let Some(fd) = self.watches.remove(ctx.slot) {
            ops.unwatch(fd.as_raw_fd());
        }
        Ok(())
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
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
