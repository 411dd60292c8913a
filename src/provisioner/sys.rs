//! The provisioner's OS calls (mounts, device nodes, xattrs, statfs), from `crate::sys`.

pub use crate::sys::fs::{
    filesystem_magic, is_overlay_opaque, make_overlay_whiteout, mknod, set_overlay_opaque,
};
pub use crate::sys::mount::{bind_mount_readonly, mount_overlay, unmount};
