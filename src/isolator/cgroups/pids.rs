//! `cgroups/pids`: counts the container's processes and threads (no limit: Mesos sets none).

use super::super::{Isolator, IsolatorError, UsageCtx};
use crate::cgroups::Controller;
use crate::stats::ResourceStatistics;

#[derive(Debug)]
pub struct CgroupsPids;

impl Isolator for CgroupsPids {
    fn name(&self) -> &'static str {
        "cgroups/pids"
    }

    fn controller(&self) -> Option<Controller> {
        Some(Controller::Pids)
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        super::usage_of(Controller::Pids, ctx, buf, out)
    }
}
