//! What the agent sets up before its loop: directories, the API socket, systemd's readiness.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream as StdUnixStream};
use std::path::Path;

use mio::net::UnixListener;

use super::AgentError;
use crate::sys::socket::chown;
use crate::sys::user::lookup_group;

/// Creates a directory and its parents.
pub fn ensure_dir(path: &Path) -> Result<(), AgentError> {
    fs::create_dir_all(path).map_err(|e| AgentError::Dir(path.to_path_buf(), e))
}

/// Binds the API socket: mode 0660, owner root, group `group`. A socket left by a dead agent is
/// replaced; one a live agent answers on is an error.
pub fn bind_socket(path: &Path, group: Option<&str>) -> Result<UnixListener, AgentError> {
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    if path.exists() {
        if StdUnixStream::connect(path).is_ok() {
            return Err(AgentError::SocketInUse(path.to_path_buf()));
        }
        fs::remove_file(path).map_err(|e| AgentError::Socket(path.to_path_buf(), e))?;
    }
    let listener =
        UnixListener::bind(path).map_err(|e| AgentError::Socket(path.to_path_buf(), e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .map_err(|e| AgentError::Socket(path.to_path_buf(), e))?;
    if let Some(g) = group {
        let gid = match lookup_group(g) {
            Ok(Some(gid)) => gid,
            Ok(None) => return Err(AgentError::UnknownGroup(g.to_string())),
            Err(e) => return Err(AgentError::Socket(path.to_path_buf(), e)),
        };
        chown(path, None, Some(gid)).map_err(|e| AgentError::Socket(path.to_path_buf(), e))?;
    }
    Ok(listener)
}

/// Tells systemd the agent is ready (`Type=notify`), without libsystemd: one datagram on
/// `$NOTIFY_SOCKET` (a path, or an abstract name starting with '@').
pub fn notify_ready() -> io::Result<()> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let msg = format!("READY=1\nMAINPID={}\n", crate::sys::getpid());
    let sock = UnixDatagram::unbound()?;
    let bytes = target.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(msg.as_bytes(), &addr)?;
    } else {
        sock.send_to(msg.as_bytes(), Path::new(&target))?;
    }
    Ok(())
}
