//! The parent's side of a launch: everything the child needs is prepared here, before the
//! clone, so that the child allocates nothing and cannot fail for want of memory.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::{init, LaunchError};
use crate::sys::fd;
use crate::sys::process::{self, CStringArray, Cloned};

/// Everything the child needs, prepared by the containerizer.
#[derive(Debug)]
pub struct LaunchSpec {
    /// CLONE_NEW* flags (0 for the posix launcher).
    pub namespaces: u64,
    /// Mount a fresh /proc (with a pid namespace, which needs a mount namespace too).
    pub mount_proc: bool,
    pub hostname: Option<CString>,
    /// The program to exec: a path, or a bare name searched in `search_path`.
    pub program: CString,
    pub search_path: Vec<CString>,
    pub argv: CStringArray,
    pub envp: CStringArray,
    pub cwd: CString,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// uid, gid, supplementary groups.
    pub user: Option<(u32, u32, Vec<u32>)>,
    /// The container's cgroup v2 directory, to be born in (CLONE_INTO_CGROUP).
    pub cgroup_fd: Option<OwnedFd>,
    /// The container's runtime directory, where the init records the task's exit.
    pub runtime_dir: OwnedFd,
    /// What isolators asked the child to do before exec.
    pub child: super::ChildSetup,
    /// The init's command line as `ps` shows it (`mesolite-init <container id>`).
    pub title: String,
}

/// The parent's handles on a cloned container.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
    /// Readable end of the exec report pipe: EOF alone means the task exec'd; bytes are an
    /// `ExecReport` of why it could not.
    pub exec_report: OwnedFd,
    /// Held until the child may go on (after a v1 cgroup attach); dropping it releases it.
    pub release: Option<OwnedFd>,
    pub in_cgroup: bool,
}

/// Why a task could not be exec'd, as the child reports it through the exec pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecReport {
    pub message: String,
}

impl ExecReport {
    /// Parses what the child wrote; `None` for an empty read (the task exec'd).
    pub fn parse(bytes: &[u8]) -> Option<ExecReport> {
        if bytes.is_empty() {
            return None;
        }
        Some(ExecReport {
            message: String::from_utf8_lossy(bytes).trim_end().to_string(),
        })
    }
}

/// Clones the container's init. The child waits on the release pipe if the caller has cgroups
/// to attach it to (`wait_release`), then sets up and forks the task.
pub fn spawn(spec: LaunchSpec, wait_release: bool) -> Result<Spawned, LaunchError> {
    let (report_r, report_w) = fd::pipe(true).map_err(LaunchError::Pipe)?;
    let (release_r, release_w) = fd::pipe(false).map_err(LaunchError::Pipe)?;
    let cgroup_raw: Option<RawFd> = spec.cgroup_fd.as_ref().map(|f| f.as_raw_fd());
    let flags = spec.namespaces;
    let release = if wait_release { Some(release_r) } else { None };
    // The closure owns the child's ends and the spec (with the cgroup fd), so the parent's
    // copies close when clone_child drops it; the parent's ends (report_r, release_w) are
    // closed in the child by the init's close_all_except.
    let Cloned {
        pid,
        pidfd,
        in_cgroup,
    } = process::clone_child(flags, cgroup_raw, move || {
        init::run(spec, release, report_w)
    })
    .map_err(|err| LaunchError::Clone { flags, err })?;
    Ok(Spawned {
        pid,
        pidfd,
        exec_report: report_r,
        release: if wait_release { Some(release_w) } else { None },
        in_cgroup,
    })
}

/// Lets a child waiting on its release pipe go on.
pub fn release(spawned: &mut Spawned) -> Result<(), LaunchError> {
    if let Some(w) = spawned.release.take() {
        fd::write_all(w.as_raw_fd(), b"1").map_err(|err| LaunchError::Release {
            pid: spawned.pid,
            err,
        })?;
    }
    Ok(())
}
