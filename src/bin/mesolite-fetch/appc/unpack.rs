//! Unpacking one ACI (a tar, plain or compressed with gzip, bzip2 or xz) into a staging
//! directory with the puller's hostile-input rules, hashing the uncompressed tar on the way: its
//! sha512 is the image ID (`spec/aci.md`). Then the result is checked to be an image: a
//! `manifest` file and a `rootfs` directory (neither a link), nothing else at the top.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use mesolite::provisioner::appc::spec::IdHashingReader;
use mesolite::provisioner::appc::{AciManifest, ImageId};
use mesolite::provisioner::whiteout::WhiteoutFormat;

use super::error::{io_err, AppcError};
use crate::pull::error::PullError;
use crate::pull::unpack::unpack_entries;

/// A manifest is a few KiB; a bigger one is not read into memory.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Unpacks `input` into `dir` (created); returns the image ID and the uncompressed size.
pub fn unpack_aci(input: impl Read, dir: &Path, image: &str) -> Result<(ImageId, u64), AppcError> {
    fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let unpack_err = |source: PullError| AppcError::Unpack {
        image: image.to_string(),
        source,
    };
    let read_err = |err: std::io::Error| AppcError::Unpack {
        image: image.to_string(),
        source: PullError::BadArchive {
            path: image.into(),
            detail: err.to_string(),
        },
    };
    let mut input = BufReader::new(input);
    let magic = input.fill_buf().map_err(read_err)?.to_vec();
    let decompressed: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else if magic.starts_with(b"BZh") {
        Box::new(bzip2::read::MultiBzDecoder::new(input))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(input))
    } else {
        Box::new(input)
    };
    let mut tar = tar::Archive::new(IdHashingReader::new(decompressed));
    unpack_entries(&mut tar, dir, WhiteoutFormat::Aufs, image).map_err(unpack_err)?;
    tar.into_inner().finish().map_err(read_err)
}

/// Checks the unpacked tree: the ACI layout, and a manifest naming `name` (discovery found the
/// image by that name: the spec wants them equal). Returns the manifest.
pub fn check_image(dir: &Path, name: &str) -> Result<AciManifest, AppcError> {
    let invalid = |detail: String| AppcError::Invalid {
        image: name.to_string(),
        detail,
    };
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))?.flatten() {
        let entry_name = entry.file_name();
        if entry_name != "manifest" && entry_name != "rootfs" {
            return Err(invalid(format!(
                "unexpected top-level entry '{}' (only 'manifest' and 'rootfs' may be there)",
                entry_name.to_string_lossy()
            )));
        }
    }
    let manifest_path = dir.join("manifest");
    match fs::symlink_metadata(&manifest_path) {
        Ok(m) if m.is_file() && m.len() <= MAX_MANIFEST_BYTES => {}
        Ok(m) if m.is_file() => {
            return Err(invalid(format!(
                "its manifest is larger than {MAX_MANIFEST_BYTES} bytes"
            )))
        }
        _ => return Err(invalid("no 'manifest' file".into())),
    }
    if !fs::symlink_metadata(dir.join("rootfs")).is_ok_and(|m| m.is_dir()) {
        return Err(invalid("no 'rootfs' directory".into()));
    }
    let bytes = fs::read(&manifest_path).map_err(io_err("read", &manifest_path))?;
    let manifest = AciManifest::parse(&bytes).map_err(|e| invalid(e.to_string()))?;
    if manifest.name != name {
        return Err(invalid(format!(
            "its manifest names '{}', not '{name}'",
            manifest.name
        )));
    }
    manifest
        .dependency_images()
        .map_err(|e| invalid(format!("a dependency: {e}")))?;
    Ok(manifest)
}
