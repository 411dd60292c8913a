//! The `mesolite-fetch` subprocess of one run: its request goes in through a file on stdin (so
//! the agent never blocks on a full pipe), its results come back as JSON lines on its stdout
//! (read by the child runner), and its log goes straight into the sandbox's `stderr`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use super::FetchSettings;
use crate::fetcher::protocol::{FetchItem, FetchRequest, Mode};

/// What the request needs beyond the items.
#[derive(Debug)]
pub struct RequestParts<'a> {
    pub sandbox: &'a Path,
    pub cache_directory: &'a Path,
    pub user: Option<&'a str>,
    pub request_file: &'a Path,
}

/// The fetcher's command for `items` (its request written to `parts.request_file`).
pub fn command(
    settings: &FetchSettings,
    mode: Mode,
    items: Vec<FetchItem>,
    parts: &RequestParts<'_>,
) -> io::Result<Command> {
    let request = FetchRequest {
        mode,
        sandbox_directory: parts.sandbox.to_path_buf(),
        cache_directory: parts.cache_directory.to_path_buf(),
        user: parts.user.map(str::to_string),
        frameworks_home: settings.frameworks_home.clone(),
        hadoop_home: settings.hadoop_home.clone(),
        stall_timeout_secs: settings.stall_timeout.as_secs_f64(),
        items,
    };
    let data = serde_json::to_vec(&request).map_err(io::Error::other)?;
    std::fs::write(parts.request_file, data)?;
    let stdin = File::open(parts.request_file)?;
    let stderr = OpenOptions::new()
        .append(true)
        .create(true)
        .open(parts.sandbox.join("stderr"))?;
    let mut command = Command::new(&settings.binary);
    command
        .stdin(Stdio::from(stdin))
        .stderr(Stdio::from(stderr))
        .env_clear()
        .envs(helper_env());
    Ok(command)
}

/// The agent's environment is not its helpers': only what downloads need passes (proxies, CA
/// bundles, PATH for `hadoop`).
pub(in crate::containerizer::mesos) fn helper_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "PATH"
                    | "http_proxy"
                    | "https_proxy"
                    | "ftp_proxy"
                    | "no_proxy"
                    | "HTTP_PROXY"
                    | "HTTPS_PROXY"
                    | "NO_PROXY"
                    | "HADOOP_HOME"
                    | "JAVA_HOME"
                    | "SSL_CERT_FILE"
                    | "SSL_CERT_DIR"
            )
        })
        .collect()
}
