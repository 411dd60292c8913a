//! Opening files inside a directory whose content the agent does not control (a sandbox, an
//! image's rootfs): never following a link out of that directory, never blocking, and checking
//! what was found before anything reads it.
//!
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` relative to a handle of the root where the
//! kernel has it (5.6+); elsewhere a component-by-component `openat(O_NOFOLLOW)` walk, which
//! follows no link at all. Every open is `O_CLOEXEC | O_NOCTTY | O_NONBLOCK`.

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::fs::{File, FileType};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use super::cvt_retry;

/// Why a file beneath a root could not be opened for reading.
#[derive(Debug)]
pub enum OpenError {
    /// The path leads out of the root: through `..`, an absolute path, or a link pointing
    /// outside it (where the kernel has no `openat2`, through any link).
    Escapes,
    /// It exists but is not a regular file (a FIFO, socket, device, directory, ...).
    NotRegular(FileType),
    /// Any other failure (`NotFound` for a missing file or directory).
    Io(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Escapes => f.write_str("the path leads out of its root"),
            OpenError::NotRegular(t) => write!(f, "not a regular file ({})", describe(*t)),
            OpenError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> OpenError {
        if e.raw_os_error() == Some(libc::EXDEV) {
            OpenError::Escapes
        } else {
            OpenError::Io(e)
        }
    }
}

/// What kind of file `t` is, in words.
pub fn describe(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "an unknown kind of file"
    }
}

const BASE_FLAGS: libc::c_int = libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;

/// Opens a directory the agent trusts (its own work dir, say) as an `O_PATH` handle to open
/// files beneath.
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let flags = BASE_FLAGS | libc::O_PATH | libc::O_DIRECTORY;
    // SAFETY: `c` is a valid C string for the whole call; open allocates nothing of ours.
    let fd = cvt_retry(|| unsafe { libc::open(c.as_ptr(), flags) })?;
    // SAFETY: open succeeded, so `fd` is an open descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `rel` beneath `root` as an `O_PATH` handle (`rel` empty: `root` again).
pub fn open_dir_beneath(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, OpenError> {
    let fd = resolve(root, rel, libc::O_PATH | libc::O_DIRECTORY)?;
    Ok(fd)
}

/// Opens the regular file `rel` beneath `root` for reading. Anything else is refused before it
/// is opened for reading (an `O_PATH` look first, so no FIFO, socket or device is ever opened),
/// and checked again once opened, in case it was swapped in between.
pub fn open_regular_beneath(root: BorrowedFd<'_>, rel: &Path) -> Result<File, OpenError> {
    let probe = File::from(resolve(root, rel, libc::O_PATH)?);
    check_regular(&probe)?;
    drop(probe);
    let file = File::from(resolve(root, rel, libc::O_RDONLY)?);
    check_regular(&file)?;
    Ok(file)
}

fn check_regular(f: &File) -> Result<(), OpenError> {
    let t = f.metadata().map_err(OpenError::Io)?.file_type();
    if t.is_file() {
        Ok(())
    } else {
        Err(OpenError::NotRegular(t))
    }
}

/// Set once `openat2` turned out missing (ENOSYS) or filtered (EPERM by a seccomp policy).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// `struct open_how` of `linux/openat2.h` (libc's is `non_exhaustive`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn resolve(root: BorrowedFd<'_>, rel: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(io::Error::from_raw_os_error(libc::EXDEV))
            }
        }
    }
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let joined = names.join(OsStr::new("/"));
        let name = if joined.is_empty() {
            CString::from(c".")
        } else {
            c_name(&joined)?
        };
        match openat2_beneath(root.as_raw_fd(), &name, flags) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
            }
            other => return other,
        }
    }
    walk_nofollow(root, &names, flags)
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn openat2_beneath(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // openat2 refuses (EINVAL) with O_PATH any flag that has no meaning there.
    let base = if flags & libc::O_PATH != 0 {
        libc::O_CLOEXEC
    } else {
        BASE_FLAGS
    };
    openat2(
        dir,
        name,
        flags | base,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// `openat2(dir, name, {flags, 0, resolve})`, retried on EINTR and on the EAGAIN the kernel
/// answers when a rename or mount raced with the lookup.
pub(crate) fn openat2(
    dir: RawFd,
    name: &CStr,
    flags: libc::c_int,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve,
    };
    let mut tries = 0;
    loop {
        // SAFETY: `name` is a valid C string and `how` a valid open_how whose size is passed;
        // the kernel only reads both during the call.
        let ret = cvt_retry(|| unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                name.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        });
        match ret {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && tries < 16 => tries += 1,
            Err(e) => return Err(e),
            Ok(fd) => {
                let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("openat2: bad fd"))?;
                // SAFETY: openat2 succeeded, so `fd` is an open descriptor nobody else owns.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
}

fn openat(dir: RawFd, name: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid C string for the whole call; no O_CREAT, so no mode is read.
    let fd = cvt_retry(|| unsafe { libc::openat(dir, name.as_ptr(), flags | BASE_FLAGS) })?;
    // SAFETY: openat succeeded, so `fd` is an open descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The walk for kernels without `openat2`: every component opened with `O_NOFOLLOW` relative
/// to the one before, so no link is followed at all (a link anywhere is `EXDEV`).
fn walk_nofollow(
    root: BorrowedFd<'_>,
    names: &[&OsStr],
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    let Some((last, dirs)) = names.split_last() else {
        return openat(root.as_raw_fd(), &CString::from(c"."), flags);
    };
    let mut cur: Option<OwnedFd> = None;
    for name in dirs {
        let dir = cur.as_ref().map_or(root.as_raw_fd(), AsRawFd::as_raw_fd);
        let fd = openat(dir, &c_name(name)?, libc::O_PATH | libc::O_NOFOLLOW)?;
        let t = File::from(fd).metadata()?.file_type();
        if t.is_symlink() {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        if !t.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        // Open it again as a directory: it may have been swapped for a link meanwhile, which
        // O_NOFOLLOW | O_DIRECTORY then refuses.
        cur = Some(openat(
            dir,
            &c_name(name)?,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        )?);
    }
    let dir = cur.as_ref().map_or(root.as_raw_fd(), AsRawFd::as_raw_fd);
    let name = c_name(last)?;
    match openat(dir, &name, flags | libc::O_NOFOLLOW) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            Err(io::Error::from_raw_os_error(libc::EXDEV))
        }
        Err(e) => Err(e),
        Ok(fd) => {
            // O_PATH | O_NOFOLLOW opens a link itself rather than failing.
            let f = File::from(fd);
            if f.metadata()?.file_type().is_symlink() {
                return Err(io::Error::from_raw_os_error(libc::EXDEV));
            }
            Ok(OwnedFd::from(f))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsFd;

    use super::*;

    fn tree() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("mesolite-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/sub")).unwrap();
        std::fs::write(d.join("root/sub/file"), b"inside").unwrap();
        std::fs::write(d.join("outside"), b"secret").unwrap();
        std::os::unix::fs::symlink("sub/file", d.join("root/inner")).unwrap();
        std::os::unix::fs::symlink("../outside", d.join("root/up")).unwrap();
        std::os::unix::fs::symlink(d.join("outside"), d.join("root/abs")).unwrap();
        std::os::unix::fs::symlink("/", d.join("root/slash")).unwrap();
        nix::unistd::mkfifo(&d.join("root/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        d
    }

    fn read(root: &OwnedFd, rel: &str) -> Result<String, OpenError> {
        let mut s = String::new();
        open_regular_beneath(root.as_fd(), Path::new(rel))?
            .read_to_string(&mut s)
            .unwrap();
        Ok(s)
    }

    #[test]
    fn opens_inside_and_refuses_what_leaves_or_is_not_a_file() {
        let d = tree();
        let root = open_root(&d.join("root")).unwrap();
        for fallback in [false, true] {
            NO_OPENAT2.store(fallback, Ordering::Relaxed);
            assert_eq!(read(&root, "sub/file").unwrap(), "inside");
            assert_eq!(read(&root, "./sub/./file").unwrap(), "inside");
            for bad in ["up", "abs", "slash/etc/passwd", "../outside", "/etc/passwd"] {
                assert!(
                    matches!(read(&root, bad), Err(OpenError::Escapes)),
                    "{bad} (fallback {fallback})"
                );
            }
            assert!(matches!(read(&root, "fifo"), Err(OpenError::NotRegular(t)) if t.is_fifo()));
            assert!(matches!(read(&root, "sub"), Err(OpenError::NotRegular(t)) if t.is_dir()));
            assert!(matches!(read(&root, ""), Err(OpenError::NotRegular(t)) if t.is_dir()));
            assert!(
                matches!(read(&root, "nope"), Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound)
            );
            assert!(open_dir_beneath(root.as_fd(), Path::new("sub")).is_ok());
        }
        // A link that stays inside is followed where openat2 exists, refused by the walk.
        NO_OPENAT2.store(true, Ordering::Relaxed);
        assert!(matches!(read(&root, "inner"), Err(OpenError::Escapes)));
        NO_OPENAT2.store(false, Ordering::Relaxed);
        assert_eq!(read(&root, "inner").unwrap(), "inside");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
