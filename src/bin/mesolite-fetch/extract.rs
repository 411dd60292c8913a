//! Archive extraction into the sandbox root, refusing anything that would escape it.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{io_err, FetchError};
use crate::safe_fs::{self, ensure_dir, entry_relative, link_target_inside, prepare_file};

/// What Mesos extracts, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// `.tar .tgz .tar.gz .tbz2 .tar.bz2 .txz .tar.xz`; the compression is sniffed from the
    /// content, as libarchive does (Mesos's tests name a plain tar `.tar.gz`).
    Tar,
    Zip,
    /// A bare `.gz`: decompressed to the name without `.gz`.
    Gzip,
}

pub fn archive_kind(name: &Path) -> Option<ArchiveKind> {
    let name = name.file_name()?.to_str()?;
    const TAR: [&str; 7] = [
        ".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz",
    ];
    if TAR.iter().any(|ext| name.ends_with(ext)) {
        Some(ArchiveKind::Tar)
    } else if name.ends_with(".zip") {
        Some(ArchiveKind::Zip)
    } else if name.ends_with(".gz") {
        Some(ArchiveKind::Gzip)
    } else {
        None
    }
}

/// Extracts `archive` (named `name` in the sandbox) into `sandbox`.
pub fn extract(
    kind: ArchiveKind,
    archive: &Path,
    name: &Path,
    sandbox: &Path,
) -> Result<(), FetchError> {
    let mut file = File::open(archive).map_err(io_err("open", archive))?;
    let mut links = Vec::new();
    let result = match kind {
        ArchiveKind::Tar => extract_tar(&mut file, archive, sandbox, &mut links),
        ArchiveKind::Zip => extract_zip(file, archive, sandbox, &mut links),
        ArchiveKind::Gzip => gunzip(file, archive, name, sandbox),
    };
    // Links are judged again once all exist: a later link can redirect an earlier one.
    let escaping = links
        .iter()
        .find(|link| !safe_fs::resolves_inside(sandbox, link));
    match (result, escaping) {
        (Err(err), _) => Err(err),
        (Ok(()), Some(link)) => {
            let entry = link
                .strip_prefix(sandbox)
                .unwrap_or(link)
                .display()
                .to_string();
            let _ = fs::remove_file(link);
            Err(FetchError::UnsafeEntry {
                entry,
                reason: "symbolic link resolving outside the sandbox",
            })
        }
        (Ok(()), None) => {
            eprintln!(
                "Extracted '{}' into '{}'",
                archive.display(),
                sandbox.display()
            );
            Ok(())
        }
    }
}

fn archive_err(path: &Path) -> impl Fn(io::Error) -> FetchError + '_ {
    move |err| FetchError::Archive {
        path: path.to_path_buf(),
        detail: err.to_string(),
    }
}

fn extract_tar(
    file: &mut File,
    archive: &Path,
    sandbox: &Path,
    links: &mut Vec<PathBuf>,
) -> Result<(), FetchError> {
    let mut magic = [0u8; 6];
    let got = file.read(&mut magic).map_err(archive_err(archive))?;
    file.seek(SeekFrom::Start(0))
        .map_err(archive_err(archive))?;
    let input = BufReader::new(file);
    let reader: Box<dyn Read + '_> = match &magic[..got] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(input)),
        [b'B', b'Z', b'h', ..] => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        [0xfd, b'7', b'z', b'X', b'Z', 0] => {
            Box::new(xz2::read::XzDecoder::new_multi_decoder(input))
        }
        _ => Box::new(input),
    };
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(archive_err(archive))? {
        let mut entry = entry.map_err(archive_err(archive))?;
        let name = entry.path().map_err(archive_err(archive))?.into_owned();
        let relative = entry_relative(&name)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let mode = entry.header().mode().unwrap_or(0o644);
        let link_name = entry
            .link_name()
            .map_err(archive_err(archive))?
            .map(|l| l.into_owned());
        use tar::EntryType as T;
        match (entry.header().entry_type(), link_name) {
            (T::Directory, _) => make_dir(sandbox, &relative, mode)?,
            (T::Regular | T::Continuous | T::GNUSparse, _) => {
                write_file(sandbox, &relative, mode, &mut entry, archive)?
            }
            (T::Symlink, Some(target)) => links.push(symlink(sandbox, &relative, &target)?),
            (T::Link, Some(target)) => hardlink(sandbox, &relative, &target)?,
            (T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink, _) => {}
            (other, _) => eprintln!(
                "Skipping archive entry '{}' of unsupported type {other:?}",
                relative.display()
            ),
        }
    }
    Ok(())
}

fn extract_zip(
    file: File,
    archive: &Path,
    sandbox: &Path,
    links: &mut Vec<PathBuf>,
) -> Result<(), FetchError> {
    let zip_err = |err: zip::result::ZipError| FetchError::Archive {
        path: archive.to_path_buf(),
        detail: err.to_string(),
    };
    // The zip crate keeps the last of duplicated names, as Mesos's test wants.
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(zip_err)?;
        let name = PathBuf::from(entry.name());
        let relative = entry_relative(&name)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let mode = entry.unix_mode().unwrap_or(0o644);
        if entry.is_dir() {
            make_dir(sandbox, &relative, mode)?;
        } else if entry.is_symlink() {
            let mut target = String::new();
            entry
                .read_to_string(&mut target)
                .map_err(archive_err(archive))?;
            links.push(symlink(sandbox, &relative, Path::new(&target))?);
        } else {
            // Reading to the end checks the CRC: a corrupt entry fails here.
            write_file(sandbox, &relative, mode, &mut entry, archive)?;
        }
    }
    Ok(())
}

fn gunzip(file: File, archive: &Path, name: &Path, sandbox: &Path) -> Result<(), FetchError> {
    let stem = name.with_extension("");
    let mut decoder = flate2::read::MultiGzDecoder::new(BufReader::new(file));
    write_file(sandbox, &stem, 0o644, &mut decoder, archive)
}

fn make_dir(sandbox: &Path, relative: &Path, mode: u32) -> Result<(), FetchError> {
    let path = ensure_dir(sandbox, relative)?;
    // The owner keeps rwx so the rest of the archive can be written below it.
    let perms = fs::Permissions::from_mode((mode & 0o777) | 0o700);
    fs::set_permissions(&path, perms).map_err(io_err("chmod", &path))
}

fn write_file(
    sandbox: &Path,
    relative: &Path,
    mode: u32,
    content: &mut dyn Read,
    archive: &Path,
) -> Result<(), FetchError> {
    let path = prepare_file(sandbox, relative)?;
    let mut out = safe_fs::create(&path)?;
    io::copy(content, &mut out).map_err(archive_err(archive))?;
    // No setuid/setgid/sticky bits from an archive.
    let perms = fs::Permissions::from_mode(mode & 0o777);
    out.set_permissions(perms).map_err(io_err("chmod", &path))
}

fn symlink(sandbox: &Path, relative: &Path, target: &Path) -> Result<PathBuf, FetchError> {
    if !link_target_inside(relative, target) {
        return Err(FetchError::UnsafeEntry {
            entry: relative.display().to_string(),
            reason: "symbolic link pointing outside the sandbox",
        });
    }
    let path = prepare_file(sandbox, relative)?;
    std::os::unix::fs::symlink(target, &path).map_err(io_err("create symbolic link", &path))?;
    Ok(path)
}

fn hardlink(sandbox: &Path, relative: &Path, target: &Path) -> Result<(), FetchError> {
    // Hard link targets name another entry of the archive, relative to its root.
    let target_relative = entry_relative(target).map_err(|_| FetchError::UnsafeEntry {
        entry: relative.display().to_string(),
        reason: "hard link pointing outside the sandbox",
    })?;
    let target_parent = target_relative.parent().unwrap_or(Path::new(""));
    let target_dir = ensure_dir(sandbox, target_parent)?;
    let target_name = target_relative
        .file_name()
        .ok_or_else(|| FetchError::UnsafeEntry {
            entry: relative.display().to_string(),
            reason: "hard link to the sandbox itself",
        })?;
    let source = target_dir.join(target_name);
    let path = prepare_file(sandbox, relative)?;
    // link(2) does not follow a symbolic link at `source`: at worst it links the link itself.
    fs::hard_link(&source, &path).map_err(io_err("create hard link", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_kinds_by_name() {
        for tar in [
            "a.tar",
            "a.tgz",
            "a.tar.gz",
            "a.tbz2",
            "a.tar.bz2",
            "a.txz",
            "a.tar.xz",
        ] {
            assert_eq!(
                archive_kind(Path::new(tar)),
                Some(ArchiveKind::Tar),
                "{tar}"
            );
        }
        assert_eq!(archive_kind(Path::new("sub/a.zip")), Some(ArchiveKind::Zip));
        assert_eq!(archive_kind(Path::new("a.gz")), Some(ArchiveKind::Gzip));
        assert_eq!(archive_kind(Path::new("a.txt")), None);
        assert_eq!(archive_kind(Path::new("a.tar.gz?x=1")), None);
    }
}
