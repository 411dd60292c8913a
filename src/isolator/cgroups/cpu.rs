//! `cgroups/cpu`: cpu.shares = 1024 × cpus (v1) or the matching cpu.weight (v2); with
//! `--cgroups_enable_cfs`, a hard cap of cpus × 100 ms per 100 ms period.

use super::super::{Isolator, IsolatorError, Plan, PrepareCtx, UsageCtx};
use crate::cgroups::Controller;
use crate::stats::ResourceStatistics;

#[derive(Debug)]
pub struct CgroupsCpu;

impl Isolator for CgroupsCpu {
    fn name(&self) -> &'static str {
        "cgroups/cpu"
    }

    fn controller(&self) -> Option<Controller> {
        Some(Controller::Cpu)
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, _plan: &mut Plan) -> Result<(), IsolatorError> {
        match ctx.cgroup {
            Some(cg) if ctx.resources.cpus > 0.0 => cg
                .set_cpu(ctx.resources.cpus, ctx.enable_cfs)
                .map_err(|source| IsolatorError::Cgroup {
                    what: "the cpu limits",
                    source,
                }),
            _ => Ok(()),
        }
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        super::usage_of(Controller::Cpu, ctx, buf, out)
    }
}
