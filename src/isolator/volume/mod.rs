//! Volumes: a host or sandbox directory (or file) bind-mounted into the container's own mount
//! namespace. Everything is resolved here, in the agent, before the clone: symlinks followed and
//! checked, missing sandbox directories created; the init only mounts.
//!
//! Without a container rootfs, the mount point is on the host's filesystem (the mount itself is
//! seen only inside the container), so a missing mount point is created only under the sandbox.
//! With one (filesystem/linux and an image), absolute mount points are in the rootfs and are
//! created there; the init mounts them before it enters the rootfs.

pub mod host_path;
pub mod sandbox_path;

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{IsolatorError, Plan, PrepareCtx};
use crate::launcher::MountStep;
use crate::spec::{Volume, VolumeMode};
use crate::sys::process::CLONE_NEWNS;

/// Where a volume's contents are.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin<'a> {
    /// An absolute host path, which must exist.
    Host(&'a Path),
    /// A path relative to the sandbox, created as a directory if missing.
    Sandbox(&'a Path),
}

/// Plans the bind mount of one volume.
pub(super) fn plan_volume(
    ctx: &PrepareCtx<'_>,
    volume: &Volume,
    from: Origin<'_>,
    plan: &mut Plan,
) -> Result<(), IsolatorError> {
    let sandbox = fs::canonicalize(ctx.sandbox).map_err(|source| IsolatorError::Path {
        what: "resolve the sandbox",
        path: ctx.sandbox.to_path_buf(),
        source,
    })?;
    let source = match from {
        Origin::Host(path) => fs::canonicalize(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                IsolatorError::Request(format!("host path {} does not exist", path.display()))
            }
            _ => IsolatorError::Path {
                what: "resolve host path",
                path: path.to_path_buf(),
                source: e,
            },
        })?,
        Origin::Sandbox(rel) => {
            let like = Some(volume.container_path.as_path()).filter(|p| p.is_absolute());
            in_sandbox(ctx, &sandbox, rel, Kind::Dir, like)?
        }
    };
    let is_dir = source.is_dir();
    let kind = if is_dir { Kind::Dir } else { Kind::File };
    let target = if let (Some(rootfs), true) = (ctx.rootfs, volume.container_path.is_absolute()) {
        // Inside an image the mount point is in its rootfs, made if missing (Mesos does too);
        // one that resolves out of the rootfs is refused like a sandbox escape.
        let root = fs::canonicalize(rootfs).map_err(|source| IsolatorError::Path {
            what: "resolve the rootfs",
            path: rootfs.to_path_buf(),
            source,
        })?;
        let rel = volume
            .container_path
            .strip_prefix("/")
            .unwrap_or(&volume.container_path);
        if rel.as_os_str().is_empty() {
            return Err(IsolatorError::Request(
                "container_path '/' is not a mount point a volume may take".into(),
            ));
        }
        in_sandbox(ctx, &root, rel, kind, None)?
    } else if volume.container_path.is_absolute() && !volume.container_path.starts_with(ctx.sandbox)
    {
        let cp = &volume.container_path;
        if cp == Path::new("/") {
            return Err(IsolatorError::Request(
                "container_path '/' is not a mount point a volume may take".into(),
            ));
        }
        let target = fs::canonicalize(cp).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => IsolatorError::Request(format!(
                "mount point {} does not exist (without a container image, only mount points \
                 under the sandbox are created)",
                cp.display()
            )),
            _ => IsolatorError::Path {
                what: "resolve mount point",
                path: cp.to_path_buf(),
                source: e,
            },
        })?;
        // The task starts in its sandbox: a mount over it or one of its parents would hide it.
        if sandbox.starts_with(&target) || ctx.sandbox.starts_with(cp) {
            return Err(IsolatorError::Request(format!(
                "a volume at {} would hide the sandbox {}",
                cp.display(),
                ctx.sandbox.display()
            )));
        }
        if target.is_dir() != is_dir {
            return Err(IsolatorError::Request(format!(
                "cannot mount {} {} on {} {}",
                if is_dir { "directory" } else { "file" },
                source.display(),
                if is_dir { "file" } else { "directory" },
                target.display()
            )));
        }
        target
    } else {
        let rel = volume
            .container_path
            .strip_prefix(ctx.sandbox)
            .unwrap_or(&volume.container_path);
        in_sandbox(ctx, &sandbox, rel, kind, None)?
    };
    plan.namespaces |= CLONE_NEWNS;
    plan.child.mounts.push(MountStep::Bind {
        source: cpath(&source)?,
        target: cpath(&target)?,
        read_only: volume.mode == VolumeMode::Ro,
    });
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Dir,
    File,
}

/// Resolves `rel` under the (canonical) sandbox, refusing a path that leaves it through a
/// symlink, and creates it if missing: a directory (with the permissions of `like` on the host
/// if that is a directory) or an empty file, owned by the task's user.
fn in_sandbox(
    ctx: &PrepareCtx<'_>,
    sandbox: &Path,
    rel: &Path,
    kind: Kind,
    like: Option<&Path>,
) -> Result<PathBuf, IsolatorError> {
    let path = sandbox.join(rel);
    // The deepest part that exists must resolve inside the sandbox; what is missing below it is
    // created afresh and so cannot be a symlink.
    let mut existing = path.as_path();
    while fs::symlink_metadata(existing).is_err() {
        existing = existing.parent().unwrap_or(sandbox);
    }
    let resolved = fs::canonicalize(existing).map_err(|source| IsolatorError::Path {
        what: "resolve",
        path: existing.to_path_buf(),
        source,
    })?;
    if !resolved.starts_with(sandbox) {
        return Err(IsolatorError::Request(format!(
            "{} escapes the sandbox (it resolves to {})",
            rel.display(),
            resolved.display()
        )));
    }
    if existing == path {
        return Ok(resolved);
    }
    let missing = path.strip_prefix(existing).unwrap_or(rel);
    let full = resolved.join(missing);
    let created_dir = match kind {
        Kind::Dir => full.as_path(),
        Kind::File => full.parent().unwrap_or(sandbox),
    };
    fs::create_dir_all(created_dir).map_err(|source| IsolatorError::Path {
        what: "create",
        path: created_dir.to_path_buf(),
        source,
    })?;
    if kind == Kind::File {
        fs::File::create(&full).map_err(|source| IsolatorError::Path {
            what: "create",
            path: full.to_path_buf(),
            source,
        })?;
    }
    if let Some(mode) = like
        .and_then(|l| fs::metadata(l).ok())
        .filter(|m| m.is_dir())
        .map(|m| m.permissions().mode() & 0o7777)
    {
        fs::set_permissions(&full, fs::Permissions::from_mode(mode)).map_err(|source| {
            IsolatorError::Path {
                what: "set the mode of",
                path: full.to_path_buf(),
                source,
            }
        })?;
    }
    if let Some((uid, gid)) = ctx.user {
        // Every directory created, so that the task may use its volume.
        let mut p = full.as_path();
        while p != resolved && p.starts_with(&resolved) {
            chown(p, Some(uid), Some(gid)).map_err(|source| IsolatorError::Path {
                what: "chown",
                path: p.to_path_buf(),
                source,
            })?;
            p = p.parent().unwrap_or(&resolved);
        }
    }
    Ok(full)
}

fn cpath(p: &Path) -> Result<CString, IsolatorError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| IsolatorError::Request(format!("{} has a NUL byte", p.display())))
}
