//! The launcher: clones a container's first process into its namespaces (and, on cgroup v2,
//! straight into its cgroup; on v1 it moves itself in), which becomes the container's init
//! (`init.rs`) and spawns the task.
//!
//! `linux` clones into the namespaces the isolators asked for; `posix` is a plain fork.

mod child;
mod error;
mod init;
mod rootfs;
mod spawn;

pub use child::{CapsStep, ChildSetup, MountStep, RLimitStep};
pub use error::SetupError;
pub use rootfs::RootSwitch;

pub use spawn::{release, spawn, ExecReport, LaunchSpec, Spawned};

use std::fmt;
use std::io;

/// Which launcher the agent uses (`--launcher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LauncherKind {
    Linux,
    Posix,
}

/// A launch that failed before the task could run.
#[derive(Debug)]
pub enum LaunchError {
    Pipe(io::Error),
    Clone { flags: u64, err: io::Error },
    Release { pid: i32, err: io::Error },
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::Pipe(e) => write!(f, "Failed to create a pipe: {e}"),
            LaunchError::Clone { flags, err } => {
                write!(
                    f,
                    "Failed to clone the container process (flags {flags:#x}): {err}"
                )
            }
            LaunchError::Release { pid, err } => {
                write!(f, "Failed to release the container process {pid}: {err}")
            }
        }
    }
}

impl std::error::Error for LaunchError {}
