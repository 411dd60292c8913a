//! Errors of a launch: STARTING through RUNNING, FETCHING included. Each variant carries what it
//! concerns (the container, a path, a pid, the isolator, the image); `Display` is the text that
//! follows "Failed to launch container: " in the launch's answer. Where a failure is kept for
//! later (`Container::launch_failure`, `Notice::LaunchFailed`) the rendered text is kept.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::provision::error::{ProvisionError, RuntimeError};
use crate::cgroups::CgroupError;
use crate::children::ChildStart;
use crate::isolator::StepError;
use crate::launcher;
use crate::spec::ContainerId;

/// Why a launch failed.
#[derive(Debug)]
pub enum LaunchError {
    /// The container is no longer known.
    Vanished(ContainerId),
    /// A checkpoint file could not be written.
    Checkpoint { path: PathBuf, source: io::Error },
    /// The sandbox, its stdout/stderr or the runtime directory (`what`: "create the sandbox",
    /// "create", "chown", "open").
    Path {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The container's cgroup could not be made.
    CreateCgroup(CgroupError),
    /// The container's cgroup v2 directory could not be opened for the clone.
    CgroupDir(CgroupError),
    /// The init could not be moved into the container's cgroup.
    Attach { pid: i32, source: CgroupError },
    /// An isolator's prepare or isolate step.
    Isolator(StepError),
    /// The launcher could not start the container's init.
    Spawn(launcher::LaunchError),
    /// The init's release pipe could not be written.
    Release(io::Error),
    /// An fd of the container could not be registered with the loop.
    Watch(io::Error),
    /// A string for the init (`what`: "the command", "an argument", ...) holds a NUL byte.
    Nul { what: &'static str },
    /// The working directory holds a NUL byte.
    NulCwd,
    /// The command's user is not on this host. Answered as a refusal, its text whole.
    UnknownUser(String),
    /// The command's user could not be looked up.
    UserLookup { name: String, source: io::Error },
    /// What the task runs, or as whom, cannot be made.
    Runtime(RuntimeError),
    /// PROVISIONING (boxed: it is the largest).
    Provision(Box<ProvisionError>),
    /// FETCHING could not begin.
    Fetch(FetchError),
    /// The `prelaunch` hook failed, timed out or answered garbage.
    Hook { hook: PathBuf, why: String },
    /// The task's `CONTAINER_LOGGER_*` settings are bad.
    Logger(String),
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::Vanished(_) => f.write_str("container vanished"),
            LaunchError::Checkpoint { path, source } => {
                write!(f, "Failed to checkpoint {}: {source}", path.display())
            }
            LaunchError::Logger(e) => write!(f, "Invalid container logger settings: {e}"),
            LaunchError::Path { what, path, source } => {
                write!(f, "Failed to {what} {}: {source}", path.display())
            }
            LaunchError::CreateCgroup(e) => {
                write!(f, "Failed to create the container's cgroup: {e}")
            }
            LaunchError::CgroupDir(e) => e.fmt(f),
            LaunchError::Attach { pid, source } => {
                write!(f, "Failed to attach pid {pid} to its cgroup: {source}")
            }
            LaunchError::Isolator(e) => e.fmt(f),
            LaunchError::Spawn(e) => e.fmt(f),
            LaunchError::Release(e) => write!(f, "Failed to release the container's init: {e}"),
            LaunchError::Watch(e) => write!(f, "Failed to watch a container fd: {e}"),
            LaunchError::Nul { what } => write!(f, "{what} contains a NUL byte"),
            LaunchError::NulCwd => f.write_str("the working directory has a NUL byte"),
            LaunchError::UnknownUser(name) => {
                write!(f, "Failed to launch container: unknown user '{name}'")
            }
            LaunchError::UserLookup { name, source } => {
                write!(f, "Failed to look up user '{name}': {source}")
            }
            LaunchError::Runtime(e) => e.fmt(f),
            LaunchError::Provision(e) => e.fmt(f),
            LaunchError::Fetch(e) => e.fmt(f),
            LaunchError::Hook { hook, why } => {
                write!(f, "the hook {} failed: {why}", hook.display())
            }
        }
    }
}

impl std::error::Error for LaunchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LaunchError::Checkpoint { source, .. }
            | LaunchError::Path { source, .. }
            | LaunchError::UserLookup { source, .. } => Some(source),
            LaunchError::Release(e) | LaunchError::Watch(e) => Some(e),
            LaunchError::CreateCgroup(e)
            | LaunchError::CgroupDir(e)
            | LaunchError::Attach { source: e, .. } => Some(e),
            LaunchError::Isolator(e) => Some(e),
            LaunchError::Spawn(e) => Some(e),
            LaunchError::Runtime(e) => Some(e),
            LaunchError::Provision(e) => Some(e.as_ref()),
            LaunchError::Fetch(e) => Some(e),
            LaunchError::Vanished(_)
            | LaunchError::Nul { .. }
            | LaunchError::NulCwd
            | LaunchError::UnknownUser(_)
            | LaunchError::Hook { .. }
            | LaunchError::Logger(_) => None,
        }
    }
}

impl From<StepError> for LaunchError {
    fn from(e: StepError) -> LaunchError {
        LaunchError::Isolator(e)
    }
}

impl From<launcher::LaunchError> for LaunchError {
    fn from(e: launcher::LaunchError) -> LaunchError {
        LaunchError::Spawn(e)
    }
}

impl From<RuntimeError> for LaunchError {
    fn from(e: RuntimeError) -> LaunchError {
        LaunchError::Runtime(e)
    }
}

impl From<ProvisionError> for LaunchError {
    fn from(e: ProvisionError) -> LaunchError {
        LaunchError::Provision(Box::new(e))
    }
}

impl From<FetchError> for LaunchError {
    fn from(e: FetchError) -> LaunchError {
        LaunchError::Fetch(e)
    }
}

/// Why FETCHING failed: what follows "Failed to fetch all URIs for container '<id>': ".
#[derive(Debug)]
pub enum FetchError {
    /// The fetcher could not be started.
    Start(ChildStart),
    /// What the fetcher said about the first URI that failed.
    Uri(String),
    /// The fetcher ended before reporting every URI.
    Incomplete,
    /// Every URI is in; the init's release pipe could not be written.
    Release(io::Error),
    /// Every URI is in; the init's release pipe is gone.
    InitGone,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Start(e) => write!(f, "Failed to start the fetcher: {e}"),
            FetchError::Uri(msg) => f.write_str(msg),
            FetchError::Incomplete => f.write_str("the fetcher ended before fetching every URI"),
            FetchError::Release(e) => write!(f, "Failed to start the task: {e}"),
            FetchError::InitGone => {
                f.write_str("Failed to start the task: the container's init is gone")
            }
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Start(e) => Some(e),
            FetchError::Release(e) => Some(e),
            FetchError::Uri(_) | FetchError::Incomplete | FetchError::InitGone => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ImageProvider;

    #[test]
    fn texts_are_those_the_answers_show() {
        let io = || io::Error::from_raw_os_error(libc::ENOENT);
        let cases: [(LaunchError, &str); 6] = [
            (
                LaunchError::Checkpoint {
                    path: "/w/launch".into(),
                    source: io(),
                },
                "Failed to checkpoint /w/launch: No such file or directory (os error 2)",
            ),
            (
                LaunchError::Path {
                    what: "create the sandbox",
                    path: "/s".into(),
                    source: io(),
                },
                "Failed to create the sandbox /s: No such file or directory (os error 2)",
            ),
            (
                LaunchError::UnknownUser("nobody2".into()),
                "Failed to launch container: unknown user 'nobody2'",
            ),
            (
                LaunchError::Nul {
                    what: "an argument",
                },
                "an argument contains a NUL byte",
            ),
            (
                FetchError::Start(ChildStart::Request(io())).into(),
                "Failed to start the fetcher: No such file or directory (os error 2)",
            ),
            (
                ProvisionError::ProviderOff(ImageProvider::Appc).into(),
                "AppC images are not enabled: --image_providers does not name 'appc'",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
        let e = LaunchError::Release(io());
        assert!(std::error::Error::source(&e).is_some());
    }
}
