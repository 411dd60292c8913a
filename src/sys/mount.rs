//! Mounts done inside a container's fresh mount namespace.

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
