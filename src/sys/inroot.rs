//! Files of an image read as its own: opened relative to the image's root, never through a link
//! that leaves it (`openat2` with `RESOLVE_IN_ROOT`, or, where the kernel lacks `openat2`, a
//! walk that opens each component with `O_NOFOLLOW` and so refuses every link), non-blocking,
//! checked with `fstat` to be a regular file, and read with a bound.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use super::cvt_retry;

/// What went wrong reading a file in a root.
#[derive(Debug)]
pub enum InRootError {
    /// The path could not be opened (ENOENT: it is not there, as the root sees it).
    Open(io::Error),
    /// It is a directory, FIFO, socket or device.
    NotRegular,
    /// It holds more than the bound (bytes).
    TooLarge(u64),
    /// Reading it failed.
    Read(io::Error),
}

impl std::fmt::Display for InRootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InRootError::Open(e) => e.fmt(f),
            InRootError::NotRegular => f.write_str("not a regular file"),
            InRootError::TooLarge(limit) => write!(f, "larger than {limit} bytes"),
            InRootError::Read(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for InRootError {}

const READ_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;

fn c_bytes(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn openat(dir: &OwnedFd, name: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    // SAFETY: `dir` is an open descriptor and `name` a valid C string; no mode is needed as
    // O_CREAT is never given.
    let fd = cvt_retry(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat2(dir, path, READ_FLAGS, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
fn openat2_in_root(dir: &OwnedFd, path: &CString) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    super::open::openat2(
        dir.as_raw_fd(),
        path,
        READ_FLAGS,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// Opens `path` (relative to `root`; a leading `/` is the root's) for reading, as a process
/// chrooted into `root` would, but without following any link out of it.
pub fn open_in_root(root: &Path, path: &Path) -> io::Result<File> {
    let root_c = c_bytes(root.as_os_str().as_bytes())?;
    // SAFETY: a valid C string; the flags open a directory handle only.
    let dir = cvt_retry(|| unsafe {
        libc::open(
            root_c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    let mut dir = unsafe { OwnedFd::from_raw_fd(dir) };
    let rel = path.strip_prefix("/").unwrap_or(path);
    match openat2_in_root(&dir, &c_bytes(rel.as_os_str().as_bytes())?) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {}
        other => return other.map(File::from),
    }
    // No openat2: each component opened with O_NOFOLLOW, so any link (inside the root or
    // not) is refused with ELOOP or ENOTDIR; `..` is refused outright.
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "path leaves the root",
                ))
            }
        }
    }
    let Some((last, dirs)) = parts.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path"));
    };
    for d in dirs {
        dir = openat(
            &dir,
            &c_bytes(d.as_bytes())?,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )?;
    }
    openat(
        &dir,
        &c_bytes(last.as_bytes())?,
        READ_FLAGS | libc::O_NOFOLLOW,
    )
    .map(File::from)
}

/// Reads `path` in `root` whole, if it is a regular file of at most `limit` bytes.
pub fn read_in_root(root: &Path, path: &Path, limit: u64) -> Result<Vec<u8>, InRootError> {
    let file = open_in_root(root, path).map_err(InRootError::Open)?;
    read_regular(file, limit)
}

/// Reads an open file whole, if `fstat` says it is a regular file of at most `limit` bytes
/// ([`super::bounded::read_open`]).
pub fn read_regular(file: File, limit: u64) -> Result<Vec<u8>, InRootError> {
    use super::bounded::ReadProblem;
    super::bounded::read_open(file, limit).map_err(|p| match p {
        ReadProblem::NotRegular(_) => InRootError::NotRegular,
        ReadProblem::TooLarge(limit) => InRootError::TooLarge(limit),
        ReadProblem::Open(e) | ReadProblem::Read(e) => InRootError::Read(e),
        ReadProblem::Escapes => InRootError::Open(io::Error::from_raw_os_error(libc::EXDEV)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_in_the_root_and_only_regular_bounded_files_are_read() {
        let root = std::env::temp_dir().join(format!("mesolite-inroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "in the image\n").unwrap();
        std::fs::write(root.join("etc/big"), vec![b'x'; 100]).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("etc/zero")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("etc/host")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", root.join("etc/up")).unwrap();
        let read = |p: &str| read_in_root(&root, Path::new(p), 64);
        assert_eq!(read("/etc/passwd").unwrap(), b"in the image\n");
        assert_eq!(read("etc/passwd").unwrap(), b"in the image\n");
        assert!(matches!(read("/etc/big"), Err(InRootError::TooLarge(64))));
        assert!(matches!(read("/etc"), Err(InRootError::NotRegular)));
        // A link to a host file resolves in the root (openat2) or is refused (the walk):
        // either way the host's file is never read.
        for link in ["/etc/zero", "/etc/host"] {
            assert!(matches!(read(link), Err(InRootError::Open(_))), "{link}");
        }
        // `..` out of the root stops at the root: the image's own /etc/passwd, or refused.
        match read("/etc/up") {
            Ok(data) => assert_eq!(data, b"in the image\n"),
            Err(e) => assert!(matches!(e, InRootError::Open(_)), "{e}"),
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
