//! The one error type of the cgroups layer.
//!
//! Every variant names the operation that failed and carries the path (or pid, or controller) it
//! concerns. The io error is printed in `Display` as well as returned by `source()`, because these
//! errors mostly end up in single log lines.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A failed cgroups operation.
#[derive(Debug)]
pub enum CgroupError {
    /// Reading `/proc/self/mountinfo` or `/proc/self/cgroup` failed.
    ReadProc { path: PathBuf, source: io::Error },
    /// A wanted controller is mounted nowhere (v1) or not offered by the cgroup2 root (v2).
    ControllerNotMounted { controller: &'static str },
    /// A cgroup2 controller could not be enabled down to the containers' parent.
    EnableController {
        controller: &'static str,
        path: PathBuf,
        source: Option<io::Error>,
    },
    /// Running under systemd, but `/proc/self/cgroup` has no `0::` line.
    NoUnifiedCgroup { path: PathBuf },
    /// A container id that cannot be a cgroup directory name.
    InvalidId { id: String },
    /// The operation needs a controller this host layout does not use.
    ControllerNotInUse { controller: &'static str },
    /// mkdir of a cgroup failed.
    Mkdir { path: PathBuf, source: io::Error },
    /// rmdir of a cgroup failed (EBUSY: it still has processes).
    Rmdir { path: PathBuf, source: io::Error },
    /// Listing the containers' parent cgroup failed.
    List { path: PathBuf, source: io::Error },
    /// Opening or reading a cgroup file failed.
    Read { path: PathBuf, source: io::Error },
    /// Opening a cgroup file for writing failed.
    Open { path: PathBuf, source: io::Error },
    /// Writing a value to a cgroup file failed.
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    /// A cgroup file held something other than what the kernel documents.
    Parse { path: PathBuf, content: String },
    /// Sending SIGKILL to a process of the cgroup failed (other than ESRCH).
    Kill { pid: i32, source: io::Error },
    /// Mounting a v1 hierarchy the agent needs failed.
    Mount {
        subsystem: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for CgroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadProc { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::ControllerNotMounted { controller } => write!(
                f,
                "cgroup controller {controller} is wanted but neither a cgroup v1 hierarchy nor the cgroup2 root offers it"
            ),
            Self::EnableController {
                controller,
                path,
                source: Some(source),
            } => write!(
                f,
                "cannot enable cgroup2 controller {controller} in {}/cgroup.subtree_control: {source}{}",
                path.display(),
                enable_hint(source)
            ),
            Self::EnableController {
                controller,
                path,
                source: None,
            } => write!(
                f,
                "cgroup2 controller {controller} is not available in {} (not delegated to this cgroup?)",
                path.display()
            ),
            Self::NoUnifiedCgroup { path } => {
                write!(f, "{} has no cgroup2 (\"0::\") line", path.display())
            }
            Self::InvalidId { id } => write!(f, "{id:?} cannot be used as a cgroup name"),
            Self::ControllerNotInUse { controller } => {
                write!(f, "cgroup controller {controller} is not in use")
            }
            Self::Mkdir { path, source } => {
                write!(f, "cannot create cgroup {}: {source}", path.display())
            }
            Self::Rmdir { path, source } => {
                write!(f, "cannot remove cgroup {}: {source}", path.display())
            }
            Self::List { path, source } => {
                write!(f, "cannot list cgroups in {}: {source}", path.display())
            }
            Self::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Open { path, source } => write!(f, "cannot open {}: {source}", path.display()),
            Self::Write {
                path,
                value,
                source,
            } => write!(f, "cannot write {value:?} to {}: {source}", path.display()),
            Self::Parse { path, content } => {
                write!(f, "unexpected content in {}: {content:?}", path.display())
            }
            Self::Kill { pid, source } => write!(f, "cannot send SIGKILL to pid {pid}: {source}"),
            Self::Mount {
                subsystem,
                path,
                source,
            } => write!(
                f,
                "cannot mount the cgroup v1 {subsystem} hierarchy at {}: {source}",
                path.display()
            ),
        }
    }
}

/// The two ways enabling a controller fails in practice deserve an explanation in the log.
fn enable_hint(source: &io::Error) -> &'static str {
    match source.raw_os_error() {
        Some(libc::EBUSY) => {
            " (the cgroup has processes of its own: cgroup v2 allows controllers only in cgroups \
             whose processes all live in leaves)"
        }
        Some(libc::ENOENT) => " (the controller is not enabled in the parent cgroup)",
        _ => "",
    }
}

impl std::error::Error for CgroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ReadProc { source, .. }
            | Self::Mkdir { source, .. }
            | Self::Rmdir { source, .. }
            | Self::List { source, .. }
            | Self::Read { source, .. }
            | Self::Open { source, .. }
            | Self::Write { source, .. }
            | Self::Kill { source, .. }
            | Self::Mount { source, .. } => Some(source),
            Self::EnableController {
                source: Some(source),
                ..
            } => Some(source),
            _ => None,
        }
    }
}

impl CgroupError {
    /// Whether the underlying error is "no such file or directory" (the cgroup is gone).
    pub fn is_not_found(&self) -> bool {
        self.os_error() == Some(libc::ENOENT)
    }

    /// Whether the underlying error is EBUSY (rmdir of a cgroup that still has processes).
    pub fn is_busy(&self) -> bool {
        self.os_error() == Some(libc::EBUSY)
    }

    fn os_error(&self) -> Option<i32> {
        match self {
            Self::ReadProc { source, .. }
            | Self::Mkdir { source, .. }
            | Self::Rmdir { source, .. }
            | Self::List { source, .. }
            | Self::Read { source, .. }
            | Self::Open { source, .. }
            | Self::Write { source, .. }
            | Self::Kill { source, .. }
            | Self::Mount { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
