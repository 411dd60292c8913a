//! Kernel notification fds the loop can wait on: eventfd (cgroup v1 OOM and memory pressure
//! events), inotify (cgroup v2 `memory.events`) and PSI triggers (cgroup v2 memory pressure).

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

/// Reads and discards whatever is pending on a non-blocking fd; whether there was anything.
pub fn drain(fd: RawFd) -> bool {
    let mut buf = [0u8; 512];
    let mut any = false;
    // SAFETY: `buf` is valid for writes of its length; the fd is non-blocking.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        any = true;
    }
    any
}

/// The count of a non-blocking eventfd, which reading resets; 0 when nothing was signalled.
pub fn read_eventfd(fd: RawFd) -> u64 {
    let mut count = [0u8; 8];
    // SAFETY: `count` is valid for writes of 8 bytes, the size an eventfd read takes; the fd
    // is non-blocking, so this returns -1 (EAGAIN) rather than wait when the count is 0.
    let n = unsafe { libc::read(fd, count.as_mut_ptr().cast(), count.len()) };
    if n == 8 {
        u64::from_ne_bytes(count)
    } else {
        0
    }
}
