//! The overlay backend: the layers as overlayfs lowerdirs (top first) under a per-container
//! upper and work dir. The lowerdirs are named through short symbolic links in the scratch dir,
//! so that many layers fit in one page of mount options (MESOS-6000) and the `:` of the store's
//! `sha256:` names never reaches the option string.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{io_err, BackendError};
use crate::provisioner::sys;

fn checked(path: &Path) -> Result<&Path, BackendError> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.contains(&b':') || bytes.contains(&b',') {
        return Err(BackendError::UnusablePath {
            path: path.to_path_buf(),
        });
    }
    Ok(path)
}

pub fn provision(layers: &[PathBuf], rootfs: &Path, scratch: &Path) -> Result<(), BackendError> {
    let links = scratch.join("links");
    let upper = scratch.join("upperdir");
    let work = scratch.join("workdir");
    for dir in [&links, &upper, &work] {
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    }
    let mut lower = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate().rev() {
        let link = links.join(index.to_string());
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(layer, &link).map_err(io_err("create symbolic link", &link))?;
        lower.push(checked(&link)?.display().to_string());
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        checked(&upper)?.display(),
        checked(&work)?.display()
    );
    sys::mount_overlay(checked(rootfs)?, &options).map_err(io_err("mount overlay onto", rootfs))
}
