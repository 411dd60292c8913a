//! A store's staging area: a pull unpacks into a directory of its own here, then renames the
//! result into place, so the store never holds anything half-written; whatever is here when the
//! agent starts was left by a crash.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A failed step: what was being done, and to which path.
pub type StagingError = (&'static str, PathBuf, io::Error);

/// A fresh directory under `root`, unique across processes (pid, time, counter).
pub fn create(root: &Path) -> Result<PathBuf, StagingError> {
    fs::create_dir_all(root).map_err(|e| ("create directory", root.to_path_buf(), e))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = root.join(format!("{}-{nanos}-{count}", std::process::id()));
    fs::create_dir(&dir).map_err(|e| ("create directory", dir.clone(), e))?;
    Ok(dir)
}

/// Removes `root` and everything in it (gone already is fine).
pub fn clear(root: &Path) -> Result<(), StagingError> {
    match fs::remove_dir_all(root) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(("remove", root.to_path_buf(), e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn staging_dirs_are_distinct_and_cleared() {
        let root = std::env::temp_dir().join(format!("mesolite-staging-{}", std::process::id()));
        let a = create(&root).unwrap();
        let b = create(&root).unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        clear(&root).unwrap();
        assert!(!root.exists());
        clear(&root).unwrap();
    }
}
