//! The calls a tree removal is made of, all relative to directory descriptors and none following
//! a symlink: a removal walks what a task wrote (a sandbox, an overlay upper dir), where any name
//! may be a symlink to `/` or a mount point, so nothing is ever resolved by path.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::{Dir, OwningIter, Type};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::{cvt, cvt_retry};

const DIR_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// Where a file lives: its filesystem and, on kernels with `STATX_MNT_ID` (5.8), its mount, so
/// a bind mount of a directory of the same filesystem is told apart too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub dev: (u32, u32),
    pub mount: Option<u64>,
}

/// What a directory entry says it is (`d_type`); `Unknown` on filesystems that do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Other,
    Unknown,
}

#[derive(Debug)]
pub struct Entry {
    pub name: CString,
    pub kind: Kind,
}

/// A path as a C string.
pub fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Opens the directory `path` (its last component must not be a symlink).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = c_path(path)?;
    // SAFETY: `c` is a valid C string for the whole call.
    let fd = cvt_retry(|| unsafe { libc::open(c.as_ptr(), DIR_FLAGS) })?;
    // SAFETY: open succeeded, so `fd` is an open descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `name` in `dir`; ELOOP or ENOTDIR if it is a symlink or not a directory.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid C string and `dir` an open descriptor for the whole call.
    let fd = cvt_retry(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), DIR_FLAGS) })?;
    // SAFETY: openat succeeded, so `fd` is an open descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An `O_PATH` handle on `name` in `dir` itself, a symlink included (not followed).
pub fn open_path_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: as for `open_dir_at`.
    let fd = cvt_retry(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    // SAFETY: openat succeeded, so `fd` is an open descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Where the file open as `fd` lives.
pub fn place(fd: BorrowedFd<'_>) -> io::Result<Place> {
    // SAFETY: statx is plain old data; all zeroes is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let empty = c"";
    // SAFETY: `empty` is a valid C string, `stx` is valid for writes, `fd` is open.
    cvt(unsafe {
        libc::statx(
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_TYPE | libc::STATX_MNT_ID,
            &mut stx,
        )
    })?;
    let mount = (stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id);
    Ok(Place {
        dev: (stx.stx_dev_major, stx.stx_dev_minor),
        mount,
    })
}

/// unlinkat: `name` in `dir`, a directory (AT_REMOVEDIR, which must be empty) or not. EISDIR
/// when a non-directory was expected and `name` is a directory.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &CStr, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `name` is a valid C string and `dir` an open descriptor for the whole call.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    Ok(())
}

/// renameat: `from` in `from_dir` becomes `to` in `to_dir` (both on one filesystem); an
/// existing `to` is never replaced.
pub fn rename_at(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> io::Result<()> {
    // SAFETY: both names are valid C strings and both descriptors open for the whole call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })?;
    Ok(())
}

/// Detaches the mount whose root is open as `fd` (through `<proc_dir>/self/fd/N`, which names
/// that very mount whatever path led to it). Nothing of the mounted filesystem is touched.
pub fn detach_mount(proc_dir: &Path, fd: BorrowedFd<'_>) -> io::Result<()> {
    let path = proc_dir.join("self/fd").join(fd.as_raw_fd().to_string());
    super::mount::unmount(&path, true)
}

/// A directory being read, a batch of entries at a time, without rewinding in between (so
/// entries can be removed while it is read).
#[derive(Debug)]
pub struct DirReader(OwningIter);

impl DirReader {
    /// Reads the directory open as `fd` (from its start, through a descriptor of its own).
    pub fn new(fd: BorrowedFd<'_>) -> io::Result<DirReader> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dir = Dir::openat(fd, c".", flags, Mode::empty())?;
        Ok(DirReader(dir.into_iter()))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is owned by the iterator, which outlives the borrow.
        unsafe { BorrowedFd::borrow_raw(self.0.as_raw_fd()) }
    }

    /// Up to `max` entries, `.` and `..` left out; none at the end of the directory.
    pub fn next_batch(&mut self, max: usize, out: &mut Vec<Entry>) -> io::Result<()> {
        while out.len() < max {
            let Some(entry) = self.0.next() else {
                return Ok(());
            };
            let entry = entry?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let kind = match entry.file_type() {
                Some(Type::Directory) => Kind::Dir,
                Some(_) => Kind::Other,
                None => Kind::Unknown,
            };
            out.push(Entry {
                name: name.to_owned(),
                kind,
            });
        }
        Ok(())
    }
}

impl AsFd for DirReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}
