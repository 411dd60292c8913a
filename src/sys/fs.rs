//! File-system calls std has no wrapper for: device nodes, overlayfs xattrs, statfs/statvfs,
//! reflinks.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::cvt;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// `mknod(path, mode, dev)`: device nodes and fifos (root only for devices).
pub fn mknod(path: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let c = c_path(path)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: valid C string; mknod reads nothing else from memory.
    cvt(unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, dev) })?;
    Ok(())
}

/// Overlayfs's file whiteout: a character device 0/0.
pub fn make_overlay_whiteout(path: &Path) -> io::Result<()> {
    mknod(path, libc::S_IFCHR, 0, 0)
}

const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";

/// Marks a directory opaque for overlayfs (`trusted.overlay.opaque=y`).
pub fn set_overlay_opaque(dir: &Path) -> io::Result<()> {
    let c = c_path(dir)?;
    // SAFETY: valid C strings; the value pointer and length describe one byte.
    cvt(unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            OPAQUE_XATTR.as_ptr(),
            b"y".as_ptr().cast(),
            1,
            0,
        )
    })?;
    Ok(())
}

/// Whether a directory carries overlayfs's opaque mark.
pub fn is_overlay_opaque(dir: &Path) -> bool {
    let Ok(c) = c_path(dir) else {
        return false;
    };
    let mut value = [0u8; 4];
    // SAFETY: valid C strings; the buffer pointer and length describe `value`.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            OPAQUE_XATTR.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

/// The filesystem type magic of the filesystem holding `path` (`statfs.f_type`).
pub fn filesystem_magic(path: &Path) -> io::Result<i64> {
    let c = c_path(path)?;
    let mut buf = MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: valid C string and a pointer to writable memory sized and aligned for a statfs.
    cvt(unsafe { libc::statfs(c.as_ptr(), buf.as_mut_ptr()) })?;
    // SAFETY: statfs succeeded and filled the struct (all-zero is a valid statfs anyway).
    let buf = unsafe { buf.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field widths differ between targets
    Ok(buf.f_type as i64)
}

/// Total size in bytes of the filesystem holding `path` (f_blocks × f_frsize, as Mesos's
/// `fs::size`).
pub fn filesystem_size(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
    let mut stat = MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated string that outlives the call, and `stat` points to
    // writable memory sized and aligned for a `statvfs`.
    cvt(unsafe { libc::statvfs(c.as_ptr(), stat.as_mut_ptr()) })?;
    // SAFETY: statvfs returned 0, so it filled the struct (which was zeroed before anyway,
    // and all-zero is a valid statvfs).
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field widths differ between targets
    Ok((stat.f_blocks as u64).saturating_mul(stat.f_frsize as u64))
}

/// Makes `dest` share the extents of `source` (ioctl FICLONE, a reflink): `false` where the
/// file system cannot (not btrfs/xfs, or not the same file system).
pub fn reflink(source: &File, dest: &File) -> bool {
    // SAFETY: both descriptors are open files borrowed for the whole call; FICLONE takes the
    // source descriptor as its integer argument and touches no memory of ours.
    unsafe { libc::ioctl(dest.as_raw_fd(), libc::FICLONE, source.as_raw_fd()) == 0 }
}
