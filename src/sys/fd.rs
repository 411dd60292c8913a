//! File descriptors: pipes, flags, dup, closing everything a forked child must not keep.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt, cvt_retry};

/// A pipe whose both ends are close-on-exec; `nonblocking` applies to both ends.
pub fn pipe(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    let flags = libc::O_CLOEXEC | if nonblocking { libc::O_NONBLOCK } else { 0 };
    // SAFETY: `fds` is a valid array of two ints that pipe2 fills on success.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) })?;
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Asks the kernel for a pipe buffer of `bytes` (rounded up to pages; capped by
/// /proc/sys/fs/pipe-max-size for unprivileged callers): what the pipe holds before its writer
/// blocks. Returns the size granted.
pub fn set_pipe_size(fd: RawFd, bytes: usize) -> io::Result<usize> {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: F_SETPIPE_SZ only resizes the pipe's buffer; a non-pipe fd gives EBADF/EINVAL.
    let got = cvt(unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, want) })?;
    Ok(got.unsigned_abs() as usize)
}

/// Moves up to `len` bytes from the pipe `from` to the current position of `to` (a regular
/// file not opened O_APPEND, which splice refuses) without copying them through user space;
/// retried on EINTR. `Ok(0)`: the pipe's writers are all gone and it is empty.
pub fn splice_to(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: null offsets make splice use and advance both files' positions; nothing is
    // read from or written to our memory.
    let n = cvt_retry(|| unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE,
        )
    })?;
    Ok(n.unsigned_abs())
}

/// Sets or clears O_NONBLOCK.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL on any fd is harmless; an invalid fd gives EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above, with flags derived from the current ones.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) })?;
    Ok(())
}

/// Clears FD_CLOEXEC so that `fd` survives an exec.
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD with 0 only changes the descriptor flags of `fd`.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) })?;
    Ok(())
}

/// dup2, retried on EINTR. The new descriptor does not have FD_CLOEXEC.
pub fn dup2(old: RawFd, new: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only manipulates the descriptor table.
    cvt_retry(|| unsafe { libc::dup2(old, new) })?;
    Ok(())
}

/// Duplicates `fd` to the lowest free number at or above `min`, close-on-exec.
pub fn dup_at_least(fd: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: F_DUPFD_CLOEXEC only manipulates the descriptor table.
    cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

/// Reads into `buf`, retrying EINTR. `Ok(0)` is end of file.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = cvt_retry(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })?;
    Ok(n.unsigned_abs())
}

/// One write of `buf` (retrying EINTR): how much was written; EAGAIN on a full non-blocking fd.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = cvt_retry(|| unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })?;
    Ok(n.unsigned_abs())
}

/// Writes all of `buf`, retrying EINTR and short writes.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        let n = cvt_retry(|| unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })?;
        buf = &buf[n.unsigned_abs()..];
    }
    Ok(())
}

/// Waits up to `timeout_ms` (negative: forever) for `fd` to be readable (or at its end).
pub fn poll_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd for the whole call.
    let n = cvt_retry(|| unsafe { libc::poll(&mut pfd, 1, timeout_ms) })?;
    Ok(n > 0)
}

/// Closes every descriptor of this process except those in `keep` (which must be sorted).
/// Used in a freshly forked child, which inherited the agent's sockets.
pub fn close_all_except(keep: &[RawFd]) {
    let mut next: u32 = 0;
    for &k in keep {
        let k = k.unsigned_abs();
        if k > next {
            close_range(next, k - 1);
        }
        next = k + 1;
    }
    close_range(next, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: close_range only closes descriptors; the caller is a single-threaded child that
    // owns no Rust objects referring to them.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if ret == 0 {
        return;
    }
    // Kernels before 5.9: close one by one up to the soft limit.
    let limit = max_fd().min(last);
    for fd in first..=limit {
        // SAFETY: as above; closing a descriptor that is not open gives EBADF, ignored.
        unsafe { libc::close(fd as libc::c_int) };
    }
}

fn max_fd() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
    u32::try_from(n).unwrap_or(65536).min(1 << 20)
}

/// An fd as raw, for token plumbing.
pub fn raw(fd: &OwnedFd) -> RawFd {
    fd.as_raw_fd()
}

/// Writes `data` to `<dir>/<name>` atomically: a temporary file renamed over it, so a reader
/// (or an agent recovering after a crash) sees the old content or the new, never a torn one.
pub fn write_file_at(
    dir: RawFd,
    name: &std::ffi::CStr,
    tmp: &std::ffi::CStr,
    data: &[u8],
) -> io::Result<()> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
    // SAFETY: `tmp` is a valid C string; mode applies as O_CREAT is given.
    let fd = cvt_retry(|| unsafe { libc::openat(dir, tmp.as_ptr(), flags, 0o644) })?;
    let written = write_all(fd, data);
    // SAFETY: `fd` was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    written?;
    // SAFETY: both names are valid C strings relative to the open directory `dir`.
    cvt(unsafe { libc::renameat(dir, tmp.as_ptr(), dir, name.as_ptr()) })?;
    Ok(())
}

/// Takes an exclusive advisory lock on `fd` without waiting: `Ok(false)` if another process
/// holds it.
pub fn try_lock_exclusive(fd: RawFd) -> io::Result<bool> {
    // SAFETY: flock only takes integers.
    match cvt(unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}
