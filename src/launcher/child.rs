//! What isolators ask the container's processes to do between the clone and the exec, in a
//! fixed order: the init applies the container-wide steps (mounts, in the container's mount
//! namespace), the task the per-process ones just before exec (limits, then privileges last, so
//! that dropping them cannot stop an earlier step).
//!
//! Everything here is prepared by the agent before the clone: the child only applies it.

/// Steps for the container's init and task. Empty by default: nothing is changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChildSetup {}

impl ChildSetup {
    /// In the init, after the namespaces are set up and before the task is forked.
    pub fn apply_in_init(&self) -> Result<(), String> {
        Ok(())
    }

    /// In the task, before it switches to the container's user (while it may still raise
    /// limits): rlimits and the like.
    pub fn apply_before_user(&self) -> Result<(), String> {
        Ok(())
    }

    /// In the task, after the user switch, right before exec: privileges last (capabilities,
    /// no_new_privs, then seccomp, which must come after every other syscall it might forbid).
    pub fn apply_before_exec(&self) -> Result<(), String> {
        Ok(())
    }
}
