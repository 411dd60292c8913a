//! Backends: turn an image's layer trees (bottom first) into one container root filesystem.
//! `copy` copies every layer applying whiteouts; `bind` read-only bind-mounts a single layer;
//! `overlay` stacks the layers as overlayfs lowerdirs under a per-container upper dir.
//!
//! Per-container paths follow Mesos (`provisioner/paths.hpp`):
//! `<work_dir>/provisioner/containers/<cid>/backends/<backend>/{rootfses,scratch}/<rootfs id>`.

mod bind;
mod copy;
mod mounts;
mod overlay;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::provisioner::sys;
use crate::provisioner::whiteout::WhiteoutFormat;

pub use mounts::{is_mount_point, mount_points_under, unmount_all_under};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Copy,
    Bind,
    Overlay,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Copy => "copy",
            BackendKind::Bind => "bind",
            BackendKind::Overlay => "overlay",
        }
    }

    /// The form in which this backend wants the store's layers.
    pub fn whiteout_format(self) -> WhiteoutFormat {
        match self {
            BackendKind::Overlay => WhiteoutFormat::Overlay,
            BackendKind::Copy | BackendKind::Bind => WhiteoutFormat::Aufs,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<BackendKind, BackendError> {
        match s {
            "copy" => Ok(BackendKind::Copy),
            "bind" => Ok(BackendKind::Bind),
            "overlay" => Ok(BackendKind::Overlay),
            other => Err(BackendError::Unknown {
                name: other.to_string(),
            }),
        }
    }
}

#[derive(Debug)]
pub enum BackendError {
    /// `--image_provisioner_backend` names no backend we have (`aufs` included).
    Unknown { name: String },
    /// The bind backend takes exactly one layer.
    BindNeedsOneLayer { layers: usize },
    /// A path the overlay mount options cannot carry (`:` or `,` in it).
    UnusablePath { path: PathBuf },
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Something stays mounted under a rootfs being removed; nothing was deleted.
    StillMounted { path: PathBuf },
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Unknown { name } => write!(f, "Unknown provisioner backend '{name}'"),
            BackendError::BindNeedsOneLayer { layers } => write!(
                f,
                "The bind backend supports only single-layer images, this one has {layers}"
            ),
            BackendError::UnusablePath { path } => write!(
                f,
                "Path '{}' cannot be given to overlayfs (':' or ',' in it)",
                path.display()
            ),
            BackendError::Io { op, path, source } => {
                write!(f, "Failed to {op} '{}': {source}", path.display())
            }
            BackendError::StillMounted { path } => write!(
                f,
                "'{}' is still mounted; refusing to remove it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for BackendError {}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> BackendError + 'a {
    move |source| BackendError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Where one container rootfs lives, and its backend's scratch space (overlay's upper/work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsPaths {
    pub rootfs: PathBuf,
    pub scratch: PathBuf,
}

impl RootfsPaths {
    pub fn new(work_dir: &Path, container_id: &str, backend: BackendKind, rootfs_id: &str) -> Self {
        let dir = container_dir(work_dir, container_id)
            .join("backends")
            .join(backend.name());
        RootfsPaths {
            rootfs: dir.join("rootfses").join(rootfs_id),
            scratch: dir.join("scratch").join(rootfs_id),
        }
    }
}

/// `<work_dir>/provisioner/containers/<container_id>`: everything provisioned for a container.
pub fn container_dir(work_dir: &Path, container_id: &str) -> PathBuf {
    work_dir
        .join("provisioner")
        .join("containers")
        .join(container_id)
}

/// Filesystems overlayfs cannot use as lower/upper dirs (Mesos's list; ecryptfs included).
const OVERLAY_UNFRIENDLY: [(i64, &str); 5] = [
    (0x9123_683e, "btrfs"),
    (0x6175_6673, "aufs"),
    (0x794c_7630, "overlay"),
    (0x2fc1_2fc1, "zfs"),
    (0xf15f, "ecryptfs"),
];

/// Why overlay cannot be used for a store.
#[derive(Debug)]
pub enum OverlayUnavailable {
    /// `/proc/filesystems` has no `overlay` line.
    NotInKernel,
    /// The store is on a filesystem overlayfs cannot use (`btrfs`, `zfs`, ...).
    UnfriendlyFilesystem { filesystem: &'static str },
    /// statfs of the store (or its deepest existing ancestor) failed.
    Statfs { path: PathBuf, source: io::Error },
}

impl fmt::Display for OverlayUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverlayUnavailable::NotInKernel => {
                f.write_str("the kernel does not list overlay in /proc/filesystems")
            }
            OverlayUnavailable::UnfriendlyFilesystem { filesystem } => {
                write!(f, "the store is on {filesystem}")
            }
            OverlayUnavailable::Statfs { path, source } => {
                write!(f, "cannot statfs '{}': {source}", path.display())
            }
        }
    }
}

impl std::error::Error for OverlayUnavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OverlayUnavailable::Statfs { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why overlay cannot be used for a store at `store_dir`, or `None` if it can.
pub fn overlay_unavailable(store_dir: &Path) -> Option<OverlayUnavailable> {
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let supported = filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    if !supported {
        return Some(OverlayUnavailable::NotInKernel);
    }
    // The store may not exist yet: judge the deepest existing ancestor.
    let existing = store_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    match sys::filesystem_magic(existing) {
        Ok(magic) => OVERLAY_UNFRIENDLY
            .iter()
            .find(|(m, _)| *m == magic)
            .map(|&(_, filesystem)| OverlayUnavailable::UnfriendlyFilesystem { filesystem }),
        Err(source) => Some(OverlayUnavailable::Statfs {
            path: existing.to_path_buf(),
            source,
        }),
    }
}

/// Mesos's default choice: overlay where the kernel and the store's filesystem allow, else copy.
pub fn default_backend(store_dir: &Path) -> BackendKind {
    match overlay_unavailable(store_dir) {
        None => BackendKind::Overlay,
        Some(_) => BackendKind::Copy,
    }
}

/// Makes `paths.rootfs` from `layers` (bottom first, in `backend.whiteout_format()`). On
/// failure, what was made is undone.
pub fn provision(
    backend: BackendKind,
    layers: &[PathBuf],
    paths: &RootfsPaths,
) -> Result<(), BackendError> {
    fs::create_dir_all(&paths.rootfs).map_err(io_err("create directory", &paths.rootfs))?;
    let made = match backend {
        BackendKind::Copy => copy::provision(layers, &paths.rootfs),
        BackendKind::Bind => bind::provision(layers, &paths.rootfs),
        BackendKind::Overlay => overlay::provision(layers, &paths.rootfs, &paths.scratch),
    };
    if made.is_err() {
        let _ = destroy(paths);
    }
    made
}

/// Unmounts (lazily when busy, MESOS-9196) and removes one rootfs and its scratch space.
pub fn destroy(paths: &RootfsPaths) -> Result<(), BackendError> {
    mounts::unmount_all_under(&paths.rootfs)?;
    for dir in [&paths.rootfs, &paths.scratch] {
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err("remove", dir)(e)),
            _ => {}
        }
    }
    Ok(())
}

/// Removes everything provisioned for a container (idempotent): every mount below its
/// directory is undone first, and nothing is deleted while something stays mounted.
pub fn destroy_container(work_dir: &Path, container_id: &str) -> Result<(), BackendError> {
    let dir = container_dir(work_dir, container_id);
    mounts::unmount_all_under(&dir)?;
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", &dir)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_unavailable_reasons_read_as_before() {
        assert_eq!(
            OverlayUnavailable::NotInKernel.to_string(),
            "the kernel does not list overlay in /proc/filesystems"
        );
        let fs = OverlayUnavailable::UnfriendlyFilesystem { filesystem: "zfs" };
        assert_eq!(fs.to_string(), "the store is on zfs");
        let statfs = OverlayUnavailable::Statfs {
            path: PathBuf::from("/store"),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert!(
            statfs
                .to_string()
                .starts_with("cannot statfs '/store': Permission denied"),
            "{statfs}"
        );
    }
}
