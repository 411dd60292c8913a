//! `cgroups/*`: limits written into the container's cgroup, usage read back from it. The
//! containerizer creates and removes the cgroup itself (it also needs it to kill).

pub mod blkio;
pub mod cpu;
pub mod mem;
pub mod perf_event;
mod perf_events;
pub mod pids;

use super::{IsolatorError, UsageCtx};
use crate::cgroups::Controller;
use crate::stats::ResourceStatistics;

fn usage_of(
    controller: Controller,
    ctx: &UsageCtx<'_>,
    buf: &mut Vec<u8>,
    out: &mut ResourceStatistics,
) -> Result<(), IsolatorError> {
    match ctx.cgroup {
        Some(cg) => cg
            .usage_of(&[controller], ctx.pass.figures(), buf, out)
            .map_err(IsolatorError::Stats),
        None => Ok(()),
    }
}
