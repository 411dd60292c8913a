//! Kernel notification fds the loop can wait on: eventfd (cgroup v1 OOM events) and inotify
//! (cgroup v2 `memory.events`).

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::cvt;

/// A non-blocking, close-on-exec eventfd.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes integers and returns a new fd or -1.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An inotify fd watching `path` for modifications.
pub fn watch_modify(path: &Path) -> io::Result<OwnedFd> {
    // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
    let fd = cvt(unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) })?;
    // SAFETY: a fresh fd owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid C string; fd is the inotify fd just made.
    cvt(unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_MODIFY) })?;
    Ok(owned)
}

/// Reads and discards whatever is pending on a non-blocking fd.
pub fn drain(fd: RawFd) {
    let mut buf = [0u8; 512];
    // SAFETY: `buf` is valid for writes of its length; the fd is non-blocking.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}
