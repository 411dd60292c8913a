//! What the agent sets up before its loop: directories, the API socket, systemd's readiness.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream as StdUnixStream};
use std::path::Path;

use std::net::SocketAddr;

use mio::net::{TcpListener, UnixListener};

use super::AgentError;
use crate::api::{Authenticator, Credentials, CredentialsError, TcpAccess};
use crate::config::Flags;
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

/// What TCP clients may do (`--http_credentials`, `--authenticate_http_*`), when `--port` is
/// given: checked at start, so a bad credentials file stops the agent before it recovers.
pub fn tcp_access(flags: &Flags) -> Result<Option<TcpAccess>, AgentError> {
    if flags.port.is_none() {
        return Ok(None);
    }
    let authenticator = match &flags.http_credentials {
        Some(path) => Some(Authenticator::new(
            Credentials::load(path).map_err(AgentError::Credentials)?,
        )),
        None => {
            for (set, name) in [
                (
                    flags.authenticate_http_readonly,
                    "authenticate_http_readonly",
                ),
                (
                    flags.authenticate_http_readwrite,
                    "authenticate_http_readwrite",
                ),
            ] {
                if set {
                    return Err(AgentError::Credentials(CredentialsError::NeedsCredentials(
                        name,
                    )));
                }
            }
            None
        }
    };
    Ok(Some(TcpAccess {
        authenticator,
        authenticate_readonly: flags.authenticate_http_readonly,
        authenticate_readwrite: flags.authenticate_http_readwrite,
    }))
}

/// Binds `--ip`:`--port`.
pub fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, AgentError> {
    TcpListener::bind(addr).map_err(|e| AgentError::Tcp(addr, e))
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

/// Holds `<work_dir>/meta/agent.lock` for the agent's life: one agent per work_dir. The file
/// names the holder's pid, so a second agent can say who holds it.
pub fn lock_work_dir(work_dir: &Path, proc_dir: &Path) -> Result<fs::File, AgentError> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let meta = work_dir.join("meta");
    ensure_dir(&meta)?;
    let path = meta.join("agent.lock");
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| AgentError::Lock(path.clone(), e.to_string()))?;
    // A dead agent's lock can outlive it for an instant: a container process it had just
    // forked holds a copy until it closes its inherited fds. Wait for that, never for a live agent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match crate::sys::fd::try_lock_exclusive(f.as_raw_fd()) {
            Ok(true) => break,
            Ok(false) => {
                let mut holder = String::new();
                let _ = f.rewind();
                let _ = f.read_to_string(&mut holder);
                let holder = holder.trim().to_string();
                let alive = holder
                    .parse::<i32>()
                    .is_ok_and(|p| proc_dir.join(p.to_string()).exists());
                if alive || std::time::Instant::now() > deadline {
                    return Err(AgentError::Lock(
                        path,
                        format!("another agent (pid {holder}) is using this work_dir"),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(AgentError::Lock(path, e.to_string())),
        }
    }
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = writeln!(f, "{}", crate::sys::getpid());
    Ok(f)
}

/// Compares the host's boot ID with the one checkpointed in `<work_dir>/meta/boot_id` and
/// records the current one: true if the host rebooted since the checkpoints were written.
pub fn check_boot_id(proc_dir: &Path, work_dir: &Path) -> bool {
    let current =
        fs::read_to_string(proc_dir.join("sys/kernel/random/boot_id")).unwrap_or_default();
    let path = work_dir.join("meta").join("boot_id");
    let previous = fs::read_to_string(&path).ok();
    let tmp = path.with_extension("tmp");
    if fs::write(&tmp, current.trim())
        .and_then(|()| fs::rename(&tmp, &path))
        .is_err()
    {
        log::warn!("Failed to record the boot ID in {}", path.display());
    }
    matches!(previous, Some(p) if p.trim() != current.trim() && !current.trim().is_empty())
}

/// Makes the kernel's OOM killer pick tasks before the agent (containers reset it to 0).
/// Half the agent's open-file limit may go to statistics files kept open (the rest is for
/// connections, pipes and pidfds); the limit is left as it is, since containers inherit it.
pub fn budget_stat_files() {
    match crate::sys::rlimit::open_files_soft_limit() {
        Ok(limit) => {
            let files = usize::try_from(limit / 2).unwrap_or(usize::MAX);
            crate::cgroups::set_stat_file_budget(files);
            log::info!(
                "Up to {files} cgroup statistics files are kept open (RLIMIT_NOFILE {limit})"
            );
        }
        Err(e) => log::warn!("Cannot read RLIMIT_NOFILE ({e}); statistics files budget unchanged"),
    }
}

pub fn lower_oom_score(proc_dir: &Path) {
    let path = proc_dir.join("self/oom_score_adj");
    let current: i32 = fs::read_to_string(&path)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // Already lower (systemd's OOMScoreAdjust=-900): keep it.
    if current <= -500 {
        return;
    }
    if let Err(e) = fs::write(&path, "-500") {
        log::warn!("Failed to lower the agent's oom_score_adj from {current}: {e}");
    }
}
