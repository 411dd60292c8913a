//! `posix/cpu`: cpu times of the container's process tree.

use super::super::{Isolator, IsolatorError, UsageCtx};
use super::proctree;
use crate::stats::ResourceStatistics;

#[derive(Debug)]
pub struct PosixCpu;

impl Isolator for PosixCpu {
    fn name(&self) -> &'static str {
        "posix/cpu"
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        _buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        let Some(pid) = ctx.init_pid else {
            return Ok(());
        };
        let u = tree(ctx, pid)?;
        let hz = proctree::ticks_per_sec();
        out.cpus_user_time_secs = Some(u.utime_ticks as f64 / hz);
        out.cpus_system_time_secs = Some(u.stime_ticks as f64 / hz);
        Ok(())
    }
}

/// The usage of `pid`'s process tree, from the pass's one walk of procfs.
pub(super) fn tree(ctx: &UsageCtx<'_>, pid: i32) -> Result<proctree::TreeUsage, IsolatorError> {
    let table = ctx
        .pass
        .procs(ctx.proc_dir)
        .map_err(|source| IsolatorError::Path {
            what: "read",
            path: ctx.proc_dir.to_path_buf(),
            source,
        })?;
    Ok(table.tree_usage(pid))
}
