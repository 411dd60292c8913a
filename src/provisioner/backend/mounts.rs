//! Finding and undoing the mounts below a directory, from `/proc/self/mountinfo`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{io_err, BackendError};
use crate::provisioner::sys;
use crate::sys::mountinfo;

fn mount_points() -> io::Result<Vec<PathBuf>> {
    let text = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mountinfo::parse(&text)
        .into_iter()
        .map(|mount| mount.mount_point)
        .collect())
}

/// Mount points at or below `dir`, deepest (most recently mounted) first.
pub fn mount_points_under(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut found: Vec<PathBuf> = mount_points()?
        .into_iter()
        .filter(|m| m.starts_with(&dir))
        .collect();
    found.reverse();
    Ok(found)
}

pub fn is_mount_point(path: &Path) -> bool {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    mount_points().is_ok_and(|all| all.contains(&path))
}

/// Unmounts everything at or below `dir`: a plain unmount first, a lazy one (`MNT_DETACH`) if
/// busy. Fails if anything is still mounted afterwards.
pub fn unmount_all_under(dir: &Path) -> Result<(), BackendError> {
    if !dir.exists() {
        return Ok(());
    }
    let found = mount_points_under(dir).map_err(io_err("read mounts under", dir))?;
    for mount in &found {
        match sys::unmount(mount, false) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                sys::unmount(mount, true).map_err(io_err("lazily unmount", mount))?
            }
            // Gone already (an outer unmount took it along).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(io_err("unmount", mount)(e)),
        }
    }
    match mount_points_under(dir)
        .map_err(io_err("read mounts under", dir))?
        .first()
    {
        Some(left) => Err(BackendError::StillMounted { path: left.clone() }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_of_this_process() {
        assert!(mount_points().unwrap().contains(&PathBuf::from("/")));
        assert!(is_mount_point(Path::new("/proc")));
    }
}
