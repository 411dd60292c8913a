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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            let kind = if name.ends_with('/') {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            };
            h.set_entry_type(kind);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    const MANIFEST: &[u8] = br#"{"acKind":"ImageManifest","name":"example.com/a"}"#;

    #[test]
    fn every_compression_gives_the_id_of_the_tar() {
        let tar = tar_of(&[("manifest", MANIFEST), ("rootfs/", b""), ("rootfs/f", b"x")]);
        let want = ImageId::of_bytes(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&tar).unwrap();
        let forms = [
            ("plain", tar.clone()),
            ("gzip", gz.finish().unwrap()),
            ("bzip2", bz.finish().unwrap()),
            ("xz", xz.finish().unwrap()),
        ];
        let root = std::env::temp_dir().join(format!("mesolite-aci-{}", std::process::id()));
        for (form, bytes) in forms {
            let dir = root.join(form);
            let (id, size) = unpack_aci(&bytes[..], &dir, "example.com/a").unwrap();
            assert_eq!((id, size), (want.clone(), tar.len() as u64), "{form}");
            assert_eq!(fs::read(dir.join("rootfs/f")).unwrap(), b"x");
            check_image(&dir, "example.com/a").unwrap();
            let err = check_image(&dir, "example.com/b").unwrap_err().to_string();
            assert!(err.contains("names 'example.com/a'"), "{err}");
        }
        let no_rootfs = root.join("no-rootfs");
        unpack_aci(&tar_of(&[("manifest", MANIFEST)])[..], &no_rootfs, "a").unwrap();
        let err = check_image(&no_rootfs, "example.com/a")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no 'rootfs' directory"), "{err}");
        fs::remove_dir_all(&root).unwrap();
    }
}
