//! Unix-socket credentials and ownership of the API socket.

use std::ffi::CString;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::socket::{getsockopt, sockopt};

use super::cvt;

/// The peer of a connected unix socket, from SO_PEERCRED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// Reads SO_PEERCRED of a connected unix socket.
pub fn peer_cred(fd: &impl AsFd) -> io::Result<PeerCred> {
    let cred = getsockopt(fd, sockopt::PeerCredentials)?;
    Ok(PeerCred {
        pid: cred.pid(),
        uid: cred.uid(),
        gid: cred.gid(),
    })
}

/// chown(2) by path; `None` leaves that id unchanged.
pub fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid C string; u32::MAX (-1) means "unchanged".
    cvt(unsafe { libc::chown(c.as_ptr(), uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX)) })?;
    Ok(())
}
