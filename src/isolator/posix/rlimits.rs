//! `posix/rlimits`: `container.rlimit_info` applied to the task before it switches user.

use super::super::{Feature, Isolator, IsolatorError, Plan, PrepareCtx};
use crate::launcher::RLimitStep;

#[derive(Debug)]
pub struct PosixRlimits;

impl Isolator for PosixRlimits {
    fn name(&self) -> &'static str {
        "posix/rlimits"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::Rlimits]
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
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
