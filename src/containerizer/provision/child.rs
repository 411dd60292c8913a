//! A `mesolite-fetch` child in pull or provision mode: the request goes in through a file on
//! stdin (the agent never blocks on a full pipe), JSON lines come back on a non-blocking stdout.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running helper and what it has written so far.
#[derive(Debug)]
pub struct LineChild {
    pub child: Child,
    pub stdout: ChildStdout,
    buf: Vec<u8>,
}

/// Starts `binary` with `request` (written to `request_file`) on its stdin; its stderr is the
/// agent's (its log lines land in the agent's log).
pub fn spawn(
    binary: &Path,
    request: &impl serde::Serialize,
    request_file: &Path,
) -> io::Result<LineChild> {
    let data = serde_json::to_vec(request).map_err(io::Error::other)?;
    if let Some(dir) = request_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(request_file, data)?;
    let stdin = File::open(request_file)?;
    let mut command = Command::new(binary);
    crate::sys::process::die_with_parent(&mut command);
    let mut child = command
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env_clear()
        .envs(crate::containerizer::fetch::helper_env())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", binary.display())))?;
    let _ = std::fs::remove_file(request_file);
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout pipe"))?;
    crate::sys::fd::set_nonblocking(stdout.as_raw_fd(), true)?;
    Ok(LineChild {
        child,
        stdout,
        buf: Vec::new(),
    })
}

impl LineChild {
    /// The complete lines available now, and whether stdout reached its end.
    pub fn read_lines(&mut self) -> (Vec<String>, bool) {
        crate::containerizer::lines::read_lines(&mut self.stdout, &mut self.buf)
    }
}
