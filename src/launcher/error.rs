//! Why the container's init or task could not set itself up. These run in the child, after
//! the clone: the text goes back to the agent on the exec report pipe and becomes the launch's
//! "Failed to launch container: ..." message, so the OS error is given without its
//! "(os error N)" suffix.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::init::strip_os;
use crate::sys::netlink::NetlinkError;

/// A setup step of the init or the task failed.
#[derive(Debug)]
pub enum SetupError {
    /// "Failed to {what}: {error}".
    Step { what: String, error: io::Error },
    /// "Failed to {op} {path}: {error}".
    Path {
        op: String,
        path: PathBuf,
        error: io::Error,
    },
    /// "Failed to mount {source} at {target}: {error}".
    Mount {
        source: String,
        target: String,
        error: io::Error,
    },
    /// A path that cannot be given to the kernel.
    Nul(PathBuf),
    /// "Failed to bring up the loopback interface in the container's network namespace: ...".
    Loopback(NetlinkError),
}

impl SetupError {
    pub(super) fn step(what: impl Into<String>) -> impl FnOnce(io::Error) -> SetupError {
        let what = what.into();
        move |error| SetupError::Step { what, error }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Step { what, error } => write!(f, "Failed to {what}: {}", strip_os(error)),
            SetupError::Path { op, path, error } => {
                write!(f, "Failed to {op} {}: {}", path.display(), strip_os(error))
            }
            SetupError::Mount {
                source,
                target,
                error,
            } => write!(
                f,
                "Failed to mount {source} at {target}: {}",
                strip_os(error)
            ),
            SetupError::Nul(path) => write!(f, "Path {} has a NUL byte", path.display()),
            SetupError::Loopback(e) => write!(
                f,
                "Failed to bring up the loopback interface in the container's network namespace: {e}"
            ),
        }
    }
}

impl std::error::Error for SetupError {}
