//! `cgroups/blkio`: the container's I/O counters as `blkio_statistics` (v1 `blkio.*`, v2
//! `io.stat`; no limits, as Mesos sets none). The agent turns v1's throttle accounting on at
//! start (`Cgroups::enable_blkio_accounting`).

use super::super::{Isolator, IsolatorError, UsageCtx};
use crate::cgroups::Controller;
use crate::stats::ResourceStatistics;

#[derive(Debug)]
pub struct CgroupsBlkio;

impl Isolator for CgroupsBlkio {
    fn name(&self) -> &'static str {
        "cgroups/blkio"
    }

    fn controller(&self) -> Option<Controller> {
        Some(Controller::Blkio)
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        super::usage_of(Controller::Blkio, ctx, buf, out)
    }
}
