//! The provisioner's libc calls (mounts, device nodes, xattrs, statfs); every `unsafe` block of
//! the provisioner lives here.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Mounts an overlay filesystem on `target` with `options` (`lowerdir=...,upperdir=...`).
pub fn mount_overlay(target: &Path, options: &str) -> io::Result<()> {
    let target = c_path(target)?;
    let data = CString::new(options)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in mount options"))?;
    // SAFETY: every pointer is a valid NUL-terminated string living across the call.
    check(unsafe {
        libc::mount(
            c"overlay".as_ptr(),
            target.as_ptr(),
            c"overlay".as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    })
}

/// Bind-mounts `source` on `target`, then makes that mount read-only (a bind mount ignores
/// `MS_RDONLY` until remounted).
pub fn bind_mount_readonly(source: &Path, target: &Path) -> io::Result<()> {
    let source = c_path(source)?;
    let target = c_path(target)?;
    // SAFETY: valid C strings; NULL fstype and data are allowed for bind mounts.
    check(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            ptr::null(),
            libc::MS_BIND,
            ptr::null(),
        )
    })?;
    // SAFETY: as above; a remount of the bind mount just made.
    let remounted = check(unsafe {
        libc::mount(
            ptr::null(),
            target.as_ptr(),
            ptr::null(),
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            ptr::null(),
        )
    });
    if remounted.is_err() {
        let _ = unmount(
            Path::new(std::ffi::OsStr::from_bytes(target.as_bytes())),
            true,
        );
    }
    remounted
}

/// `umount2(target, MNT_DETACH if detach)`.
pub fn unmount(target: &Path, detach: bool) -> io::Result<()> {
    let target = c_path(target)?;
    let flags = if detach { libc::MNT_DETACH } else { 0 };
    // SAFETY: valid C string.
    check(unsafe { libc::umount2(target.as_ptr(), flags) })
}

/// `mknod(path, mode, dev)`: device nodes and fifos (root only for devices).
pub fn mknod(path: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let c = c_path(path)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: valid C string; mknod reads nothing else from memory.
    check(unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, dev) })
}

/// Overlayfs's file whiteout: a character device 0/0.
pub fn make_overlay_whiteout(path: &Path) -> io::Result<()> {
    mknod(path, libc::S_IFCHR, 0, 0)
}

const OPAQUE_XATTR: &std::ffi::CStr = c"trusted.overlay.opaque";

/// Marks a directory opaque for overlayfs (`trusted.overlay.opaque=y`).
pub fn set_overlay_opaque(dir: &Path) -> io::Result<()> {
    let c = c_path(dir)?;
    // SAFETY: valid C strings; the value pointer and length describe one byte.
    check(unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            OPAQUE_XATTR.as_ptr(),
            b"y".as_ptr().cast(),
            1,
            0,
        )
    })
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
    // SAFETY: statfs is plain data; all-zero is a valid value that the call overwrites.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and a pointer to a statfs struct we own.
    check(unsafe { libc::statfs(c.as_ptr(), &mut buf) })?;
    #[allow(clippy::unnecessary_cast)]
    Ok(buf.f_type as i64)
}
