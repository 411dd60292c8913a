//! The file side of the logrotate logger: appends to `<path>` and, when the next bytes would
//! take it past `max_size`, renames it to `<path>.1` (shifting `<path>.1` … to `<path>.2` …,
//! the one past `keep` overwritten) and starts a new `<path>`. Each file holds at most
//! `max_size` bytes, so a stream never takes more than `(keep + 1) · max_size` of disk.
//!
//! The piece of output that crosses the limit is cut after its last complete line that still
//! fits (so a file mostly ends with a whole line), else exactly at the limit (a line that
//! does not fit, or a file already full up to a line's middle): concatenated, the files are
//! the stream byte for byte. Readers that follow the stream (`logs -f`) tell a
//! rotation by the inode behind `<path>` changing: a renamed file is never written again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The end of a file written through user space, so that its cut can be put after a line.
pub const SPLICE_TAIL: u64 = 64 * 1024;

/// Most bytes one splice moves.
const SPLICE_MAX: usize = 1024 * 1024;

/// How one stream is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Most bytes of one file.
    pub max_size: u64,
    /// Rotated files kept beside the current one (logrotate's `rotate N`).
    pub keep: u32,
}

/// `<path>.<n>`.
pub fn rotated_name(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The current file of a stream and what it holds.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    /// Whether what the file holds ends with a newline (or it is empty).
    at_line_start: bool,
    rotation: Rotation,
}

impl RotatingFile {
    /// Appends to `path` (created if absent; what it already holds counts toward its size).
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            at_line_start: true,
            rotation: Rotation {
                max_size: rotation.max_size.max(1),
                ..rotation
            },
        })
    }

    /// How much may be spliced into the file now: `None` when it has no more than
    /// [`SPLICE_TAIL`] bytes of room (the caller reads and [`write_all`](Self::write_all)s
    /// instead, which cuts at a line and rotates).
    pub fn splice_len(&self) -> Option<usize> {
        let room = self.room();
        (room > SPLICE_TAIL).then(|| {
            usize::try_from(room - SPLICE_TAIL)
                .unwrap_or(usize::MAX)
                .min(SPLICE_MAX)
        })
    }

    /// Moves up to `len` bytes (at most [`splice_len`](Self::splice_len)) of the pipe `from`
    /// into the file without copying them through user space: the bytes moved.
    pub fn splice_from(&mut self, from: RawFd, len: usize) -> io::Result<usize> {
        let n = crate::sys::fd::splice_to(from, self.file.as_raw_fd(), len)?;
        self.size += n as u64;
        // Unknown without reading it back; "mid-line" only ever cuts at the limit.
        self.at_line_start = n == 0 && self.at_line_start;
        Ok(n)
    }

    /// What to read when [`splice_len`](Self::splice_len) is `None`: the file's room and one
    /// byte more. A piece that long crosses the limit, so [`write_all`](Self::write_all) cuts
    /// it after its last line that fits and rotates; what follows stays in the pipe to be
    /// spliced into the new file, so only about [`SPLICE_TAIL`] of each file is copied
    /// through user space, not a whole pipe's worth.
    pub fn tail_len(&self) -> usize {
        usize::try_from(self.room()).map_or(usize::MAX, |r| r.saturating_add(1))
    }

    fn room(&self) -> u64 {
        self.rotation.max_size.saturating_sub(self.size)
    }

    /// Writes all of `data`, rotating as often as it takes.
    pub fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = usize::try_from(self.room()).unwrap_or(usize::MAX);
            let take = if data.len() <= room {
                data.len()
            } else {
                match data[..room].iter().rposition(|&b| b == b'\n') {
                    Some(nl) => nl + 1,
                    // The crossing line starts a new file whole, unless it is longer than one.
                    None if self.size > 0 && self.at_line_start => 0,
                    None => room,
                }
            };
            if take > 0 {
                self.file.write_all(&data[..take])?;
                self.size += take as u64;
                self.at_line_start = data[take - 1] == b'\n';
                data = &data[take..];
            }
            if !data.is_empty() {
                self.rotate()?;
            }
        }
        Ok(())
    }

    /// `<path>` → `<path>.1` → … → `<path>.<keep>` (the oldest overwritten), then a new
    /// `<path>` owned as the old one was (the task's user).
    fn rotate(&mut self) -> io::Result<()> {
        let meta = self.file.metadata()?;
        if self.rotation.keep == 0 {
            remove_if_present(&self.path)?;
        } else {
            // The oldest is removed first, so that no rename replaces a file: when one does,
            // ext4 writes the renamed file's delayed blocks out at once (auto_da_alloc, meant
            // for write-then-rename), which flushed every stream file to disk in the logger's
            // time one rotation before deleting it. Removed unwritten, its pages are freed
            // with no I/O (a fast stream's old files mostly never reach the disk).
            remove_if_present(&rotated_name(&self.path, self.rotation.keep))?;
            for n in (1..self.rotation.keep).rev() {
                rename_if_present(
                    &rotated_name(&self.path, n),
                    &rotated_name(&self.path, n + 1),
                )?;
            }
            fs::rename(&self.path, rotated_name(&self.path, 1))?;
        }
        let file = create_fresh(&self.path)?;
        std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
        self.file = file;
        self.size = 0;
        self.at_line_start = true;
        Ok(())
    }
}

/// Opened for writing at its end; not O_APPEND, which splice refuses (the logger is the
/// file's only writer). Never through a link: the sandbox is the task's to fill.
fn open_append(path: &Path) -> io::Result<File> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.seek(SeekFrom::End(0))?;
    Ok(f)
}

/// A new, empty `path`. The logger is root and the sandbox the task's: whatever the task put
/// under the name between the rename and now (a link to /etc/shadow) is removed, not opened.
fn create_fresh(path: &Path) -> io::Result<File> {
    let mut tries = 0;
    loop {
        let made = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path);
        match made {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 3 => {
                tries += 1;
                remove_if_present(path)?;
            }
            other => return other,
        }
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mesolite-rotate-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn cuts_after_whole_lines_and_keeps_n_files() {
        let d = dir("lines");
        let out = d.join("stdout");
        let rot = Rotation {
            max_size: 10,
            keep: 2,
        };
        let mut f = RotatingFile::open(&out, rot).unwrap();
        for chunk in ["aaaa\nbbbb\ncc", "cc\ndddd\n", "eeee\nff", "ff\n"] {
            f.write_all(chunk.as_bytes()).unwrap();
        }
        // A file holds the line that crossed its limit only if the line started in it.
        assert_eq!(read(&rotated_name(&out, 2)), "aaaa\nbbbb\n");
        assert_eq!(read(&rotated_name(&out, 1)), "cccc\ndddd\n");
        assert_eq!(read(&out), "eeee\nffff\n");
        // One more rotation: the oldest is gone.
        f.write_all(b"gg\n").unwrap();
        assert_eq!(read(&rotated_name(&out, 2)), "cccc\ndddd\n");
        assert_eq!(read(&rotated_name(&out, 1)), "eeee\nffff\n");
        assert_eq!(read(&out), "gg\n");
        assert!(!rotated_name(&out, 3).exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_line_longer_than_a_file_is_cut_at_the_limit() {
        let d = dir("long");
        let out = d.join("stdout");
        let rot = Rotation {
            max_size: 4,
            keep: 5,
        };
        let mut f = RotatingFile::open(&out, rot).unwrap();
        f.write_all(b"ab\n0123456789\n").unwrap();
        let all: Vec<String> = (1..=4)
            .rev()
            .map(|n| read(&rotated_name(&out, n)))
            .chain([read(&out)])
            .collect();
        assert_eq!(all, ["", "ab\n", "0123", "4567", "89\n"]);
        for n in 1..=3 {
            assert!(fs::metadata(rotated_name(&out, n)).unwrap().len() <= 4);
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_new_file_replaces_a_link_the_task_put_there() {
        let d = dir("link");
        let target = d.join("precious");
        fs::write(&target, "keep me").unwrap();
        let out = d.join("stdout");
        std::os::unix::fs::symlink(&target, &out).unwrap();
        assert!(open_append(&out).is_err());
        let mut f = create_fresh(&out).unwrap();
        f.write_all(b"task output\n").unwrap();
        assert_eq!(read(&target), "keep me");
        assert_eq!(read(&out), "task output\n");
        assert!(!fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn keep_zero_only_bounds_the_current_file() {
        let d = dir("zero");
        let out = d.join("stderr");
        let mut f = RotatingFile::open(
            &out,
            Rotation {
                max_size: 6,
                keep: 0,
            },
        )
        .unwrap();
        f.write_all(b"one\ntwo\nthree\n").unwrap();
        assert_eq!(read(&out), "three\n");
        assert!(!rotated_name(&out, 1).exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
