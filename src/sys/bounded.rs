//! The one way the agent reads a whole file that a request, a sandbox, an image, a checkpoint
//! or a conf file names: opened without blocking (a FIFO never stalls the loop), beneath its
//! directory without following a link out of it ([`super::open`]), checked with `fstat` to be
//! a regular file, and read with a bound (a link to `/dev/zero` or a sparse giant cannot grow
//! the agent).

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::cvt_retry;
use super::open::{describe, open_regular_beneath, open_root, OpenError};

/// What was wrong with the file (see [`ReadError`] for which one).
#[derive(Debug)]
pub enum ReadProblem {
    /// It could not be opened (`NotFound` when it is not there).
    Open(io::Error),
    /// Its path leads out of its directory (a link pointing elsewhere).
    Escapes,
    /// A directory, FIFO, socket or device: what it is, in words.
    NotRegular(&'static str),
    /// It holds more than the bound (bytes).
    TooLarge(u64),
    Read(io::Error),
}

/// A file that could not be read, and why.
#[derive(Debug)]
pub struct ReadError {
    pub path: PathBuf,
    pub problem: ReadProblem,
}

impl ReadError {
    /// Whether the file simply is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.problem, ReadProblem::Open(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        match &self.problem {
            ReadProblem::Open(e) | ReadProblem::Read(e) => e.fmt(f),
            ReadProblem::Escapes => f.write_str("the path leads out of its directory"),
            ReadProblem::NotRegular(what) => write!(f, "not a regular file ({what})"),
            ReadProblem::TooLarge(limit) => write!(f, "larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads `path` whole, opened beneath its own directory: the file itself may not be a link
/// leading out of that directory.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(Path::new).unwrap_or(path);
    read_beneath(dir, name, limit).map_err(|problem| ReadError {
        path: path.to_path_buf(),
        problem,
    })
}

/// Reads `root/rel` whole, never following a link out of `root`.
pub fn read_in(root: &Path, rel: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_beneath(root, rel, limit).map_err(|problem| ReadError {
        path: root.join(rel),
        problem,
    })
}

/// Reads a file the administrator named (a conf file, a seccomp profile): links are followed,
/// as they are the administrator's own, but it is opened without blocking, checked and
/// bounded like every other.
pub fn read_named(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let fail = |problem| ReadError {
        path: path.to_path_buf(),
        problem,
    };
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        fail(ReadProblem::Open(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path contains a NUL byte",
        )))
    })?;
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: `c` is a valid C string for the whole call; no mode is needed without O_CREAT.
    let fd = cvt_retry(|| unsafe { libc::open(c.as_ptr(), flags) })
        .map_err(|e| fail(ReadProblem::Open(e)))?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    read_open(file, limit).map_err(fail)
}

fn read_beneath(root: &Path, rel: &Path, limit: u64) -> Result<Vec<u8>, ReadProblem> {
    let dir = open_root(root).map_err(ReadProblem::Open)?;
    let file = open_regular_beneath(dir.as_fd(), rel).map_err(|e| match e {
        OpenError::Escapes => ReadProblem::Escapes,
        OpenError::NotRegular(t) => ReadProblem::NotRegular(describe(t)),
        OpenError::Io(e) => ReadProblem::Open(e),
    })?;
    read_open(file, limit)
}

/// Reads an open file whole, if `fstat` says it is a regular file of at most `limit` bytes
/// (counted as read too: a file that grows meanwhile is refused).
pub fn read_open(file: File, limit: u64) -> Result<Vec<u8>, ReadProblem> {
    let meta = file.metadata().map_err(ReadProblem::Read)?;
    if !meta.is_file() {
        return Err(ReadProblem::NotRegular(describe(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadProblem::TooLarge(limit));
    }
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(ReadProblem::Read)?;
    if data.len() as u64 > limit {
        return Err(ReadProblem::TooLarge(limit));
    }
    Ok(data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fifos_links_out_and_big_files_are_refused_with_their_path() {
        let dir = std::env::temp_dir().join(format!("mesolite-bounded-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ok"), "fine\n").unwrap();
        std::fs::write(dir.join("big"), vec![b'x'; 100]).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        std::os::unix::fs::symlink("ok", dir.join("near")).unwrap();
        nix::unistd::mkfifo(&dir.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let read = |name: &str| read_file(&dir.join(name), 64);
        assert_eq!(read("ok").unwrap(), b"fine\n");
        assert_eq!(read("near").unwrap(), b"fine\n");
        let err = read("big").unwrap_err().to_string();
        assert!(err.ends_with("big: larger than 64 bytes"), "{err}");
        let err = read("fifo").unwrap_err().to_string();
        assert!(err.contains("fifo: not a regular file (a FIFO)"), "{err}");
        assert!(matches!(
            read("zero").unwrap_err().problem,
            ReadProblem::Escapes
        ));
        assert!(read("none").unwrap_err().is_not_found());
        // Named files follow links, but still never block or read without a bound.
        let err = read_named(&dir.join("zero"), 64).unwrap_err().to_string();
        assert!(
            err.contains("not a regular file (a character device)"),
            "{err}"
        );
        let err = read_named(&dir.join("fifo"), 64).unwrap_err().to_string();
        assert!(err.contains("not a regular file (a FIFO)"), "{err}");
        assert_eq!(read_named(&dir.join("near"), 64).unwrap(), b"fine\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
