//! `filesystem/linux` with an image: the init builds the container's view of its root
//! filesystem (sandbox, /proc, /sys, /dev) inside its private mount namespace, then switches
//! into it with `pivot_root`, as Mesos's `fs::chroot::enter` does. Runs in the init, in the
//! forked copy of the agent: it may allocate, never return into the agent's code.

use std::ffi::{CStr, CString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::SetupError;
use crate::sys::{mount, process};

/// Parts of /proc the task may read but not write (Mesos's list).
const PROC_READ_ONLY: [&str; 5] = ["bus", "fs", "irq", "sys", "sysrq-trigger"];

/// Paths hidden from the task (Mesos's list): files get /dev/null over them, directories an
/// empty read-only tmpfs.
const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/key-users",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/firmware",
];

/// The host device nodes bind-mounted into the container's fresh `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// What the init needs to enter an image's root filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct RootSwitch {
    /// The provisioned rootfs, as the agent sees it.
    pub rootfs: PathBuf,
    /// The container's sandbox on the host.
    pub sandbox: PathBuf,
    /// Where the sandbox appears inside the rootfs (`--sandbox_directory`), absolute.
    pub sandbox_directory: PathBuf,
}

impl RootSwitch {
    /// Mounts everything into the rootfs, then makes it `/`.
    pub fn enter(&self) -> Result<(), SetupError> {
        let root = &self.rootfs;
        // pivot_root wants the new root to be a mount point (copy's rootfs is a directory).
        bind(root, root)?;
        let sandbox_target = inside(root, &self.sandbox_directory);
        mkdirs(&sandbox_target)?;
        bind(&self.sandbox, &sandbox_target)?;
        let proc_dir = inside(root, Path::new("/proc"));
        mkdirs(&proc_dir)?;
        mount::mount_proc(&cpath(&proc_dir)?).map_err(|e| fail("mount proc at", &proc_dir, e))?;
        let sys = inside(root, Path::new("/sys"));
        mkdirs(&sys)?;
        mount_fs(
            c"sysfs",
            &sys,
            c"sysfs",
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )?;
        self.make_dev()?;
        for name in PROC_READ_ONLY {
            let path = proc_dir.join(name);
            if path.exists() {
                bind(&path, &path)?;
                mount::remount_read_only(&cpath(&path)?)
                    .map_err(|e| fail("make read-only", &path, e))?;
            }
        }
        for masked in MASKED {
            mask(&inside(root, Path::new(masked)))?;
        }
        pivot_into(root)
    }

    fn make_dev(&self) -> Result<(), SetupError> {
        let dev = inside(&self.rootfs, Path::new("/dev"));
        mkdirs(&dev)?;
        mount_fs(
            c"tmpfs",
            &dev,
            c"tmpfs",
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(c"mode=755"),
        )?;
        for name in DEVICES {
            let host = Path::new("/dev").join(name);
            if !host.exists() {
                continue;
            }
            let target = dev.join(name);
            fs::write(&target, b"").map_err(|e| fail("create", &target, e))?;
            bind(&host, &target)?;
        }
        for (link, to) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ] {
            let path = dev.join(link);
            std::os::unix::fs::symlink(to, &path).map_err(|e| fail("create", &path, e))?;
        }
        let pts = dev.join("pts");
        mkdirs(&pts)?;
        mount_fs(
            c"devpts",
            &pts,
            c"devpts",
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(c"newinstance,ptmxmode=0666,mode=0620,gid=5"),
        )?;
        let shm = dev.join("shm");
        mkdirs(&shm)?;
        mount_fs(
            c"tmpfs",
            &shm,
            c"tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(c"mode=1777"),
        )
    }
}

/// Hides `path` if it exists.
fn mask(path: &Path) -> Result<(), SetupError> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => mount_fs(
            c"tmpfs",
            path,
            c"tmpfs",
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some(c"size=0"),
        ),
        Ok(_) => bind(Path::new("/dev/null"), path),
        Err(_) => Ok(()),
    }
}

/// `<root>/<path>` for an absolute container path.
fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn cpath(path: &Path) -> Result<CString, SetupError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SetupError::Nul(path.to_path_buf()))
}

fn fail(op: &str, path: &Path, error: io::Error) -> SetupError {
    SetupError::Path {
        op: op.to_string(),
        path: path.to_path_buf(),
        error,
    }
}

fn mkdirs(path: &Path) -> Result<(), SetupError> {
    fs::create_dir_all(path).map_err(|e| fail("create", path, e))
}

fn bind(source: &Path, target: &Path) -> Result<(), SetupError> {
    mount::bind(&cpath(source)?, &cpath(target)?).map_err(|error| SetupError::Mount {
        source: source.display().to_string(),
        target: target.display().to_string(),
        error,
    })
}

fn mount_fs(
    source: &CStr,
    target: &Path,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> Result<(), SetupError> {
    let t = cpath(target)?;
    mount::mount(source, &t, fstype, flags, data)
        .map_err(|e| fail(&format!("mount {} at", fstype.to_string_lossy()), target, e))
}

/// `chdir(root); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/")`: the old root is
/// stacked under the new one and detached, so nothing needs to be written in the rootfs (the
/// bind backend's is read-only).
fn pivot_into(root: &Path) -> Result<(), SetupError> {
    let r = cpath(root)?;
    process::chdir(&r).map_err(|e| fail("chdir into", root, e))?;
    // "." for both is the documented idiom.
    mount::pivot_root(c".", c".").map_err(|e| fail("pivot_root into", root, e))?;
    // MNT_DETACH lazily removes the old root stacked on ".".
    mount::umount2(c".", true).map_err(|e| fail("detach the old root from", root, e))?;
    process::chdir(c"/").map_err(|e| fail("chdir to / in", root, e))
}
