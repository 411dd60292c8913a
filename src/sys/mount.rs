//! Mounts: those done inside a container's fresh mount namespace (propagation, /proc, volumes,
//! tmpfs, pivot_root) and the provisioner's (overlay and bind rootfses, unmounts).

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use super::cvt;

/// Makes every mount below `/` a slave, so that what the container mounts never propagates back
/// to the host while host mounts still reach the container (what Mesos does).
pub fn make_root_rslave() -> io::Result<()> {
    // SAFETY: the path is a valid C string; NULL source/fstype/data are allowed for a
    // propagation change.
    cvt(unsafe {
        libc::mount(
            ptr::null(),
            c"/".as_ptr(),
            ptr::null(),
            libc::MS_SLAVE | libc::MS_REC,
            ptr::null(),
        )
    })?;
    Ok(())
}

/// Mounts a fresh procfs on `target`, so that a new pid namespace sees only its own processes.
pub fn mount_proc(target: &CStr) -> io::Result<()> {
    // SAFETY: all strings are valid NUL-terminated C strings; data is NULL.
    cvt(unsafe {
        libc::mount(
            c"proc".as_ptr(),
            target.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            ptr::null(),
        )
    })?;
    Ok(())
}

/// Bind-mounts `source` (recursively) onto `target`.
pub fn bind(source: &CStr, target: &CStr) -> io::Result<()> {
    // SAFETY: both are valid C strings; fstype and data may be NULL for a bind mount.
    cvt(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            ptr::null(),
        )
    })?;
    Ok(())
}

/// Makes the bind mount at `target` read-only (a bind mount takes flags only on a remount).
pub fn remount_read_only(target: &CStr) -> io::Result<()> {
    // SAFETY: `target` is a valid C string; source, fstype and data may be NULL for a remount.
    cvt(unsafe {
        libc::mount(
            ptr::null(),
            target.as_ptr(),
            ptr::null(),
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
            ptr::null(),
        )
    })?;
    Ok(())
}

/// Mounts a fresh tmpfs on `target` with `data` options (e.g. `size=64m,mode=1777`).
pub fn mount_tmpfs(target: &CStr, data: &CStr) -> io::Result<()> {
    // SAFETY: all strings are valid NUL-terminated C strings.
    cvt(unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    })?;
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
    let data_ptr = data.map_or(ptr::null(), |d| d.as_ptr().cast());
    // SAFETY: every string is a valid NUL-terminated C string that outlives the call; data is
    // NULL or such a string.
    cvt(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data_ptr,
        )
    })?;
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
    // SAFETY: valid C strings; NULL fstype and data are allowed for bind mounts.
    cvt(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            ptr::null(),
            libc::MS_BIND,
            ptr::null(),
        )
    })?;
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
    let flags = if detach { libc::MNT_DETACH } else { 0 };
    // SAFETY: `target` is a valid C string.
    cvt(unsafe { libc::umount2(target.as_ptr(), flags) })?;
    Ok(())
}

/// pivot_root(2): `new_root` becomes `/`, the old root is stacked on `put_old`.
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: pivot_root takes two valid C strings and reads nothing else.
    cvt(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })?;
    Ok(())
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}
