//! `namespaces/ipc`: a private System V IPC and POSIX message queue namespace.

use super::super::{Isolator, Plan, PrepareCtx};
use crate::sys::process::CLONE_NEWIPC;

#[derive(Debug)]
pub struct NamespacesIpc;

impl Isolator for NamespacesIpc {
    fn name(&self) -> &'static str {
        "namespaces/ipc"
    }

    fn prepare(&self, _ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), String> {
        plan.namespaces |= CLONE_NEWIPC;
        Ok(())
    }
}
