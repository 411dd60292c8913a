//! The API's changes to apps on their way to etcd: checkpointed here first, so a change is
//! answered at once and survives an agent restart, then written in order, one at a time, and
//! retried until etcd takes it (with no quorum an app is accepted and waits). Each write is
//! conditional and bears a repeat: a create that finds the app (its own earlier try that timed
//! out after being applied, or another node's) and an update that finds it gone are dropped.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::records::StoredApp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteKind {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    pub kind: WriteKind,
    pub stem: String,
    /// Absent for a delete.
    pub app: Option<StoredApp>,
}

#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    writes: Vec<Write>,
}

impl Outbox {
    /// Opens (and reads back) the queue at `path`.
    pub fn open(path: PathBuf) -> Outbox {
        let writes = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::error!(
                    "Ignoring the unreadable queue of app writes {}: {e}",
                    path.display()
                );
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        if !writes.is_empty() {
            log::info!("{} app write(s) still to send to etcd", writes.len());
        }
        Outbox { path, writes }
    }

    /// Queues a write; Err if it could not be checkpointed (then nothing is queued).
    pub fn push(&mut self, w: Write) -> std::io::Result<()> {
        self.writes.push(w);
        if let Err(e) = self.save() {
            self.writes.pop();
            return Err(e);
        }
        Ok(())
    }

    pub fn head(&self) -> Option<&Write> {
        self.writes.first()
    }

    /// The head was written (or dropped for good).
    pub fn pop(&mut self) {
        if !self.writes.is_empty() {
            self.writes.remove(0);
        }
        if let Err(e) = self.save() {
            log::error!("Failed to checkpoint {}: {e}", self.path.display());
        }
    }

    pub fn pending(&self) -> &[Write] {
        &self.writes
    }

    fn save(&self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec(&self.writes).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }
}
