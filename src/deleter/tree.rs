//! One tree's removal, in steps of bounded work so that the deleter can take new requests (and
//! retry cgroups) in between. It is `rm -rf --one-file-system`, stricter: every name is opened
//! relative to its directory's descriptor with O_NOFOLLOW, so a symlink is removed and never
//! followed; a directory on another filesystem or mount (a bind mount a task left, even of a
//! directory of the same filesystem) is detached, as Mesos's garbage collector unmounts what
//! is under a sandbox before deleting it, and never descended into while mounted.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys::tree::{self, DirReader, Entry, Kind, Place};

/// Open directories at most (deeper ones are moved up to the top and walked from there).
const MAX_DEPTH: usize = 64;
/// How many times one mount point is detached before it is left alone (stacked mounts).
const MAX_DETACH: usize = 8;
const BATCH: usize = 128;

#[derive(Debug)]
struct Frame {
    name: CString,
    reader: DirReader,
    pending: Vec<Entry>,
    /// `removed` when this pass over the directory began: a rescan must make progress.
    removed_at_open: u64,
}

/// A tree being removed.
#[derive(Debug)]
pub struct TreeRemoval {
    path: PathBuf,
    proc_dir: PathBuf,
    parent: OwnedFd,
    place: Place,
    stack: Vec<Frame>,
    removed: u64,
    moved: u64,
    /// The first thing that could not be removed.
    error: Option<String>,
    finished: bool,
}

/// How a step went.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    More,
    Done(Result<(), String>),
}

impl TreeRemoval {
    /// Starts removing `path`, whose parent is trusted (the agent's trash); a missing `path`
    /// is removed already.
    pub fn start(path: &Path, proc_dir: &Path) -> Result<TreeRemoval, String> {
        let fail = |what: &str, e: io::Error| format!("{what} {}: {e}", path.display());
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(format!("{} has no parent", path.display()));
        };
        let parent = tree::open_dir(parent).map_err(|e| fail("cannot open the parent of", e))?;
        let place = tree::place(parent.as_fd()).map_err(|e| fail("cannot stat", e))?;
        let name = tree::c_path(Path::new(name)).map_err(|e| fail("bad name", e))?;
        let mut removal = TreeRemoval {
            path: path.to_path_buf(),
            proc_dir: proc_dir.to_path_buf(),
            parent,
            place,
            stack: Vec::new(),
            removed: 0,
            moved: 0,
            error: None,
            finished: false,
        };
        let parent = removal.parent.try_clone().map_err(|e| fail("dup", e))?;
        match removal.remove_entry(parent.as_fd(), &name, Kind::Unknown, 0)? {
            Some(top) => removal.stack.push(top),
            None => removal.finished = true,
        }
        Ok(removal)
    }

    /// Removes up to about `budget` entries.
    pub fn step(&mut self, mut budget: usize) -> Progress {
        if self.finished {
            return Progress::Done(self.result());
        }
        while budget > 0 {
            let Some(mut frame) = self.stack.pop() else {
                self.finished = true;
                return Progress::Done(self.result());
            };
            if frame.pending.is_empty() {
                let read = frame.reader.next_batch(BATCH, &mut frame.pending);
                if let Err(e) = read {
                    self.note(format!("cannot read a directory: {e}"));
                }
                if frame.pending.is_empty() {
                    self.close_dir(frame);
                    continue;
                }
                frame.pending.reverse();
            }
            let Some(entry) = frame.pending.pop() else {
                self.stack.push(frame);
                continue;
            };
            budget -= 1;
            let depth = self.stack.len() + 1;
            let child = self.remove_entry(frame.reader.fd(), &entry.name, entry.kind, depth);
            self.stack.push(frame);
            match child {
                Ok(Some(child)) => self.stack.push(child),
                Ok(None) => {}
                Err(e) => self.note(e),
            }
        }
        Progress::More
    }

    fn result(&self) -> Result<(), String> {
        match &self.error {
            None => Ok(()),
            Some(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }

    fn note(&mut self, e: String) {
        log::debug!("deleter: {}: {e}", self.path.display());
        self.error.get_or_insert(e);
    }

    /// Removes `name` in `dir` (at `depth` open directories): unlinked at once if it is not a
    /// directory, else opened, to be emptied: returned.
    fn remove_entry(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        kind: Kind,
        depth: usize,
    ) -> Result<Option<Frame>, String> {
        let shown = || name.to_string_lossy().into_owned();
        if kind != Kind::Dir {
            match tree::unlink_at(dir, name, false) {
                Ok(()) => {
                    self.removed += 1;
                    return Ok(None);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
                Err(e) if is_dir_error(&e) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // A file bind-mounted over: detach, then unlink what is beneath.
                    let handle =
                        tree::open_path_at(dir, name).map_err(|e| format!("{}: {e}", shown()))?;
                    self.detach_if_foreign(&handle)?;
                    return match tree::unlink_at(dir, name, false) {
                        Ok(()) => Ok(None),
                        Err(e) => Err(format!("{}: {e}", shown())),
                    };
                }
                Err(e) => return Err(format!("{}: {e}", shown())),
            }
        }
        let mut detached = 0;
        let opened = loop {
            let opened = match tree::open_dir_at(dir, name) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
                // Not a directory after all (or swapped for a symlink): unlinked as a file.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)) => {
                    return match tree::unlink_at(dir, name, false) {
                        Ok(()) => {
                            self.removed += 1;
                            Ok(None)
                        }
                        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
                        Err(e) => Err(format!("{}: {e}", shown())),
                    };
                }
                Err(e) => return Err(format!("{}: {e}", shown())),
            };
            if !self.detach_if_foreign(&opened)? {
                break opened;
            }
            detached += 1;
            if detached >= MAX_DETACH {
                return Err(format!(
                    "{}: still a mount point after {detached} unmounts",
                    shown()
                ));
            }
        };
        if depth >= MAX_DEPTH {
            // Too deep to hold open: moved under the top directory, walked again from there.
            let top = match self.stack.first() {
                Some(f) => f.reader.fd(),
                None => return Err(format!("{}: too deep", shown())),
            };
            self.moved += 1;
            let to = CString::new(format!(".deep-{}", self.moved)).map_err(|e| e.to_string())?;
            drop(opened);
            return match tree::rename_at(dir, name, top, &to) {
                Ok(()) => {
                    self.removed += 1;
                    Ok(None)
                }
                Err(e) => Err(format!("{}: cannot move up: {e}", shown())),
            };
        }
        let reader = DirReader::new(opened.as_fd()).map_err(|e| format!("{}: {e}", shown()))?;
        Ok(Some(Frame {
            name: name.to_owned(),
            reader,
            pending: Vec::new(),
            removed_at_open: self.removed,
        }))
    }

    /// Whether `fd` is on another filesystem or mount than the tree; if so it is detached (so
    /// the caller opens the name again and finds what was beneath).
    fn detach_if_foreign(&self, fd: &OwnedFd) -> Result<bool, String> {
        let here = tree::place(fd.as_fd()).map_err(|e| format!("cannot stat: {e}"))?;
        let foreign = here.dev != self.place.dev
            || (here.mount.is_some()
                && self.place.mount.is_some()
                && here.mount != self.place.mount);
        if !foreign {
            return Ok(false);
        }
        log::info!(
            "deleter: detaching a mount found in {} (it is not deleted)",
            self.path.display()
        );
        tree::detach_mount(&self.proc_dir, fd.as_fd())
            .map_err(|e| format!("a mount point that cannot be detached: {e}"))?;
        Ok(true)
    }

    /// The directory on top of the stack is read through: rmdir it, or read it again if
    /// something is left that this pass changed (entries moved up, or added meanwhile).
    fn close_dir(&mut self, frame: Frame) {
        let parent = match self.stack.last() {
            Some(f) => f.reader.fd(),
            None => self.parent.as_fd(),
        };
        match tree::unlink_at(parent, &frame.name, true) {
            Ok(()) => self.removed += 1,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTEMPTY)
                    && self.removed > frame.removed_at_open =>
            {
                match DirReader::new(frame.reader.fd()) {
                    Ok(reader) => self.stack.push(Frame {
                        name: frame.name,
                        reader,
                        pending: Vec::new(),
                        removed_at_open: self.removed,
                    }),
                    Err(e) => self.note(format!("cannot read a directory again: {e}")),
                }
            }
            Err(e) => {
                let name = frame.name.to_string_lossy().into_owned();
                self.note(format!("{name}: {e}"));
            }
        }
    }
}

fn is_dir_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EISDIR | libc::EPERM))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// Removes `path` whole, in one go.
    fn remove_now(path: &Path, proc_dir: &Path) -> Result<(), String> {
        let mut removal = TreeRemoval::start(path, proc_dir)?;
        loop {
            if let Progress::Done(result) = removal.step(usize::MAX) {
                return result;
            }
        }
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mesolite-tree-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn symlinks_are_removed_and_never_followed() {
        let base = temp("links");
        let outside = base.join("outside");
        fs::create_dir_all(outside.join("sub")).unwrap();
        fs::write(outside.join("canary"), "alive").unwrap();
        fs::write(outside.join("sub/canary"), "alive").unwrap();
        let t = base.join("trash/box");
        fs::create_dir_all(t.join("a/b/c")).unwrap();
        fs::write(t.join("a/b/c/f"), "x").unwrap();
        symlink(&outside, t.join("to-dir")).unwrap();
        symlink(outside.join("canary"), t.join("a/to-file")).unwrap();
        symlink("/", t.join("a/b/root")).unwrap();
        symlink("nowhere", t.join("dangling")).unwrap();
        remove_now(&t, Path::new("/proc")).unwrap();
        assert!(!t.exists());
        assert!(base.join("trash").is_dir());
        assert_eq!(fs::read_to_string(outside.join("canary")).unwrap(), "alive");
        assert_eq!(
            fs::read_to_string(outside.join("sub/canary")).unwrap(),
            "alive"
        );
        // Missing, a file, a symlink as the top itself.
        remove_now(&t, Path::new("/proc")).unwrap();
        fs::write(&t, "x").unwrap();
        remove_now(&t, Path::new("/proc")).unwrap();
        symlink(&outside, &t).unwrap();
        remove_now(&t, Path::new("/proc")).unwrap();
        assert!(!t.exists() && outside.join("canary").exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn deep_and_wide_trees_go_in_small_steps() {
        let base = temp("deep");
        let t = base.join("box");
        let mut p = t.clone();
        for i in 0..(MAX_DEPTH * 3) {
            p = p.join(format!("d{i}"));
        }
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("leaf"), "x").unwrap();
        for i in 0..500 {
            fs::write(t.join(format!("f{i}")), "x").unwrap();
        }
        let mut removal = TreeRemoval::start(&t, Path::new("/proc")).unwrap();
        let mut steps = 0;
        let result = loop {
            steps += 1;
            if let Progress::Done(r) = removal.step(10) {
                break r;
            }
        };
        result.unwrap();
        assert!(steps > 50, "{steps} steps: the budget bounds each");
        assert!(!t.exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
