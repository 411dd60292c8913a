//! Joining another process's namespaces through `/proc/<pid>/ns/*` (setns), for a command run
//! inside a running container: an app's COMMAND health check.
//!
//! Only a single-threaded process may join a mount namespace (the kernel refuses a caller that
//! shares its filesystem state), and joining a pid namespace moves only the children forked
//! after it: the caller (the `health-exec` verb) joins, then forks the command.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cvt;

/// A namespace kind that can be joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Ipc,
    Uts,
    Net,
    Pid,
    Mnt,
}

impl Namespace {
    /// Its file name under `/proc/<pid>/ns/`.
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Net => "net",
            Namespace::Pid => "pid",
            Namespace::Mnt => "mnt",
        }
    }

    fn flag(self) -> libc::c_int {
        match self {
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Uts => libc::CLONE_NEWUTS,
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Pid => libc::CLONE_NEWPID,
            Namespace::Mnt => libc::CLONE_NEWNS,
        }
    }
}

/// A container's namespaces in the order they are joined: the mount namespace last, since
/// joining it changes the root the other paths would be resolved in (all are opened first
/// anyway).
pub const CONTAINER: [Namespace; 5] = [
    Namespace::Ipc,
    Namespace::Uts,
    Namespace::Net,
    Namespace::Pid,
    Namespace::Mnt,
];

/// Why a namespace could not be opened or joined, naming its file.
#[derive(Debug)]
pub enum NsError {
    Open(PathBuf, io::Error),
    Join(PathBuf, io::Error),
}

impl fmt::Display for NsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NsError::Open(path, e) => write!(f, "cannot open {}: {e}", path.display()),
            NsError::Join(path, e) => write!(f, "cannot join {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for NsError {}

/// A process's namespaces, opened (so that joining one does not change where the next is
/// found), those the caller is already in left out.
#[derive(Debug)]
pub struct Opened {
    files: Vec<(Namespace, PathBuf, OwnedFd)>,
}

impl Opened {
    /// Opens `pid`'s namespaces of the kinds in `which` under `proc_root` (`/proc`).
    pub fn open(proc_root: &Path, pid: i32, which: &[Namespace]) -> Result<Opened, NsError> {
        let mut files = Vec::new();
        let own = proc_root.join("self/ns");
        for &ns in which {
            let path = proc_root.join(format!("{pid}/ns/{}", ns.name()));
            let file = File::open(&path).map_err(|e| NsError::Open(path.clone(), e))?;
            if same_file(&file, &own.join(ns.name())) {
                continue;
            }
            files.push((ns, path, OwnedFd::from(file)));
        }
        Ok(Opened { files })
    }

    /// How many namespaces are to be joined (the others the caller shares already).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Joins them, in order.
    pub fn join(self) -> Result<(), NsError> {
        for (ns, path, fd) in self.files {
            // SAFETY: setns takes an open descriptor and a CLONE_NEW* flag and touches no
            // memory of ours; the flag makes the kernel check the file is that kind.
            cvt(unsafe { libc::setns(fd.as_raw_fd(), ns.flag()) })
                .map_err(|e| NsError::Join(path, e))?;
        }
        Ok(())
    }
}

/// Whether `file` is the namespace at `own` (same device and inode).
fn same_file(file: &File, own: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(own)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Makes the process `command` spawns get SIGKILL when the calling process ends. Unlike
/// `process::die_with_parent` it does not check who the parent is afterwards: a child forked
/// into another pid namespace sees its parent as pid 0.
pub fn die_with_parent_across(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, calls only prctl (which is
    // async-signal-safe) and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            cvt(libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ))
            .map(drop)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespaces_are_left_out() {
        let opened = Opened::open(Path::new("/proc"), crate::sys::getpid(), &CONTAINER)
            .expect("open own namespaces");
        assert!(opened.is_empty(), "{opened:?}");
        assert!(opened.join().is_ok());
    }

    #[test]
    fn a_missing_process_names_the_file() {
        let err = Opened::open(Path::new("/proc"), i32::MAX, &CONTAINER).expect_err("no pid");
        let text = err.to_string();
        assert!(
            text.contains(&format!("/proc/{}/ns/ipc", i32::MAX)),
            "{text}"
        );
    }
}
