//! `posix/rlimits`: `container.rlimit_info` applied to the task before it switches user.

use super::super::{Isolator, Plan, PrepareCtx};
use crate::launcher::RLimitStep;

#[derive(Debug)]
pub struct PosixRlimits;

impl Isolator for PosixRlimits {
    fn name(&self) -> &'static str {
        "posix/rlimits"
    }

    fn prepare(&self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), String> {
        plan.child.rlimits = ctx
            .container
            .rlimits
            .iter()
            .map(|r| RLimitStep {
                resource: r.resource,
                soft: r.soft,
                hard: r.hard,
            })
            .collect();
        Ok(())
    }
}
