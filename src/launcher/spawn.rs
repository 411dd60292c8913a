//! The parent's side of a launch: everything the child needs is prepared here, before the
//! clone, so that the child allocates nothing and cannot fail for want of memory.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::OnceLock;

use super::{init, LaunchError};
use crate::cgroups::ProcsFile;
use crate::sys::fd;
use crate::sys::process::{self, ArgvArea, CStringArray, Cloned};

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
    /// The container's `cgroup.procs` in each cgroup v1 hierarchy: the init writes itself into
    /// them before anything else, so that the write's wait is not the agent's.
    pub cgroup_procs: Vec<ProcsFile>,
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
    /// Held until the child may go on (its pid checkpointed, its URIs fetched); closing it
    /// without a write aborts the launch.
    pub release: Option<OwnedFd>,
    /// The child is in its cgroup(s) before it runs anything of the container: born there (v2,
    /// CLONE_INTO_CGROUP) or moving itself there first (v1, `cgroup_procs`). False only on a v2
    /// kernel without CLONE_INTO_CGROUP (before 5.7): the caller attaches it then.
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

/// Clones the container's init, which moves itself into its v1 cgroups, then waits on the
/// release pipe before it sets up and forks the task. `proc_dir` is this agent's proc root.
pub fn spawn(spec: LaunchSpec, proc_dir: &Path) -> Result<Spawned, LaunchError> {
    // The init is a clone of this process: its argv lies where ours does.
    static ARGV: OnceLock<Option<ArgvArea>> = OnceLock::new();
    let argv = *ARGV.get_or_init(|| process::argv_area(proc_dir));
    let (report_r, report_w) = fd::pipe(true).map_err(LaunchError::Pipe)?;
    let (release_r, release_w) = fd::pipe(false).map_err(LaunchError::Pipe)?;
    let cgroup_raw: Option<RawFd> = spec.cgroup_fd.as_ref().map(|f| f.as_raw_fd());
    let self_attach = !spec.cgroup_procs.is_empty();
    let flags = spec.namespaces;
    // The closure owns the child's ends and the spec (with the cgroup fds), so the parent's
    // copies close when clone_child drops it; the parent's ends (report_r, release_w) are
    // closed in the child by the init's close_all_except.
    let Cloned {
        pid,
        pidfd,
        in_cgroup,
    } = process::clone_child(flags, cgroup_raw, move || {
        init::run(spec, argv, release_r, report_w)
    })
    .map_err(|err| LaunchError::Clone { flags, err })?;
    Ok(Spawned {
        pid,
        pidfd,
        exec_report: report_r,
        release: Some(release_w),
        in_cgroup: in_cgroup || self_attach,
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
