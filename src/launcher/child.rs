//! What isolators ask the container's processes to do between the clone and the exec, in a
//! fixed order: the init applies the container-wide steps (mounts, in the container's mount
//! namespace), the task the per-process ones just before exec (limits, then privileges last, so
//! that dropping them cannot stop an earlier step; `sys::spawn` runs those).
//!
//! Everything here is prepared by the agent before the clone (paths resolved, BPF compiled,
//! masks computed): the child only applies it.

use std::ffi::CString;

use super::SetupError;
use crate::sys::mount;
use crate::sys::seccomp::Program;

/// One mount in the container's mount namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum MountStep {
    /// Bind `source` onto `target` (both resolved, existing), then make it read-only if asked.
    Bind {
        source: CString,
        target: CString,
        read_only: bool,
    },
    /// A fresh tmpfs on `target` with these options.
    Tmpfs { target: CString, options: CString },
}

/// One resource limit, and the capabilities the task keeps: applied by the task's process
/// itself, between its clone and its exec, in `sys::spawn`.
pub use crate::sys::spawn::{Caps as CapsStep, RLimit as RLimitStep};

/// Steps for the container's init and task. Empty by default: nothing is changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChildSetup {
    pub mounts: Vec<MountStep>,
    pub rlimits: Vec<RLimitStep>,
    pub capabilities: Option<CapsStep>,
    pub no_new_privs: bool,
    pub seccomp: Option<Program>,
    /// filesystem/linux with an image: enter its rootfs after the mounts above.
    pub root: Option<super::RootSwitch>,
    /// network/cni: the container has a network namespace of its own, whose `lo` the init
    /// brings up.
    pub loopback_up: bool,
}

impl ChildSetup {
    /// In the init, after the namespaces are set up and before the task is forked.
    pub fn apply_in_init(&self) -> Result<(), SetupError> {
        for step in &self.mounts {
            match step {
                MountStep::Bind {
                    source,
                    target,
                    read_only,
                } => {
                    mount::bind(source, target).map_err(|error| SetupError::Mount {
                        source: source.to_string_lossy().into_owned(),
                        target: target.to_string_lossy().into_owned(),
                        error,
                    })?;
                    if *read_only {
                        mount::remount_read_only(target).map_err(SetupError::step(format!(
                            "make {} read-only",
                            target.to_string_lossy()
                        )))?;
                    }
                }
                MountStep::Tmpfs { target, options } => {
                    mount::mount_tmpfs(target, options).map_err(SetupError::step(format!(
                        "mount a tmpfs at {}",
                        target.to_string_lossy()
                    )))?;
                }
            }
        }
        // Last: volumes under the sandbox go along with its recursive bind.
        if let Some(root) = &self.root {
            root.enter()?;
        }
        Ok(())
    }
}
