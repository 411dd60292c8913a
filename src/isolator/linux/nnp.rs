//! `linux/nnp`: the task runs with no_new_privs, so exec can never grant it privileges (setuid
//! binaries, file capabilities).

use super::super::{Isolator, IsolatorError, Plan, PrepareCtx};

#[derive(Debug)]
pub struct LinuxNnp;

impl Isolator for LinuxNnp {
    fn name(&self) -> &'static str {
        "linux/nnp"
    }

    fn prepare(&mut self, _ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        plan.child.no_new_privs = true;
        Ok(())
    }
}
