//! What isolators ask the container's processes to do between the clone and the exec, in a
//! fixed order: the init applies the container-wide steps (mounts, in the container's mount
//! namespace), the task the per-process ones just before exec (limits, then privileges last, so
//! that dropping them cannot stop an earlier step).
//!
//! Everything here is prepared by the agent before the clone (paths resolved, BPF compiled,
//! masks computed): the child only applies it.

use std::ffi::CString;

use super::SetupError;
use crate::sys::caps::{self, CapSet};
use crate::sys::mount;
use crate::sys::rlimit::{self, Resource};
use crate::sys::seccomp::{self, Program};

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

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RLimitStep {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

/// The capabilities the task keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapsStep {
    /// The bounding set: everything else is dropped from it (`None`: unchanged).
    pub bounding: Option<CapSet>,
    /// The task's effective, permitted, inheritable and ambient sets, whatever its uid.
    pub effective: Option<CapSet>,
    /// The highest capability of this kernel.
    pub last_cap: u32,
}

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

    /// In the task, before it switches to the container's user (while it may still raise
    /// limits and change its bounding set): rlimits, then the bounding set and the securebits
    /// that keep the chosen capabilities across the uid switch.
    pub fn apply_before_user(&self) -> Result<(), SetupError> {
        for l in &self.rlimits {
            rlimit::set(l.resource, l.soft, l.hard).map_err(SetupError::step(format!(
                "set {} to {}/{}",
                l.resource.name(),
                l.soft,
                l.hard
            )))?;
        }
        if let Some(c) = &self.capabilities {
            if let Some(bounding) = c.bounding {
                caps::drop_bounding(bounding, c.last_cap)
                    .map_err(SetupError::step("drop bounding capabilities"))?;
            }
            if c.effective.is_some() {
                // Keep the permitted set over setuid; and uid 0 gets nothing at exec for
                // being uid 0, so a root task too keeps exactly the chosen set.
                caps::set_securebits(caps::SECBIT_KEEP_CAPS | caps::SECBIT_NOROOT)
                    .map_err(SetupError::step("set the securebits"))?;
            }
        }
        Ok(())
    }

    /// In the task, after the user switch, right before exec: privileges last (capabilities,
    /// no_new_privs, then seccomp, which must come after every other syscall it might forbid).
    pub fn apply_before_exec(&self) -> Result<(), SetupError> {
        if let Some(effective) = self.capabilities.and_then(|c| c.effective) {
            caps::set_all(effective).map_err(SetupError::step(format!(
                "set the capabilities to [{}]",
                effective.names()
            )))?;
        }
        if self.no_new_privs {
            seccomp::set_no_new_privs().map_err(SetupError::step("set no_new_privs"))?;
        }
        if let Some(program) = &self.seccomp {
            // The kernel takes a filter only under no_new_privs or from CAP_SYS_ADMIN.
            let admin = caps::effective().is_ok_and(|e| e.contains(caps::CAP_SYS_ADMIN));
            if !admin && !self.no_new_privs {
                seccomp::set_no_new_privs().map_err(SetupError::step("set no_new_privs"))?;
            }
            seccomp::install(program).map_err(SetupError::step("load the seccomp filter"))?;
        }
        Ok(())
    }
}
