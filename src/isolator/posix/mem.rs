//! `posix/mem`: resident memory of the container's process tree.

use super::super::{Isolator, IsolatorError, UsageCtx};
use super::proctree;
use crate::stats::ResourceStatistics;

#[derive(Debug)]
pub struct PosixMem;

impl Isolator for PosixMem {
    fn name(&self) -> &'static str {
        "posix/mem"
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
        let u = super::cpu::tree(ctx, pid)?;
        out.mem_rss_bytes = Some(u.rss_pages * proctree::page_size());
        if out.processes.is_none() {
            out.processes = Some(u.processes);
        }
        Ok(())
    }
}
