//! A container's cgroups removed: each directory with the cgroups a task may have made under
//! it, deepest first, in the order given (the agent puts the freezer last, so a container
//! half removed can still be frozen and killed). A cgroup still busy (EBUSY: a process not yet
//! gone, or the kernel still offlining it) is tried again a little later, for a bounded time.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// mkdir of each of `dirs` in order (one there already is fine): how a launch's cgroups are
/// made when the kernel may keep a mkdir waiting (another process attaching itself to a v1
/// hierarchy holds the cgroup lock for an RCU grace period).
pub fn make_all(dirs: &[PathBuf]) -> Result<(), String> {
    for dir in dirs {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot make cgroup {}: {e}", dir.display())),
        }
    }
    Ok(())
}

/// After this long a cgroup is given up (Mesos's --cgroups_destroy_timeout).
pub const GIVE_UP: Duration = Duration::from_secs(60);
const FIRST_RETRY: Duration = Duration::from_millis(5);
const MAX_RETRY: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub struct CgroupRemoval {
    /// What is left, in order.
    dirs: Vec<PathBuf>,
    deadline: Instant,
    retry: Duration,
    pub due: Instant,
}

impl CgroupRemoval {
    pub fn new(dirs: Vec<PathBuf>, now: Instant) -> CgroupRemoval {
        CgroupRemoval {
            dirs,
            deadline: now + GIVE_UP,
            retry: FIRST_RETRY,
            due: now,
        }
    }

    /// One attempt: Some(result) once all are gone or it gave up, None to be tried at `due`.
    pub fn attempt(&mut self, now: Instant) -> Option<Result<(), String>> {
        while let Some(dir) = self.dirs.first() {
            match remove_tree(dir) {
                Ok(()) => {
                    self.dirs.remove(0);
                }
                Err((path, e)) if now < self.deadline => {
                    log::debug!("deleter: cgroup {} not removed yet: {e}", path.display());
                    self.due = now + self.retry;
                    self.retry = (self.retry * 2).min(MAX_RETRY);
                    return None;
                }
                Err((path, e)) => {
                    return Some(Err(format!(
                        "cgroup {} not removed within {GIVE_UP:?}: {e}",
                        path.display()
                    )))
                }
            }
        }
        Some(Ok(()))
    }
}

/// rmdir of `dir` and the cgroups under it, children first; a missing one is removed already.
/// Cgroup directories hold only cgroup directories and the kernel's files (which rmdir takes).
fn remove_tree(dir: &Path) -> Result<(), (PathBuf, io::Error)> {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err((dir.to_path_buf(), e)),
    };
    for entry in entries.flatten() {
        // file_type does not follow symlinks (cgroupfs has none anyway).
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err((dir.to_path_buf(), e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn removes_deepest_first_and_retries_what_is_busy_until_it_gives_up() {
        let base = std::env::temp_dir().join(format!("mesolite-cgdel-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("a/sub/subsub")).unwrap();
        fs::create_dir_all(base.join("b")).unwrap();
        let now = Instant::now();
        let mut r =
            CgroupRemoval::new(vec![base.join("a"), base.join("gone"), base.join("b")], now);
        assert_eq!(r.attempt(now), Some(Ok(())));
        assert!(!base.join("a").exists() && !base.join("b").exists());
        // A regular file stands for a busy cgroup: rmdir fails and stops the rest.
        fs::create_dir_all(base.join("c")).unwrap();
        fs::write(base.join("c/busy"), "").unwrap();
        fs::create_dir_all(base.join("d")).unwrap();
        let mut r = CgroupRemoval::new(vec![base.join("c"), base.join("d")], now);
        assert_eq!(r.attempt(now), None);
        assert!(r.due > now);
        assert!(base.join("d").exists(), "the next waits for the busy one");
        fs::remove_file(base.join("c/busy")).unwrap();
        assert_eq!(r.attempt(now), Some(Ok(())));
        fs::create_dir_all(base.join("e")).unwrap();
        fs::write(base.join("e/busy"), "").unwrap();
        let mut r = CgroupRemoval::new(vec![base.join("e")], now);
        assert!(matches!(r.attempt(now + GIVE_UP), Some(Err(_))));
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn cgroups_are_made_in_order_and_the_first_failure_names_its_path() {
        let base = std::env::temp_dir().join(format!("mesolite-make-{}", std::process::id()));
        fs::create_dir_all(base.join("there")).unwrap();
        let dirs = [base.join("a"), base.join("there"), base.join("b")];
        assert_eq!(make_all(&dirs), Ok(()));
        assert!(dirs.iter().all(|d| d.is_dir()));
        // Again: all there already, fine.
        assert_eq!(make_all(&dirs), Ok(()));
        let err = make_all(&[base.join("c"), base.join("no/parent"), base.join("d")]).unwrap_err();
        assert!(err.contains("no/parent"), "{err}");
        assert!(!base.join("d").exists(), "the rest is not made");
        fs::remove_dir_all(&base).unwrap();
    }
}
