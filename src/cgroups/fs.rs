//! cgroupfs file I/O with errors that carry the path.
//!
//! cgroupfs files are small and generated on read, so a read is `open` + `read` into a buffer the
//! caller reuses; a write is a single `write(2)` of the whole value (the kernel parses each
//! write on its own, so a value must never be split).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use super::error::CgroupError;

/// Reads the whole file into `buf` (cleared first).
pub(super) fn read_into(path: &Path, buf: &mut Vec<u8>) -> Result<(), CgroupError> {
    buf.clear();
    // Enough for any cgroup file read here, so the first read gets it all.
    buf.reserve(4096);
    File::open(path)
        .and_then(|file| ReadOnly(file).read_to_end(buf))
        .map(drop)
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// A file seen only through `read`: `File::read_to_end` also calls `statx` and `lseek` for a
/// size hint, which cgroupfs reports as 0 anyway. This way a file costs open, read, read, close.
struct ReadOnly(File);

impl Read for ReadOnly {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// Like [`read_into`], but a missing file is `Ok(false)` rather than an error.
pub(super) fn read_into_if_exists(path: &Path, buf: &mut Vec<u8>) -> Result<bool, CgroupError> {
    match read_into(path, buf) {
        Ok(()) => Ok(true),
        Err(err) if err.is_not_found() => Ok(false),
        Err(err) => Err(err),
    }
}

/// Writes `value` with one `write(2)`. The file must exist (cgroupfs never creates files on open).
pub(super) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    write_io(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

/// [`write`] with the bare io error, for callers that interpret it.
pub(super) fn write_io(path: &Path, value: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).truncate(true).open(path)?;
    write_once(&mut file, value)
}

/// Opens a control file for several writes ([`write_to`]), such as `cgroup.event_control`'s
/// registrations: one path walk for all of them.
pub(super) fn open_for_writes(path: &Path) -> Result<fs::File, CgroupError> {
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|source| CgroupError::Write {
            path: path.to_path_buf(),
            value: String::new(),
            source,
        })
}

/// Writes `value` with one `write(2)` into `file`, opened from `path` by [`open_for_writes`].
pub(super) fn write_to(file: &mut fs::File, path: &Path, value: &str) -> Result<(), CgroupError> {
    write_once(file, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

fn write_once(file: &mut fs::File, value: &str) -> io::Result<()> {
    // Some writes give up with EINTR whenever a signal is pending, without being restarted (v1
    // memory.limit_in_bytes checks before it even tries; the agent's SIGCHLD often is): again.
    let written = loop {
        match file.write(value.as_bytes()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    if written == value.len() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::WriteZero, "short write"))
    }
}

/// Opens an existing cgroup file write-only (close-on-exec), to be written later.
pub(super) fn open_write(path: &Path) -> Result<std::os::fd::OwnedFd, CgroupError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map(std::os::fd::OwnedFd::from)
        .map_err(|source| CgroupError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// mkdir; an existing directory is fine.
pub(super) fn mkdir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(CgroupError::Mkdir {
            path: path.to_path_buf(),
            source: err,
        }),
        _ => Ok(()),
    }
}

/// mkdir -p.
pub(super) fn mkdir_all(path: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(path).map_err(|source| CgroupError::Mkdir {
        path: path.to_path_buf(),
        source,
    })
}

/// rmdir; a missing directory is fine, so destroying twice succeeds.
pub(super) fn rmdir(path: &Path) -> Result<(), CgroupError> {
    match fs::remove_dir(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(CgroupError::Rmdir {
            path: path.to_path_buf(),
            source: err,
        }),
        _ => Ok(()),
    }
}

/// The names of the subdirectories of `dir`; a missing `dir` has none.
pub(super) fn subdirs(dir: &Path) -> Result<Vec<String>, CgroupError> {
    let list_error = |source| CgroupError::List {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(list_error(err)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(list_error)?;
        if entry.file_type().map_err(list_error)?.is_dir() {
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// The content without surrounding ASCII whitespace (cgroup files end with a newline).
pub(super) fn trim(buf: &[u8]) -> &[u8] {
    buf.trim_ascii()
}

/// A parse error for `path` holding `buf`.
pub(super) fn bad_content(path: &Path, buf: &[u8]) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        content: String::from_utf8_lossy(buf).into_owned(),
    }
}

/// The process ids in a `cgroup.procs` file, one per line.
pub(super) fn read_pids(path: &Path, buf: &mut Vec<u8>) -> Result<Vec<i32>, CgroupError> {
    read_into(path, buf)?;
    let mut pids = Vec::new();
    for line in buf.split(|&b| b == b'\n') {
        let line = trim(line);
        if line.is_empty() {
            continue;
        }
        let pid = super::stats::parse_u64(line)
            .and_then(|pid| i32::try_from(pid).ok())
            .ok_or_else(|| bad_content(path, buf))?;
        pids.push(pid);
    }
    Ok(pids)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::cgroups::testutil::TempDir;

    #[test]
    fn test_write_requires_existing_file_and_replaces_content() {
        let tmp = TempDir::new();
        let file = tmp.path().join("cpu.shares");
        assert!(write(&file, "512").is_err(), "cgroupfs never creates files");
        fs::write(&file, "1024\n").unwrap();
        write(&file, "512").unwrap();
        let mut buf = Vec::new();
        read_into(&file, &mut buf).unwrap();
        assert_eq!(buf, b"512");
    }

    #[test]
    fn test_read_into_reads_files_larger_than_a_chunk() {
        let tmp = TempDir::new();
        let file = tmp.path().join("memory.stat");
        let content: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        fs::write(&file, &content).unwrap();
        let mut buf = vec![b'x'; 10];
        read_into(&file, &mut buf).unwrap();
        assert_eq!(buf, content);
        fs::write(&file, "1\n").unwrap();
        read_into(&file, &mut buf).unwrap();
        assert_eq!(buf, b"1\n");
        assert!(read_into(&tmp.path().join("missing"), &mut buf)
            .unwrap_err()
            .is_not_found());
    }

    #[test]
    fn test_read_pids_and_bad_content() {
        let tmp = TempDir::new();
        let file = tmp.path().join("cgroup.procs");
        fs::write(&file, "12\n345\n").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_pids(&file, &mut buf).unwrap(), vec![12, 345]);
        fs::write(&file, "12\nx\n").unwrap();
        assert!(matches!(
            read_pids(&file, &mut buf),
            Err(CgroupError::Parse { .. })
        ));
    }

    #[test]
    fn test_mkdir_rmdir_are_idempotent() {
        let tmp = TempDir::new();
        let dir = tmp.path().join("a");
        mkdir(&dir).unwrap();
        mkdir(&dir).unwrap();
        fs::write(dir.join("f"), "").unwrap();
        assert!(rmdir(&dir).is_err(), "non-empty dir must fail");
        fs::remove_file(dir.join("f")).unwrap();
        rmdir(&dir).unwrap();
        rmdir(&dir).unwrap();
        assert!(!dir.exists());
    }

    #[test]
    fn test_subdirs_lists_only_directories() {
        let tmp = TempDir::new();
        assert!(subdirs(&tmp.path().join("missing")).unwrap().is_empty());
        fs::create_dir(tmp.path().join("c1")).unwrap();
        fs::write(tmp.path().join("cgroup.procs"), "").unwrap();
        assert_eq!(subdirs(tmp.path()).unwrap(), vec!["c1".to_string()]);
    }
}
