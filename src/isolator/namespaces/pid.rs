//! `namespaces/pid`: the container gets its own pid namespace, and a mount namespace with a
//! fresh /proc, so that `ps` inside sees only the container's processes.

use super::super::{Isolator, IsolatorError, Plan, PrepareCtx};
use crate::sys::process::{CLONE_NEWNS, CLONE_NEWPID};

#[derive(Debug)]
pub struct NamespacesPid;

impl Isolator for NamespacesPid {
    fn name(&self) -> &'static str {
        "namespaces/pid"
    }

    fn prepare(&mut self, _ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        plan.namespaces |= CLONE_NEWPID | CLONE_NEWNS;
        plan.mount_proc = true;
        Ok(())
    }
}
