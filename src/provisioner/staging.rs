//! A store's staging area: a pull unpacks into a directory of its own here, then renames the
//! result into place, so the store never holds anything half-written; whatever is here when the
//! agent starts was left by a crash.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A failed step: what was being done (`create directory`, `remove`), to which path, and why.
#[derive(Debug)]
pub struct StagingError {
    pub op: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

impl StagingError {
    fn at<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StagingError + 'a {
        move |source| StagingError {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for StagingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Failed to {} '{}': {}",
            self.op,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for StagingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A fresh directory under `root`, unique across processes (pid, time, counter).
pub fn create(root: &Path) -> Result<PathBuf, StagingError> {
    fs::create_dir_all(root).map_err(StagingError::at("create directory", root))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = root.join(format!("{}-{nanos}-{count}", std::process::id()));
    fs::create_dir(&dir).map_err(StagingError::at("create directory", &dir))?;
    Ok(dir)
}

/// Removes `root` and everything in it (gone already is fine).
pub fn clear(root: &Path) -> Result<(), StagingError> {
    match fs::remove_dir_all(root) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StagingError::at("remove", root)(e)),
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

    #[test]
    fn a_staging_error_names_the_step_and_the_path() {
        let file =
            std::env::temp_dir().join(format!("mesolite-staging-file-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let e = create(&file.join("sub")).unwrap_err();
        assert_eq!(e.op, "create directory");
        assert_eq!(e.path, file.join("sub"));
        assert_eq!(
            e.to_string(),
            format!(
                "Failed to create directory '{}': {}",
                file.join("sub").display(),
                e.source
            )
        );
        std::fs::remove_file(&file).unwrap();
    }
}
