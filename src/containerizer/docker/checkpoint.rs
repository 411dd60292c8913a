//! Docker containers' checkpoints: `<work_dir>/meta/docker/<id>/container.json`, written
//! write-then-rename with the Mesos containerizer's helpers.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::containerizer::mesos::checkpoint::{read, write, TerminationRecord, VERSION};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    pub id: String,
    /// Mesos JSON of the resources held.
    pub resources: serde_json::Value,
    pub sandbox: PathBuf,
    pub image: String,
    pub created: f64,
    /// How it ended, once it has.
    #[serde(default)]
    pub termination: Option<TerminationRecord>,
}

pub fn root(work_dir: &Path) -> PathBuf {
    work_dir.join("meta").join("docker")
}

pub fn dir(work_dir: &Path, id: &str) -> PathBuf {
    root(work_dir).join(id)
}

pub fn file(work_dir: &Path, id: &str) -> PathBuf {
    dir(work_dir, id).join("container.json")
}

/// Writes `record`; a failure is logged (the container runs on, but
/// would not be re-adopted).
pub fn save(work_dir: &Path, record: &Record) {
    let path = file(work_dir, &record.id);
    if let Err(e) = write(&path, record) {
        log::error!("Failed to checkpoint {}: {e}", path.display());
    }
}
