//! The trash: directories of their own (`<work_dir>/trash`, `<runtime_dir>/trash`) into which
//! what is to be deleted is renamed, in O(1), before the deleter walks it. Being apart from
//! `containers/` and the other parents the loop creates directories in, the deleter's unlinks
//! and rmdirs (which can wait on a synchronous discard) never hold a lock the loop's mkdirs
//! wait for. What a previous agent left in it is deleted at start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone)]
pub struct Trash {
    /// One per filesystem the agent deletes from; a rename goes into the first on the same one.
    roots: Vec<PathBuf>,
}

impl Trash {
    pub fn new(roots: Vec<PathBuf>) -> Trash {
        Trash { roots }
    }

    /// Renames `path` into the trash: its new path, or None if it does not exist. A path on a
    /// filesystem no trash is on is an error (EXDEV).
    pub fn take(&self, path: &Path) -> io::Result<Option<PathBuf>> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unique = format!(
            "{}-{}-{}-{name}",
            crate::sys::getpid(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
            COUNTER.fetch_add(1, Ordering::Relaxed),
        );
        let mut last = io::Error::from_raw_os_error(libc::EXDEV);
        for root in &self.roots {
            let to = root.join(&unique);
            let renamed = match fs::rename(path, &to) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && !root.exists() => {
                    fs::create_dir_all(root)?;
                    fs::rename(path, &to)
                }
                other => other,
            };
            match renamed {
                Ok(()) => return Ok(Some(to)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// What is in the trash now (a previous agent's leftovers, at start).
    pub fn leftovers(&self) -> Vec<PathBuf> {
        self.roots
            .iter()
            .filter_map(|r| fs::read_dir(r).ok())
            .flat_map(|rd| rd.flatten().map(|e| e.path()))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renames_into_the_first_root_and_lists_what_is_left() {
        let base = std::env::temp_dir().join(format!("mesolite-trash-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("containers/c1/sub")).unwrap();
        let trash = Trash::new(vec![base.join("trash")]);
        assert!(trash.leftovers().is_empty());
        let moved = trash.take(&base.join("containers/c1")).unwrap().unwrap();
        assert!(moved.starts_with(base.join("trash")));
        assert!(moved.join("sub").is_dir());
        assert!(!base.join("containers/c1").exists());
        assert_eq!(trash.take(&base.join("containers/c1")).unwrap(), None);
        assert_eq!(trash.leftovers(), vec![moved]);
        fs::remove_dir_all(&base).unwrap();
    }
}
