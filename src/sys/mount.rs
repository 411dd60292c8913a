//! Mounts done inside a container's fresh mount namespace: propagation, /proc, volumes, tmpfs.

use std::ffi::CStr;
use std::io;
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
