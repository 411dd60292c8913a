//! Mounts: those done inside a container's fresh mount namespace (propagation, /proc, volumes,
//! tmpfs, pivot_root) and the provisioner's (overlay and bind rootfses, unmounts).

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

/// No source, type or data (a propagation change, a bind, a remount).
const NONE: Option<&CStr> = None;

/// Makes every mount below `/` a slave, so that what the container mounts never propagates back
/// to the host while host mounts still reach the container (what Mesos does).
pub fn make_root_rslave() -> io::Result<()> {
    nix::mount::mount(NONE, c"/", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)?;
    Ok(())
}

/// Mounts a fresh procfs on `target`, so that a new pid namespace sees only its own processes.
pub fn mount_proc(target: &CStr) -> io::Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    nix::mount::mount(Some(c"proc"), target, Some(c"proc"), flags, NONE)?;
    Ok(())
}

/// Bind-mounts `source` (recursively) onto `target`.
pub fn bind(source: &CStr, target: &CStr) -> io::Result<()> {
    nix::mount::mount(
        Some(source),
        target,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )?;
    Ok(())
}

/// Makes the bind mount at `target` read-only (a bind mount takes flags only on a remount).
pub fn remount_read_only(target: &CStr) -> io::Result<()> {
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    nix::mount::mount(NONE, target, NONE, flags, NONE)?;
    Ok(())
}

/// Mounts a fresh tmpfs on `target` with `data` options (e.g. `size=64m,mode=1777`).
pub fn mount_tmpfs(target: &CStr, data: &CStr) -> io::Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    nix::mount::mount(Some(c"tmpfs"), target, Some(c"tmpfs"), flags, Some(data))?;
    Ok(())
}

/// mount(2) with every argument given: `data` NULL when `None`.
pub fn mount(
    source: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let flags = MsFlags::from_bits_retain(flags);
    nix::mount::mount(Some(source), target, Some(fstype), flags, data)?;
    Ok(())
}

/// Mounts a cgroup v1 hierarchy of `subsystem` on `target` (agent start, before any container).
pub fn mount_cgroup_v1(target: &Path, subsystem: &str) -> io::Result<()> {
    let target = c_path(target)?;
    let data = CString::new(subsystem).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    nix::mount::mount(
        Some(c"cgroup"),
        target.as_c_str(),
        Some(c"cgroup"),
        flags,
        Some(data.as_c_str()),
    )?;
    Ok(())
}

/// Mounts an overlay filesystem on `target` with `options` (`lowerdir=...,upperdir=...`).
pub fn mount_overlay(target: &Path, options: &str) -> io::Result<()> {
    let target = c_path(target)?;
    let data = CString::new(options)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in mount options"))?;
    mount(c"overlay", &target, c"overlay", 0, Some(&data))
}

/// Bind-mounts `source` on `target` (not recursively), then makes that mount read-only (a bind
/// mount ignores `MS_RDONLY` until remounted); the bind is undone if the remount fails.
pub fn bind_mount_readonly(source: &Path, target: &Path) -> io::Result<()> {
    let source = c_path(source)?;
    let target = c_path(target)?;
    nix::mount::mount(Some(&*source), &*target, NONE, MsFlags::MS_BIND, NONE)?;
    let remounted = remount_read_only(&target);
    if remounted.is_err() {
        let _ = umount2(&target, true);
    }
    remounted
}

/// `umount2(target, MNT_DETACH if detach)`.
pub fn unmount(target: &Path, detach: bool) -> io::Result<()> {
    umount2(&c_path(target)?, detach)
}

/// `umount2(target, MNT_DETACH if detach)`, for a prepared C string (no allocation).
pub fn umount2(target: &CStr, detach: bool) -> io::Result<()> {
    let flags = if detach {
        MntFlags::MNT_DETACH
    } else {
        MntFlags::empty()
    };
    nix::mount::umount2(target, flags)?;
    Ok(())
}

/// pivot_root(2): `new_root` becomes `/`, the old root is stacked on `put_old`.
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    nix::unistd::pivot_root(new_root, put_old)?;
    Ok(())
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Bind-mounts `source` on `target` (not recursively): a namespace file (`/proc/<pid>/ns/net`)
/// on an empty file keeps that namespace alive and nameable.
pub fn bind_path(source: &Path, target: &Path) -> io::Result<()> {
    let source = c_path(source)?;
    let target = c_path(target)?;
    nix::mount::mount(Some(&*source), &*target, NONE, MsFlags::MS_BIND, NONE)?;
    Ok(())
}

/// Makes `dir` a shared mount of its own (bound on itself first if it is no mount point), so
/// that unmounting below it reaches the copies other mount namespaces took of it.
pub fn make_shared_mount(dir: &Path) -> io::Result<()> {
    let dir = c_path(dir)?;
    let shared = || nix::mount::mount(NONE, &*dir, NONE, MsFlags::MS_SHARED, NONE);
    match shared() {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            nix::mount::mount(Some(&*dir), &*dir, NONE, MsFlags::MS_BIND, NONE)?;
            shared()?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
