//! The copy backend: every layer copied in order onto one tree, whiteouts applied as they come
//! (Mesos's `backends/copy.cpp`). AUFS whiteouts (`.wh.<name>`, `.wh..wh..opq`) and overlayfs's
//! (0/0 character device, `trusted.overlay.opaque`) are both understood, so the copy backend can
//! also read layers stored for overlay.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{lchown, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{io_err, BackendError};
use crate::provisioner::sys;
use crate::provisioner::whiteout::{classify, Whiteout};

pub fn provision(layers: &[PathBuf], rootfs: &Path) -> Result<(), BackendError> {
    for layer in layers {
        // Hard links are kept within a layer (same inode in the layer = same file in the copy).
        let mut inodes = HashMap::new();
        copy_dir(layer, rootfs, &mut inodes)?;
    }
    Ok(())
}

/// Removes whatever is at `path` (a tree included), never following a link.
fn remove_any(path: &Path) -> Result<(), BackendError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).map_err(io_err("remove", path)),
        Ok(_) => fs::remove_file(path).map_err(io_err("remove", path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("inspect", path)(e)),
    }
}

fn clear_dir(dir: &Path) -> Result<(), BackendError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        remove_any(&entry.path())?;
    }
    Ok(())
}

fn copy_dir(
    src: &Path,
    dst: &Path,
    inodes: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), BackendError> {
    let entries: Vec<fs::DirEntry> = fs::read_dir(src)
        .map_err(io_err("list", src))?
        .collect::<Result<_, _>>()
        .map_err(io_err("list", src))?;
    // An opaque directory hides the lower layers' content before this layer's is added.
    let opaque = entries
        .iter()
        .any(|e| classify(&e.file_name()) == Whiteout::Opaque)
        || sys::is_overlay_opaque(src);
    if opaque {
        clear_dir(dst)?;
    }
    for entry in entries {
        let name = entry.file_name();
        let from = entry.path();
        match classify(&name) {
            Whiteout::Opaque | Whiteout::Meta => continue,
            Whiteout::File(hidden) => {
                remove_any(&dst.join(hidden))?;
                continue;
            }
            Whiteout::None => {}
        }
        let to = dst.join(&name);
        let meta = fs::symlink_metadata(&from).map_err(io_err("inspect", &from))?;
        let kind = meta.file_type();
        if kind.is_char_device() && meta.rdev() == 0 {
            // overlayfs's whiteout.
            remove_any(&to)?;
            continue;
        }
        if kind.is_dir() {
            if !fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
                remove_any(&to)?;
                fs::create_dir(&to).map_err(io_err("create directory", &to))?;
            }
            copy_dir(&from, &to, inodes)?;
        } else {
            remove_any(&to)?;
            if meta.nlink() > 1 && !kind.is_symlink() {
                if let Some(first) = inodes.get(&(meta.dev(), meta.ino())) {
                    fs::hard_link(first, &to).map_err(io_err("create hard link", &to))?;
                    continue;
                }
                inodes.insert((meta.dev(), meta.ino()), to.clone());
            }
            copy_node(&from, &to, &meta)?;
        }
        set_owner_and_mode(&to, &meta)?;
    }
    Ok(())
}

fn copy_node(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<(), BackendError> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = fs::read_link(from).map_err(io_err("read link", from))?;
        std::os::unix::fs::symlink(target, to).map_err(io_err("create symbolic link", to))
    } else if kind.is_file() {
        fs::copy(from, to)
            .map(|_| ())
            .map_err(io_err("copy into", to))
    } else if kind.is_socket() {
        Ok(())
    } else {
        // Devices and fifos.
        let rdev = meta.rdev();
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        sys::mknod(to, meta.mode(), major, minor).map_err(io_err("create node", to))
    }
}

fn set_owner_and_mode(to: &Path, meta: &fs::Metadata) -> Result<(), BackendError> {
    lchown(to, Some(meta.uid()), Some(meta.gid())).map_err(io_err("chown", to))?;
    if !meta.file_type().is_symlink() {
        // After chown, which clears setuid bits.
        let mode = fs::Permissions::from_mode(meta.mode() & 0o7777);
        fs::set_permissions(to, mode).map_err(io_err("chmod", to))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (path, content) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            if path.to_str().unwrap().ends_with('/') {
                fs::create_dir_all(&path).unwrap();
            } else {
                fs::write(&path, content).unwrap();
            }
        }
    }

    #[test]
    fn whiteouts_and_opaque_dirs_are_applied_in_order() {
        let t = std::env::temp_dir().join(format!("mesolite-copy-{}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        let (l1, l2, l3, root) = (t.join("l1"), t.join("l2"), t.join("l3"), t.join("root"));
        tree(
            &l1,
            &[
                ("etc/keep", "1"),
                ("etc/gone", "1"),
                ("opq/old", "1"),
                ("opq/sub/older", "1"),
                ("dir/a", "1"),
                ("replace", "file"),
            ],
        );
        std::os::unix::fs::symlink("etc/keep", l1.join("link")).unwrap();
        tree(
            &l2,
            &[
                ("etc/.wh.gone", ""),
                ("opq/.wh..wh..opq", ""),
                ("opq/new", "2"),
                ("etc/keep", "2"),
                (".wh.dir", ""),
                ("replace/inside", "now a dir"),
                (".wh..wh.plnk/x", ""),
            ],
        );
        tree(&l3, &[("dir/b", "3")]);
        fs::create_dir_all(&root).unwrap();
        provision(&[l1.clone(), l2.clone(), l3.clone()], &root).unwrap();
        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("etc/keep"), "2");
        assert!(!root.join("etc/gone").exists());
        assert!(!root.join("etc/.wh.gone").exists());
        assert!(!root.join("opq/old").exists() && !root.join("opq/sub").exists());
        assert!(!root.join("opq/.wh..wh..opq").exists());
        assert_eq!(read("opq/new"), "2");
        // Deleted by layer 2, recreated by layer 3 with only its own content.
        assert!(!root.join("dir/a").exists());
        assert_eq!(read("dir/b"), "3");
        assert_eq!(read("replace/inside"), "now a dir");
        assert_eq!(
            fs::read_link(root.join("link")).unwrap(),
            Path::new("etc/keep")
        );
        assert!(!root.join(".wh..wh.plnk").exists());
        fs::remove_dir_all(&t).unwrap();
    }
}
