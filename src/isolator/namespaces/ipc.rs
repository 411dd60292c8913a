//! `namespaces/ipc`: a private System V IPC and POSIX message queue namespace, and a private
//! /dev/shm (a tmpfs of `--default_container_shm_size`, in the container's mount namespace), so
//! that POSIX shared memory is private too.

use std::ffi::CString;
use std::path::Path;

use super::super::{Isolator, IsolatorError, Plan, PrepareCtx};
use crate::launcher::MountStep;
use crate::sys::process::{CLONE_NEWIPC, CLONE_NEWNS};

#[derive(Debug)]
pub struct NamespacesIpc {
    /// The tmpfs options, e.g. `mode=1777,size=67108864`.
    shm_options: CString,
}

impl NamespacesIpc {
    pub fn new(shm_size: Option<u64>) -> NamespacesIpc {
        let mut options = String::from("mode=1777");
        if let Some(size) = shm_size {
            options.push_str(&format!(",size={size}"));
        }
        NamespacesIpc {
            // No NUL can occur in what we formatted.
            shm_options: CString::new(options).unwrap_or_default(),
        }
    }
}

impl Isolator for NamespacesIpc {
    fn name(&self) -> &'static str {
        "namespaces/ipc"
    }

    fn prepare(&mut self, _ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        plan.namespaces |= CLONE_NEWIPC;
        if Path::new("/dev/shm").is_dir() {
            plan.namespaces |= CLONE_NEWNS;
            plan.child.mounts.push(MountStep::Tmpfs {
                target: c"/dev/shm".to_owned(),
                options: self.shm_options.clone(),
            });
        }
        Ok(())
    }
}
