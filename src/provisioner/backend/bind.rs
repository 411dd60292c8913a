//! The bind backend: one layer, bind-mounted read-only (Mesos's `bind`).

use std::path::{Path, PathBuf};

use super::{io_err, BackendError};
use crate::provisioner::sys;

pub fn provision(layers: &[PathBuf], rootfs: &Path) -> Result<(), BackendError> {
    let [layer] = layers else {
        return Err(BackendError::BindNeedsOneLayer {
            layers: layers.len(),
        });
    };
    sys::bind_mount_readonly(layer, rootfs).map_err(io_err("bind mount onto", rootfs))
}
