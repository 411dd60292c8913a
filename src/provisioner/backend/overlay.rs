//! The overlay backend: the layers as overlayfs lowerdirs (top first) under a per-container
//! upper and work dir. The lowerdirs are named through short symbolic links in the scratch dir,
//! so that many layers fit in one page of mount options (MESOS-6000) and the `:` of the store's
//! `sha256:` names never reaches the option string.
//!
//! The mount is `volatile` where the kernel has it (5.10+): a container's upper dir is made for
//! one mount and deleted with the container, so overlayfs need not sync the upper file system,
//! which it otherwise does on every unmount (the whole upper file system, taking 10-25 ms on a
//! busy disk, in the agent's loop).

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

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
    mount(checked(rootfs)?, &options).map_err(io_err("mount overlay onto", rootfs))
}

/// Set once a kernel refused `volatile` (older than 5.10) and took the same mount without it.
static NO_VOLATILE: AtomicBool = AtomicBool::new(false);

fn mount(rootfs: &Path, options: &str) -> std::io::Result<()> {
    if NO_VOLATILE.load(Ordering::Relaxed) {
        return sys::mount_overlay(rootfs, options);
    }
    match sys::mount_overlay(rootfs, &format!("{options},volatile")) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            sys::mount_overlay(rootfs, options)?;
            log::info!("overlayfs has no 'volatile' option here: its unmounts sync the store");
            NO_VOLATILE.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}
