//! Checkpoints of apps: `<work_dir>/apps/<stem>.json`, one file per app with its definition,
//! its version times, its restart count and its instances, written write-then-rename on every
//! change, so an agent restart finds each app as it was and its instances' containers.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::definition::AppDefinition;
use super::instance::{InstanceRecord, TaskFailure};

/// The format version; a file of another is skipped with an error in the log.
pub const VERSION: u32 = 1;

/// The largest app checkpoint read (a definition and its instances).
const MAX_RECORD: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRecord {
    pub format: u32,
    pub app: AppDefinition,
    pub last_scaling_at: String,
    pub last_config_change_at: String,
    #[serde(default)]
    pub restarts: u64,
    #[serde(default)]
    pub last_task_failure: Option<TaskFailure>,
    #[serde(default)]
    pub instances: Vec<InstanceRecord>,
    /// The container of the last failed instance, kept for its logs until the next failure.
    #[serde(default)]
    pub kept_failure: Option<String>,
    /// In a fleet: the create revision of the assignment the app runs here under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<i64>,
}

#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open(dir: PathBuf) -> io::Result<Store> {
        fs::create_dir_all(&dir)?;
        Ok(Store { dir })
    }

    fn path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}.json"))
    }

    pub fn save(&self, stem: &str, record: &AppRecord) -> io::Result<()> {
        let bytes = serde_json::to_vec(record).map_err(io::Error::other)?;
        let path = self.path(stem);
        let tmp = self.dir.join(format!(".{stem}.json.tmp"));
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, &path)
    }

    pub fn remove(&self, stem: &str) -> io::Result<()> {
        match fs::remove_file(self.path(stem)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every app checkpointed; unreadable files are logged and skipped (never deleted: a
    /// newer agent's format, say, is not ours to throw away).
    pub fn load(&self) -> Vec<AppRecord> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            match read(&path) {
                Ok(r) if r.format == VERSION => out.push(r),
                Ok(r) => log::error!(
                    "Skipping app checkpoint {}: format {} is not {VERSION}",
                    path.display(),
                    r.format
                ),
                Err(e) => log::error!("Skipping app checkpoint {}: {e}", path.display()),
            }
        }
        out.sort_by(|a, b| a.app.id.cmp(&b.app.id));
        out
    }
}

fn read(path: &Path) -> Result<AppRecord, String> {
    let bytes = crate::sys::bounded::read_file(path, MAX_RECORD).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}
