//! Unpacking one layer tarball (plain or gzip) into a staging rootfs, hostile-input safe with
//! the fetcher's rules (no absolute names, no `..`, nothing written through a link, hard links
//! only to entries of the layer), converting whiteouts for overlay, hashing the blob as it is
//! read so that its digest is verified before the layer can be committed.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::Path;

use mesolite::provisioner::digest::{Digest, HashingReader};
use mesolite::provisioner::sys;
use mesolite::provisioner::whiteout::{classify, Whiteout, WhiteoutFormat};

use super::error::{io_err, PullError};
use crate::error::FetchError;
use crate::safe_fs::{self, ensure_dir, entry_relative, prepare_file};

fn escaping_entry(entry: &Path, reason: &'static str) -> PullError {
    PullError::Unpack(FetchError::UnsafeEntry {
        entry: entry.display().to_string(),
        reason,
    })
}

/// Unpacks `input` into `rootfs` (created). `what` names the blob in errors. When `expected`
/// is given, the blob's sha256 must match it. Returns the blob's digest and size.
pub fn unpack_layer(
    input: impl Read,
    expected: Option<&Digest>,
    rootfs: &Path,
    format: WhiteoutFormat,
    what: &str,
) -> Result<(Digest, u64), PullError> {
    fs::create_dir_all(rootfs).map_err(io_err("create directory", rootfs))?;
    let archive_err = |err: io::Error| PullError::BadArchive {
        path: what.into(),
        detail: err.to_string(),
    };
    let mut buffered = BufReader::new(HashingReader::new(input));
    let magic = buffered.fill_buf().map_err(archive_err)?.to_vec();
    let hashing = if magic.starts_with(&[0x1f, 0x8b]) {
        let mut tar = tar::Archive::new(flate2::read::MultiGzDecoder::new(buffered));
        unpack_entries(&mut tar, rootfs, format, what)?;
        tar.into_inner().into_inner().into_inner()
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(PullError::BadArchive {
            path: what.into(),
            detail: "zstd-compressed layers are not supported".to_string(),
        });
    } else {
        let mut tar = tar::Archive::new(buffered);
        unpack_entries(&mut tar, rootfs, format, what)?;
        tar.into_inner().into_inner()
    };
    let (actual, size) = hashing.finish().map_err(archive_err)?;
    match expected {
        Some(expected) if *expected != actual => Err(PullError::DigestMismatch {
            what: what.to_string(),
            expected: expected.clone(),
            actual,
        }),
        _ => Ok((actual, size)),
    }
}

/// Unpacks every entry of `tar` under `rootfs` with the rules above (also used for ACIs, whose
/// top level is `manifest` and `rootfs/`, unpacked with the AUFS format: they have no whiteouts).
pub(crate) fn unpack_entries<R: Read>(
    tar: &mut tar::Archive<R>,
    rootfs: &Path,
    format: WhiteoutFormat,
    what: &str,
) -> Result<(), PullError> {
    let archive_err = |err: io::Error| PullError::BadArchive {
        path: what.into(),
        detail: err.to_string(),
    };
    for entry in tar.entries().map_err(archive_err)? {
        let mut entry = entry.map_err(archive_err)?;
        let name = entry.path().map_err(archive_err)?.into_owned();
        let relative = entry_relative(&name)?;
        let Some(file_name) = relative.file_name().map(|n| n.to_owned()) else {
            continue;
        };
        let parent = relative.parent().unwrap_or(Path::new(""));
        match (classify(&file_name), format) {
            (Whiteout::Meta, _) => continue,
            (Whiteout::Opaque, WhiteoutFormat::Overlay) => {
                let dir = ensure_dir(rootfs, parent)?;
                sys::set_overlay_opaque(&dir).map_err(io_err("mark opaque", &dir))?;
                continue;
            }
            (Whiteout::File(hidden), WhiteoutFormat::Overlay) => {
                let path = prepare_file(rootfs, &parent.join(hidden))?;
                sys::make_overlay_whiteout(&path).map_err(io_err("create whiteout", &path))?;
                continue;
            }
            // AUFS form: kept as the empty files they are, for the copy backend.
            _ => {}
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let owner = (header.uid().ok(), header.gid().ok());
        let link_name = entry
            .link_name()
            .map_err(archive_err)?
            .map(|l| l.into_owned());
        use tar::EntryType as T;
        let path = match (entry.header().entry_type(), link_name) {
            (T::Directory, _) => {
                let path = ensure_dir(rootfs, &relative)?;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                    .map_err(io_err("chmod", &path))?;
                path
            }
            (T::Regular | T::Continuous, _) => {
                let path = prepare_file(rootfs, &relative)?;
                let mut out = safe_fs::create(&path)?;
                io::copy(&mut entry, &mut out).map_err(archive_err)?;
                path
            }
            // Any target is fine: it is resolved inside the container's root, and nothing here
            // writes through a link.
            (T::Symlink, Some(target)) => {
                let path = prepare_file(rootfs, &relative)?;
                std::os::unix::fs::symlink(&target, &path)
                    .map_err(io_err("create symbolic link", &path))?;
                path
            }
            (T::Link, Some(target)) => hardlink(rootfs, &relative, &target)?,
            (T::Fifo, _) => {
                let path = prepare_file(rootfs, &relative)?;
                sys::mknod(&path, libc::S_IFIFO | mode, 0, 0)
                    .map_err(io_err("create fifo", &path))?;
                path
            }
            (T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink, _) => continue,
            (other, _) => {
                // Device nodes come from the container's /dev, never from an image.
                eprintln!(
                    "Skipping layer entry '{}' of type {other:?}",
                    relative.display()
                );
                continue;
            }
        };
        if let (Some(uid), Some(gid)) = owner {
            lchown(&path, Some(uid as u32), Some(gid as u32)).map_err(io_err("chown", &path))?;
            // chown clears setuid/setgid: the mode goes back on after it.
            let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            if !is_link {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                    .map_err(io_err("chmod", &path))?;
            }
        }
    }
    Ok(())
}

fn hardlink(
    rootfs: &Path,
    relative: &Path,
    target: &Path,
) -> Result<std::path::PathBuf, PullError> {
    let target_relative = entry_relative(target)
        .map_err(|_| escaping_entry(relative, "hard link pointing outside the layer"))?;
    let target_name = target_relative
        .file_name()
        .ok_or_else(|| escaping_entry(relative, "hard link to the layer root"))?;
    let target_dir = ensure_dir(rootfs, target_relative.parent().unwrap_or(Path::new("")))?;
    let source = target_dir.join(target_name);
    let path = prepare_file(rootfs, relative)?;
    // link(2) does not follow a symbolic link at `source`: at worst it links the link itself.
    fs::hard_link(&source, &path).map_err(io_err("create hard link", &path))?;
    Ok(path)
}
