//! Container loggers (Mesos's `--container_logger`): where a task's stdout and stderr go.
//!
//! * `sandbox` (the default): straight into `<sandbox>/stdout` and `<sandbox>/stderr`.
//! * `logrotate` (Mesos's `LogrotateContainerLogger`): each stream is a pipe drained by a small
//!   process of its own, `mesolite logrotate-logger` (Mesos's `mesos-logrotate-logger`), which
//!   appends to the sandbox file and rotates it at `max_size` keeping `rotate` old files
//!   (rotate.rs). The logger is not the loop's work: a chatty task would otherwise take the
//!   agent's one thread, and a logger that is its own process outlives an agent restart with
//!   the pipe's read end, so a restart loses nothing the task wrote (README "Task logs").
//!
//! The logger ends when every writer of the pipe is gone (the container's processes), after
//! writing everything they wrote. It runs in its own process group, so a signal to the agent's
//! group (a terminal's Ctrl-C) does not take it down with the agent.

mod drain;
pub mod rotate;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::config::Bytes;
pub use rotate::{rotated_name, RotatingFile, Rotation};

/// The verb of the logger process: `mesolite logrotate-logger --log_filename=... ...`.
pub const VERB: &str = "logrotate-logger";

/// Smallest `max_size` (Mesos asks for at least a page).
pub const MIN_SIZE: u64 = 4096;

/// What the pipe between a task and its logger holds before the task's writes wait: the
/// most a stalled logger holds up, and few enough wake-ups for the logger at full speed.
pub const PIPE_SIZE: usize = 1024 * 1024;

/// Per-task overrides, read from the task's environment as Mesos does: the prefix and the
/// agent flag's name in capitals (`CONTAINER_LOGGER_LOGROTATE_MAX_STDOUT_SIZE=2MB`,
/// `CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS=rotate 3`).
pub const ENV_PREFIX: &str = "CONTAINER_LOGGER_";

/// The logrotate logger's agent-wide bounds, and the binary that runs as the logger.
#[derive(Debug, Clone, PartialEq)]
pub struct LogrotateSettings {
    pub stdout: Rotation,
    pub stderr: Rotation,
    pub binary: PathBuf,
}

impl LogrotateSettings {
    /// The bounds of a task's stdout and stderr: the agent's, changed by the task's
    /// `CONTAINER_LOGGER_*` variables. A bad value is the launch's error (as in Mesos).
    pub fn for_task(&self, env: &[(String, String)]) -> Result<(Rotation, Rotation), String> {
        let get = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k.strip_prefix(ENV_PREFIX) == Some(name))
                .map(|(_, v)| v.as_str())
        };
        let one = |base: Rotation, stream: &str| -> Result<Rotation, String> {
            let mut r = base;
            let size_var = format!("LOGROTATE_MAX_{stream}_SIZE");
            if let Some(v) = get(&size_var) {
                r.max_size = parse_size(v).map_err(|e| format!("{ENV_PREFIX}{size_var}: {e}"))?;
            }
            let opts_var = format!("LOGROTATE_{stream}_OPTIONS");
            if let Some(v) = get(&opts_var) {
                if let Some(n) =
                    parse_options(v).map_err(|e| format!("{ENV_PREFIX}{opts_var}: {e}"))?
                {
                    r.keep = n;
                }
            }
            Ok(r)
        };
        Ok((one(self.stdout, "STDOUT")?, one(self.stderr, "STDERR")?))
    }
}

/// A `max_size`: Mesos's byte sizes (`10MB`), at least [`MIN_SIZE`].
pub fn parse_size(text: &str) -> Result<u64, String> {
    let b = Bytes::parse(text).map_err(|e| e.to_string())?;
    if b.0 < MIN_SIZE {
        return Err(format!(
            "'{text}' is less than the smallest size, {MIN_SIZE}B"
        ));
    }
    Ok(b.0)
}

/// logrotate options: only `rotate N` means something here (the files are rotated by the
/// logger, not by logrotate); anything else is refused rather than silently ignored.
pub fn parse_options(text: &str) -> Result<Option<u32>, String> {
    let mut keep = None;
    for line in text
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("rotate"), Some(n), None) => {
                keep = Some(
                    n.parse::<u32>()
                        .map_err(|_| format!("'rotate {n}': expected a count"))?,
                );
            }
            _ => return Err(format!("'{line}': only 'rotate N' is understood")),
        }
    }
    Ok(keep)
}

/// Starts the logger of the stream kept in `path` and gives the pipe's write end, which the
/// task gets as that stream. The caller reaps the logger's [`Child`] (it may outlive the
/// caller).
pub fn start(binary: &Path, path: &Path, rotation: Rotation) -> io::Result<(OwnedFd, Child)> {
    let (read, write) = crate::sys::fd::pipe(false)?;
    // Smaller is fine (an unprivileged agent is capped by fs/pipe-max-size).
    let _ = crate::sys::fd::set_pipe_size(write.as_raw_fd(), PIPE_SIZE);
    let child = Command::new(binary)
        .arg(VERB)
        .arg(format!("--log_filename={}", path.display()))
        .arg(format!("--max_size={}", rotation.max_size))
        .arg(format!("--rotate={}", rotation.keep))
        .stdin(Stdio::from(read))
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok((write, child))
}

/// The logger process: stdin to the rotating file until every writer is gone. A write that
/// fails (a full disk) drops that piece, said once on stderr, and reading goes on: the task
/// never waits on a logger that cannot write.
pub fn run(args: &[String]) -> i32 {
    let (path, rotation) = match parse_args(args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("mesolite {VERB}: {e}");
            return 2;
        }
    };
    let mut out = match RotatingFile::open(&path, rotation) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mesolite {VERB}: {}: {e}", path.display());
            return 1;
        }
    };
    // Started by hand (`cmd | mesolite logrotate-logger ...`) the pipe is the shell's, 64 KiB.
    let _ = crate::sys::fd::set_pipe_size(0, PIPE_SIZE);
    match drain::drain(0, &mut out, &path) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mesolite {VERB}: reading the task's output: {e}");
            1
        }
    }
}

fn parse_args(args: &[String]) -> Result<(PathBuf, Rotation), String> {
    let mut path = None;
    let mut rotation = Rotation {
        max_size: 10 << 20,
        keep: 9,
    };
    for a in args {
        let (k, v) = a
            .strip_prefix("--")
            .and_then(|kv| kv.split_once('='))
            .ok_or_else(|| format!("expected --name=value, got '{a}'"))?;
        match k {
            "log_filename" => path = Some(PathBuf::from(v)),
            "max_size" => {
                rotation.max_size = v
                    .parse()
                    .map_err(|_| format!("--max_size: '{v}' is not a byte count"))?
            }
            "rotate" => {
                rotation.keep = v
                    .parse()
                    .map_err(|_| format!("--rotate: '{v}' is not a count"))?
            }
            _ => return Err(format!("unknown flag --{k}")),
        }
    }
    let path = path.ok_or("--log_filename is required")?;
    Ok((path, rotation))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings() -> LogrotateSettings {
        LogrotateSettings {
            stdout: Rotation {
                max_size: 10 << 20,
                keep: 9,
            },
            stderr: Rotation {
                max_size: 10 << 20,
                keep: 9,
            },
            binary: PathBuf::from("/bin/mesolite"),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_task_environment_overrides_the_agent_flags() {
        let s = settings();
        assert_eq!(s.for_task(&[]).unwrap(), (s.stdout, s.stderr));
        let (out, err) = s
            .for_task(&env(&[
                ("CONTAINER_LOGGER_LOGROTATE_MAX_STDOUT_SIZE", "1MB"),
                ("CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS", "rotate 3"),
                ("OTHER", "x"),
            ]))
            .unwrap();
        assert_eq!(
            out,
            Rotation {
                max_size: 1 << 20,
                keep: 9
            }
        );
        assert_eq!(
            err,
            Rotation {
                max_size: 10 << 20,
                keep: 3
            }
        );
        let bad = s.for_task(&env(&[(
            "CONTAINER_LOGGER_LOGROTATE_MAX_STDERR_SIZE",
            "12",
        )]));
        assert!(bad
            .unwrap_err()
            .starts_with("CONTAINER_LOGGER_LOGROTATE_MAX_STDERR_SIZE"));
    }

    #[test]
    fn options_understand_rotate_only() {
        assert_eq!(parse_options(""), Ok(None));
        assert_eq!(parse_options("rotate 9"), Ok(Some(9)));
        assert_eq!(parse_options("rotate 2\n  rotate 4\n"), Ok(Some(4)));
        assert!(parse_options("compress").is_err());
        assert!(parse_options("rotate many").is_err());
        assert!(parse_size("1KB").is_err());
        assert_eq!(parse_size("4KB"), Ok(4096));
    }

    #[test]
    fn logger_arguments() {
        let args: Vec<String> = ["--log_filename=/s/stdout", "--max_size=4096", "--rotate=0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (path, rot) = parse_args(&args).unwrap();
        assert_eq!(path, PathBuf::from("/s/stdout"));
        assert_eq!(
            rot,
            Rotation {
                max_size: 4096,
                keep: 0
            }
        );
        assert!(parse_args(&[]).is_err());
        assert!(parse_args(&["--max_size=x".to_string()]).is_err());
    }
}
