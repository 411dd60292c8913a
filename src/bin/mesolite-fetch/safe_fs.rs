//! Writing inside the sandbox without ever leaving it: paths are sandbox-relative with no `..`,
//! and no existing symbolic link is followed on the way to what is written (so a link planted
//! by an earlier archive entry cannot redirect a later write outside, as in MESOS-9610).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{io_err, FetchError};

/// An archive entry name as a relative path: refuses absolute names and `..`, drops `.`.
/// An empty result (the entry `./`) means "the sandbox itself".
pub fn entry_relative(name: &Path) -> Result<PathBuf, FetchError> {
    let escaping = |reason| FetchError::UnsafeEntry {
        entry: name.display().to_string(),
        reason,
    };
    let mut relative = PathBuf::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(escaping("absolute path")),
            Component::ParentDir => return Err(escaping("'..' component")),
        }
    }
    Ok(relative)
}

/// Makes sure `root/relative` is a real directory, creating missing components, refusing any
/// component that is a symbolic link or not a directory.
pub fn ensure_dir(root: &Path, relative: &Path) -> Result<PathBuf, FetchError> {
    let mut current = root.to_path_buf();
    for component in relative.components() {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) => {
                return Err(FetchError::UnsafeEntry {
                    entry: relative.display().to_string(),
                    reason: if meta.file_type().is_symlink() {
                        "its path goes through a symbolic link"
                    } else {
                        "its path goes through a non-directory"
                    },
                })
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
                .mode(0o755)
                .create(&current)
                .map_err(io_err("create directory", &current))?,
            Err(err) => return Err(io_err("inspect", &current)(err)),
        }
    }
    Ok(current)
}

/// Prepares `root/relative` to be (re)written as a file: parents made real directories, an
/// existing symbolic link or file at the place removed (a directory there is an error).
pub fn prepare_file(root: &Path, relative: &Path) -> Result<PathBuf, FetchError> {
    let parent = ensure_dir(root, relative.parent().unwrap_or(Path::new("")))?;
    let name = relative
        .file_name()
        .ok_or_else(|| FetchError::UnsafeEntry {
            entry: relative.display().to_string(),
            reason: "no file name",
        })?;
    let path = parent.join(name);
    remove_non_dir(&path)?;
    Ok(path)
}

/// Removes whatever non-directory is at `path` (never following a link).
pub fn remove_non_dir(path: &Path) -> Result<(), FetchError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(FetchError::Io {
            op: "write",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::AlreadyExists, "a directory is in the way"),
        }),
        Ok(_) => fs::remove_file(path).map_err(io_err("remove", path)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_err("inspect", path)(err)),
    }
}

/// Opens a file for writing, refusing to follow a symbolic link at the last component.
pub fn create(path: &Path) -> Result<File, FetchError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_err("create", path))
}

/// Whether a symbolic link at `link` (sandbox-relative) pointing to `target` stays inside the
/// sandbox, judged on names: no absolute target, never more `..` than directories above it.
pub fn link_target_inside(link: &Path, target: &Path) -> bool {
    let mut depth = link.parent().map_or(0, |p| p.components().count());
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            _ => return false,
        }
    }
    true
}

/// Whether the link at `path`, resolved through the real file system (other links included),
/// stays inside `root`. Checked after an archive is extracted, because a later link can change
/// where an earlier one leads (`a -> .` makes `x -> a/..` point above the sandbox).
pub fn resolves_inside(root: &Path, path: &Path) -> bool {
    let Ok(root) = fs::canonicalize(root) else {
        return false;
    };
    let Ok(target) = fs::read_link(path) else {
        return false;
    };
    let mut candidate = path.parent().unwrap_or(Path::new("/")).join(target);
    // A dangling link: judge the deepest part that exists. The missing names above it are plain
    // names, since `file_name` stops at a `..` (which then counts as leaving).
    loop {
        if let Ok(real) = fs::canonicalize(&candidate) {
            return real.starts_with(&root);
        }
        match (candidate.file_name(), candidate.parent()) {
            (Some(_), Some(parent)) => candidate = parent.to_path_buf(),
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_confined() {
        assert_eq!(
            entry_relative(Path::new("./a/./b")).unwrap(),
            PathBuf::from("a/b")
        );
        assert_eq!(entry_relative(Path::new("./")).unwrap(), PathBuf::new());
        assert!(entry_relative(Path::new("/etc/passwd")).is_err());
        assert!(entry_relative(Path::new("a/../../x")).is_err());
        assert!(entry_relative(Path::new("a/../b")).is_err());
    }

    #[test]
    fn link_targets_are_judged_from_the_link_location() {
        assert!(link_target_inside(
            Path::new("bin/java"),
            Path::new("../jre/bin/java")
        ));
        assert!(link_target_inside(Path::new("a"), Path::new("b/c")));
        assert!(!link_target_inside(Path::new("a"), Path::new("../x")));
        assert!(!link_target_inside(Path::new("d/a"), Path::new("../../x")));
        assert!(!link_target_inside(Path::new("a"), Path::new("/etc")));
    }
}
