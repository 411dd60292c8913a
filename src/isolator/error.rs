//! Isolator errors: what failed, with the path, cgroup or child it concerns.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::cgroups::CgroupError;

use super::XfsError;

/// Why an isolator step failed.
#[derive(Debug)]
pub enum IsolatorError {
    /// A cgroup interface file refused a write or read (`what`: the limit or counter).
    Cgroup {
        what: &'static str,
        source: CgroupError,
    },
    /// A cgroup could not be read or watched.
    Stats(CgroupError),
    /// A file, directory or mount at `path`.
    Path {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The request asks for what this isolator refuses (a volume outside the sandbox, ...).
    Request(String),
    /// The isolator's own configuration is invalid (a seccomp profile, a capability list).
    Config(String),
    /// A container asks for a feature that no enabled isolator serves.
    Unsupported {
        what: String,
        isolator: &'static str,
    },
    /// linux/seccomp: the profile or its filter.
    Seccomp(super::linux::seccomp::SeccompError),
    /// linux/capabilities: sets that do not fit.
    Capabilities(super::linux::capabilities::CapsError),
    /// disk/xfs: the project quota.
    Quota(XfsError),
    /// An fd could not be watched.
    Watch(io::Error),
}

impl fmt::Display for IsolatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsolatorError::Cgroup { what, source } => write!(f, "Failed to set {what}: {source}"),
            IsolatorError::Stats(e) => e.fmt(f),
            IsolatorError::Path { what, path, source } => {
                write!(f, "Failed to {what} {}: {source}", path.display())
            }
            IsolatorError::Request(msg) | IsolatorError::Config(msg) => f.write_str(msg),
            IsolatorError::Unsupported { what, isolator } => write!(
                f,
                "{what} needs the '{isolator}' isolator, which is not in --isolation"
            ),
            IsolatorError::Quota(e) => e.fmt(f),
            IsolatorError::Seccomp(e) => e.fmt(f),
            IsolatorError::Capabilities(e) => e.fmt(f),
            IsolatorError::Watch(e) => write!(f, "Failed to watch: {e}"),
        }
    }
}

impl std::error::Error for IsolatorError {}

/// A step of the life cycle, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Prepare,
    Isolate,
    Recover,
    Cleanup,
}

impl Step {
    fn verb(self) -> &'static str {
        match self {
            Step::Prepare => "prepare",
            Step::Isolate => "isolate",
            Step::Recover => "recover",
            Step::Cleanup => "clean up",
        }
    }
}

/// A step of one isolator failed.
#[derive(Debug)]
pub struct StepError {
    pub isolator: &'static str,
    pub step: Step,
    pub error: IsolatorError,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Isolator {} failed to {}: {}",
            self.isolator,
            self.step.verb(),
            self.error
        )
    }
}

impl std::error::Error for StepError {}
