//! The system calls under a NETLINK_ROUTE socket and a network namespace switch. None of them
//! allocates: the container's init uses them to bring up its loopback.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::sys::{cvt, cvt_retry};

/// A `sockaddr_nl` naming the kernel (port id 0), or, for bind, "assign me a port id".
fn kernel_addr() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value (the kernel's address)
    // before the family is set.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr
}

const ADDR_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;

/// A NETLINK_ROUTE socket in the calling thread's network namespace, close-on-exec.
pub fn socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes integer arguments only.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: `fd` was just returned by socket and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds to a port id of the kernel's choosing, in no multicast group: only answers to our
/// own requests arrive.
pub fn bind(fd: BorrowedFd<'_>) -> io::Result<()> {
    let addr = kernel_addr();
    // SAFETY: `addr` is a valid sockaddr_nl of ADDR_LEN bytes that outlives the call.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::addr_of!(addr).cast::<libc::sockaddr>(),
            ADDR_LEN,
        )
    })?;
    Ok(())
}

/// SO_RCVTIMEO: a recv waits at most `timeout`.
pub fn set_recv_timeout(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
    };
    // SAFETY: `tv` is a valid timeval whose size is passed; it outlives the call.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::addr_of!(tv).cast::<libc::c_void>(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Sends one request to the kernel, whole.
pub fn send(fd: BorrowedFd<'_>, msg: &[u8]) -> io::Result<()> {
    let addr = kernel_addr();
    // SAFETY: `msg` is a valid slice of msg.len() bytes and `addr` a valid sockaddr_nl; both
    // outlive the call.
    let n = cvt_retry(|| unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr().cast::<libc::c_void>(),
            msg.len(),
            0,
            std::ptr::addr_of!(addr).cast::<libc::sockaddr>(),
            ADDR_LEN,
        )
    })?;
    if usize::try_from(n).ok() != Some(msg.len()) {
        return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
    }
    Ok(())
}

/// Receives one datagram into `buf`: its full length (larger than `buf` when it was cut,
/// MSG_TRUNC) and the sender's port id (0 for the kernel).
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, u32)> {
    let mut addr = kernel_addr();
    let mut addr_len = ADDR_LEN;
    // SAFETY: `buf` is valid for buf.len() writable bytes; `addr`/`addr_len` are a valid
    // sockaddr_nl and its size, written by the kernel; all outlive the call.
    let n = cvt_retry(|| unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::c_void>(),
            buf.len(),
            libc::MSG_TRUNC,
            std::ptr::addr_of_mut!(addr).cast::<libc::sockaddr>(),
            &mut addr_len,
        )
    })?;
    let n = usize::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EIO))?;
    Ok((n, addr.nl_pid))
}

/// Opens a namespace file (`/proc/<pid>/ns/net`, a bind mount of one) read-only.
pub fn open_ns(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a valid C string; open does not keep it.
    let fd = cvt_retry(|| unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by open and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Moves the calling thread into the network namespace `ns` (an open namespace file).
pub fn enter_netns(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns takes a descriptor and a flag; EINVAL when `ns` is not a netns file.
    cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}
