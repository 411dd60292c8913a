//! `namespaces/uts`: a private hostname, `container.hostname` or else the container ID (as
//! Mesos's network isolator names containers).

use super::super::{Isolator, IsolatorError, Plan, PrepareCtx};
use crate::sys::process::CLONE_NEWUTS;

#[derive(Debug)]
pub struct NamespacesUts;

impl Isolator for NamespacesUts {
    fn name(&self) -> &'static str {
        "namespaces/uts"
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        plan.namespaces |= CLONE_NEWUTS;
        let name = ctx.hostname.unwrap_or(ctx.id);
        // A hostname is at most 64 bytes (HOST_NAME_MAX).
        plan.hostname = Some(name.chars().take(64).collect());
        Ok(())
    }
}
