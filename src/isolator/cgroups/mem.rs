//! `cgroups/mem`: the hard memory limit is the requested `mem` (MB).

use super::super::{Isolator, Plan, PrepareCtx, UsageCtx};
use crate::cgroups::Controller;
use crate::stats::ResourceStatistics;

#[derive(Debug)]
pub struct CgroupsMem;

impl Isolator for CgroupsMem {
    fn name(&self) -> &'static str {
        "cgroups/mem"
    }

    fn controller(&self) -> Option<Controller> {
        Some(Controller::Memory)
    }

    fn prepare(&self, ctx: &PrepareCtx<'_>, _plan: &mut Plan) -> Result<(), String> {
        match ctx.cgroup {
            Some(cg) if ctx.resources.mem_mb > 0.0 => {
                let bytes = (ctx.resources.mem_mb * 1024.0 * 1024.0).round() as u64;
                cg.set_memory(bytes)
                    .map_err(|e| format!("Failed to set the memory limit: {e}"))
            }
            _ => Ok(()),
        }
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), String> {
        super::usage_of(Controller::Memory, ctx, buf, out)
    }
}
