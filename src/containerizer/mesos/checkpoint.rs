//! Checkpoints: what the agent needs to re-adopt a container after a restart, written
//! write-then-rename (a crash at any instant leaves the old file or the new, never a torn one).
//! No fsync: after a power loss the containers are gone too, and the boot ID tells.
//!
//! Layout (Mesos's): `<work_dir>/meta/containers/<id>/launch.json` (what was launched; survives
//! reboots so ended containers are still reported) and `termination.json` (how it ended, kept
//! until REMOVE); `<runtime_dir>/containers/<id>/pid.json` (the init, with its start time against
//! pid reuse) and `status` (the task's raw wait status, written by the container's init).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::status::{Reason, TaskState, Termination};
use crate::sys::bounded::read_file;

/// The largest checkpoint read: ours are a few hundred bytes; anything bigger is not ours.
const MAX_RECORD: u64 = 64 << 10;

/// The format version of every checkpoint file; an unknown one is an error for that container.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub version: u32,
    pub id: String,
    /// Mesos JSON of the resources held.
    pub resources: serde_json::Value,
    pub sandbox: PathBuf,
    pub created: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidRecord {
    pub version: u32,
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat: tells a re-used pid from ours. 0 is "unknown" (older
    /// agents wrote it when the start time could not be read); it identifies nothing.
    pub start_time: u64,
}

impl PidRecord {
    /// Whether the process whose start time is `now` (None: no such process) is the recorded
    /// init. A record without a start time never matches: the pid alone may name anything.
    pub fn identifies(&self, now: Option<u64>) -> bool {
        self.start_time != 0 && now == Some(self.start_time)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminationRecord {
    pub version: u32,
    pub status: Option<i32>,
    pub state: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub limited: Option<serde_json::Value>,
}

impl TerminationRecord {
    pub fn of(t: &Termination) -> TerminationRecord {
        TerminationRecord {
            version: VERSION,
            status: t.status,
            state: t.state.name().to_string(),
            reason: t.reason.map(|r| r.name().to_string()),
            message: t.message.clone(),
            limited: t.limited.clone(),
        }
    }

    pub fn to_termination(&self) -> Termination {
        let state = match self.state.as_str() {
            "TASK_FINISHED" => TaskState::Finished,
            "TASK_KILLED" => TaskState::Killed,
            _ => TaskState::Failed,
        };
        Termination {
            status: self.status,
            state,
            reason: self.reason.as_deref().and_then(Reason::from_name),
            message: self.message.clone(),
            limited: self.limited.clone(),
        }
    }
}

/// Where a container's checkpoints live.
#[derive(Debug, Clone)]
pub struct Paths {
    pub meta: PathBuf,
    pub runtime: PathBuf,
}

impl Paths {
    pub fn new(work_dir: &Path, runtime_dir: &Path, id: &str) -> Paths {
        Paths {
            meta: meta_root(work_dir).join(id),
            runtime: runtime_dir.join("containers").join(id),
        }
    }

    pub fn launch(&self) -> PathBuf {
        self.meta.join("launch.json")
    }

    pub fn termination(&self) -> PathBuf {
        self.meta.join("termination.json")
    }

    pub fn pid(&self) -> PathBuf {
        self.runtime.join("pid.json")
    }

    pub fn status(&self) -> PathBuf {
        self.runtime.join("status")
    }

    /// Written by an init whose launch the agent abandoned (it died before releasing it).
    pub fn aborted(&self) -> PathBuf {
        self.runtime.join("aborted")
    }
}

/// `<work_dir>/meta/containers`.
pub fn meta_root(work_dir: &Path) -> PathBuf {
    work_dir.join("meta").join("containers")
}

/// Writes `value` as JSON to `path` atomically (temporary file, then rename).
pub fn write<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let data = serde_json::to_vec(value).map_err(io::Error::other)?;
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

/// Why a checkpoint could not be read.
#[derive(Debug)]
pub enum ReadError {
    Missing,
    /// Not a regular file, a link out of its directory, too big, or an I/O error.
    Unreadable(crate::sys::bounded::ReadError),
    Corrupt(PathBuf, String),
    Version(PathBuf, u32),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => write!(f, "missing"),
            ReadError::Unreadable(e) => write!(f, "failed to read {e}"),
            ReadError::Corrupt(p, e) => write!(f, "corrupt checkpoint {}: {e}", p.display()),
            ReadError::Version(p, v) => {
                write!(
                    f,
                    "checkpoint {} has format version {v}; this agent reads {VERSION}",
                    p.display()
                )
            }
        }
    }
}

/// Reads a versioned JSON checkpoint.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ReadError> {
    let data = match read_file(path, MAX_RECORD) {
        Ok(d) => d,
        Err(e) if e.is_not_found() => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::Unreadable(e)),
    };
    let value: serde_json::Value = serde_json::from_slice(&data)
        .map_err(|e| ReadError::Corrupt(path.to_path_buf(), e.to_string()))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if version != u64::from(VERSION) {
        return Err(ReadError::Version(
            path.to_path_buf(),
            u32::try_from(version).unwrap_or(u32::MAX),
        ));
    }
    serde_json::from_value(value).map_err(|e| ReadError::Corrupt(path.to_path_buf(), e.to_string()))
}

/// The task's raw wait status as the init recorded it.
pub fn read_status(path: &Path) -> Option<i32> {
    let data = read_file(path, 64).ok()?;
    std::str::from_utf8(&data).ok()?.trim().parse().ok()
}

/// The start time of `pid` (field 22 of `<proc>/<pid>/stat`), None if it does not exist.
/// One read (procfs gives the whole line at once; it is far shorter than the buffer), once
/// per launch for the pid checkpoint and once per container at recovery.
pub fn start_time(proc_dir: &Path, pid: i32) -> Option<u64> {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    let n = fs::File::open(proc_dir.join(pid.to_string()).join("stat"))
        .ok()?
        .read(&mut buf)
        .ok()?;
    parse_start_time(buf.get(..n)?)
}

/// Field 22 of a `/proc/<pid>/stat` line (bytes: the command name may be anything).
fn parse_start_time(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    // After ')': field 3 is at index 0, so field 22 is at index 19.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ml-ckpt-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn round_trips_and_rejects_garbage_and_versions() {
        let d = tmp("rt");
        let p = d.join("pid.json");
        let rec = PidRecord {
            version: VERSION,
            pid: 42,
            start_time: 7,
        };
        write(&p, &rec).unwrap();
        assert_eq!(read::<PidRecord>(&p).unwrap(), rec);
        fs::write(&p, b"{\"version\": 1, \"pid\": 4").unwrap();
        assert!(matches!(read::<PidRecord>(&p), Err(ReadError::Corrupt(..))));
        fs::write(&p, b"\x00\xffgarbage").unwrap();
        assert!(matches!(read::<PidRecord>(&p), Err(ReadError::Corrupt(..))));
        fs::write(&p, b"{\"version\": 9, \"pid\": 4, \"start_time\": 1}").unwrap();
        assert!(matches!(
            read::<PidRecord>(&p),
            Err(ReadError::Version(_, 9))
        ));
        assert!(matches!(
            read::<PidRecord>(&d.join("none")),
            Err(ReadError::Missing)
        ));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_record_without_a_start_time_identifies_nothing() {
        let rec = |start_time| PidRecord {
            version: VERSION,
            pid: 42,
            start_time,
        };
        assert!(rec(7).identifies(Some(7)));
        assert!(!rec(7).identifies(Some(8)));
        assert!(!rec(7).identifies(None));
        assert!(!rec(0).identifies(Some(0)));
        assert!(!rec(0).identifies(Some(7)));
        assert!(!rec(0).identifies(None));
    }

    #[test]
    fn start_time_past_any_command_name() {
        let line = b"42 (a) b\xff) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2\n";
        assert_eq!(parse_start_time(line), Some(98765));
        assert_eq!(parse_start_time(b"42 (x) S 1"), None);
        assert_eq!(parse_start_time(b"no paren"), None);
    }

    #[test]
    fn start_time_of_this_process() {
        let me = crate::sys::getpid();
        assert!(start_time(Path::new("/proc"), me).is_some());
        assert!(start_time(Path::new("/proc"), i32::MAX).is_none());
    }
}
