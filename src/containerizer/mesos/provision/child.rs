//! A `mesolite-fetch` child in pull or provision mode: the request goes in through a file on
//! stdin (the agent never blocks on a full pipe), JSON lines come back on its stdout, read by
//! the child runner.

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// The command of `binary` with `request` (written to `request_file`, which is unlinked once
/// open) on its stdin; its stderr is the agent's (its log lines land in the agent's log).
pub fn command(
    binary: &Path,
    request: &impl serde::Serialize,
    request_file: &Path,
) -> io::Result<Command> {
    let data = serde_json::to_vec(request).map_err(io::Error::other)?;
    if let Some(dir) = request_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(request_file, data)?;
    let stdin = File::open(request_file)?;
    let _ = std::fs::remove_file(request_file);
    let mut command = Command::new(binary);
    command
        .stdin(Stdio::from(stdin))
        .stderr(Stdio::inherit())
        .env_clear()
        .envs(crate::containerizer::mesos::fetch::helper_env());
    Ok(command)
}
