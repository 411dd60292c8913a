//! Docker/AUFS whiteouts: `.wh.<name>` hides `<name>` of the layers below, `.wh..wh..opq` makes
//! its directory opaque (hides everything below it). The copy backend applies them; for overlay
//! the store converts them at import into overlayfs's own form (a 0/0 character device, the
//! `trusted.overlay.opaque=y` xattr).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use serde::{Deserialize, Serialize};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// AUFS's own bookkeeping names (`.wh..wh.plnk`, `.wh..wh.aufs`): never part of an image.
const AUFS_META_PREFIX: &str = ".wh..wh.";

/// How whiteouts are kept in a stored layer: as the archive has them (copy, bind) or converted
/// for overlayfs. Mesos keeps the converted tree as `rootfs.overlay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhiteoutFormat {
    Aufs,
    Overlay,
}

impl WhiteoutFormat {
    /// The name of a layer's tree in `layers/<digest>/`.
    pub fn rootfs_name(self) -> &'static str {
        match self {
            WhiteoutFormat::Aufs => "rootfs",
            WhiteoutFormat::Overlay => "rootfs.overlay",
        }
    }
}

/// What an archive entry's file name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// Not a whiteout: a real file.
    None,
    /// `.wh..wh..opq`: the directory holding it is opaque.
    Opaque,
    /// `.wh.<name>`: `<name>` is deleted.
    File(&'a OsStr),
    /// AUFS metadata: skip it.
    Meta,
}

pub fn classify(name: &OsStr) -> Whiteout<'_> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE_MARKER.as_bytes() {
        Whiteout::Opaque
    } else if bytes.starts_with(AUFS_META_PREFIX.as_bytes()) {
        Whiteout::Meta
    } else if let Some(hidden) = bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            Whiteout::Meta
        } else {
            Whiteout::File(OsStr::from_bytes(hidden))
        }
    } else {
        Whiteout::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified() {
        assert_eq!(classify(OsStr::new("file")), Whiteout::None);
        assert_eq!(classify(OsStr::new(".wh..wh..opq")), Whiteout::Opaque);
        assert_eq!(
            classify(OsStr::new(".wh.gone")),
            Whiteout::File(OsStr::new("gone"))
        );
        assert_eq!(classify(OsStr::new(".wh..wh.plnk")), Whiteout::Meta);
        assert_eq!(classify(OsStr::new(".wh...")), Whiteout::Meta);
        assert_eq!(classify(OsStr::new(".whx")), Whiteout::None);
    }
}
