//! `disk/xfs`: XFS project quotas on the sandboxes (Mesos's docs/isolators/disk-xfs.md). Each
//! container gets a project ID from `--xfs_project_range`, set on its sandbox with PROJINHERIT,
//! and a block hard limit at its `disk` resource: writes past it fail with EDQUOT inside the
//! container, and usage comes from the quota (one quotactl), never from `du`.
//!
//! This file keeps the quota state (which IDs are in use, `XfsQuota`); the isolator that drives
//! it through the life cycle is `xfs_isolator.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::ProjectRange;
use crate::sys::quota::{self, ProjectQuota};

/// The IDs of a range in use; allocation takes the lowest free one.
#[derive(Debug)]
pub struct Projects {
    range: ProjectRange,
    used: BTreeSet<u32>,
}

impl Projects {
    pub fn new(range: ProjectRange) -> Projects {
        Projects {
            range,
            used: BTreeSet::new(),
        }
    }

    pub fn allocate(&mut self) -> Option<u32> {
        let id = (self.range.first..=self.range.last).find(|id| !self.used.contains(id))?;
        self.used.insert(id);
        Some(id)
    }

    /// Marks an ID found in use (recovery); false if it is outside the range.
    pub fn mark_used(&mut self, id: u32) -> bool {
        self.range.contains(id) && self.used.insert(id)
    }

    pub fn free(&mut self, id: u32) {
        self.used.remove(&id);
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

/// Why disk/xfs cannot start or could not do its work.
#[derive(Debug)]
pub enum XfsError {
    /// The work_dir's mount was not found in mountinfo.
    NoMount(PathBuf),
    NotXfs {
        work_dir: PathBuf,
        fstype: String,
    },
    QuotaState {
        device: String,
        error: std::io::Error,
    },
    NoProjectQuota {
        device: String,
        mount: PathBuf,
    },
    /// Every ID of the range is in use.
    RangeExhausted(ProjectRange),
    SetProject {
        path: PathBuf,
        error: std::io::Error,
    },
    SetLimit {
        projid: u32,
        error: std::io::Error,
    },
}

impl fmt::Display for XfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMount(p) => write!(f, "no mount found for {} in mountinfo", p.display()),
            Self::NotXfs { work_dir, fstype } => write!(
                f,
                "disk/xfs needs --work_dir on XFS; {} is on {fstype}",
                work_dir.display()
            ),
            Self::QuotaState { device, error } => {
                write!(f, "cannot read the quota state of {device}: {error}")
            }
            Self::NoProjectQuota { device, mount } => write!(
                f,
                "project quotas are not enabled on {device}: mount {} with -o prjquota \
                 (on a kernel with XFS quota support)",
                mount.display()
            ),
            Self::RangeExhausted(r) => write!(f, "no free project ID left in {r}"),
            Self::SetProject { path, error } => {
                write!(
                    f,
                    "cannot set the project ID of {}: {error}",
                    path.display()
                )
            }
            Self::SetLimit { projid, error } => {
                write!(f, "cannot set the quota of project {projid}: {error}")
            }
        }
    }
}

impl std::error::Error for XfsError {}

/// A mount from mountinfo: where, what type, from which device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
}

/// The mount holding `path` (absolute, canonical): the longest mount point above it, the last
/// listed among equals (it is on top).
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<MountEntry> {
    let mut best: Option<MountEntry> = None;
    for mount in crate::sys::mountinfo::parse(mountinfo) {
        if !path.starts_with(&mount.mount_point) {
            continue;
        }
        let longer = best
            .as_ref()
            .is_none_or(|b| mount.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len());
        if longer {
            best = Some(MountEntry {
                mount_point: mount.mount_point,
                fstype: mount.fs_type,
                source: mount.source,
            });
        }
    }
    best
}

/// The project quotas of the work_dir's filesystem, and which sandbox holds which ID.
#[derive(Debug)]
pub struct XfsQuota {
    device: CString,
    projects: Projects,
    by_sandbox: BTreeMap<PathBuf, u32>,
}

impl XfsQuota {
    /// Checks that `work_dir` is on XFS with project quotas on, or says why not.
    pub fn open(work_dir: &Path, mountinfo: &str, range: ProjectRange) -> Result<Self, XfsError> {
        let canonical = work_dir
            .canonicalize()
            .unwrap_or_else(|_| work_dir.to_path_buf());
        let mount =
            mount_of(mountinfo, &canonical).ok_or_else(|| XfsError::NoMount(canonical.clone()))?;
        if mount.fstype != "xfs" {
            return Err(XfsError::NotXfs {
                work_dir: canonical,
                fstype: mount.fstype,
            });
        }
        let device = CString::new(mount.source.as_bytes()).map_err(|_| XfsError::QuotaState {
            device: mount.source.clone(),
            error: std::io::ErrorKind::InvalidInput.into(),
        })?;
        let (accounted, enforced) = match quota::project_quota_state(&device) {
            Ok(state) => state,
            // XFS answers ENOSYS when no quota is on (and so does a kernel without XFS quotas).
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => (false, false),
            Err(error) => {
                return Err(XfsError::QuotaState {
                    device: mount.source,
                    error,
                })
            }
        };
        if !accounted || !enforced {
            return Err(XfsError::NoProjectQuota {
                device: mount.source,
                mount: mount.mount_point,
            });
        }
        Ok(XfsQuota {
            device,
            projects: Projects::new(range),
            by_sandbox: BTreeMap::new(),
        })
    }

    /// Recovery: the IDs on the sandboxes under `sandboxes` are in use (a restarted agent must
    /// not hand them out again).
    pub fn recover(&mut self, sandboxes: &Path) {
        let Ok(rd) = std::fs::read_dir(sandboxes) else {
            return;
        };
        for entry in rd.flatten() {
            let path = entry.path();
            if let Ok((id, _)) = quota::project_id(&path) {
                if self.projects.mark_used(id) {
                    self.by_sandbox.insert(path, id);
                }
            }
        }
        log::info!(
            "disk/xfs: {} project IDs in use after recovery",
            self.projects.in_use()
        );
    }

    /// PREPARE: a project for `sandbox` (and what is already in it), limited to `limit` bytes
    /// (0: no limit, usage is still accounted).
    pub fn prepare(&mut self, sandbox: &Path, limit: u64) -> Result<u32, XfsError> {
        let projid = self
            .projects
            .allocate()
            .ok_or(XfsError::RangeExhausted(self.projects.range))?;
        self.by_sandbox.insert(sandbox.to_path_buf(), projid);
        quota::set_project_limit(&self.device, projid, limit)
            .map_err(|error| XfsError::SetLimit { projid, error })?;
        set_tree(sandbox, projid).map_err(|(path, error)| XfsError::SetProject { path, error })?;
        Ok(projid)
    }

    /// Usage and limit of the sandbox's project, if it has one.
    pub fn quota(&self, sandbox: &Path) -> Option<Result<ProjectQuota, std::io::Error>> {
        let projid = *self.by_sandbox.get(sandbox)?;
        Some(quota::get_project_quota(&self.device, projid))
    }

    /// Cleanup, first half (quick, in the loop): the limit is lifted and the sandbox's project
    /// handed back, still reserved. The caller resets the tree ([`reset_tree`], a walk of the
    /// whole sandbox: off the loop) and then calls [`XfsQuota::finish_cleanup`].
    pub fn begin_cleanup(&mut self, sandbox: &Path) -> Option<u32> {
        let projid = self.by_sandbox.remove(sandbox)?;
        if let Err(e) = quota::set_project_limit(&self.device, projid, 0) {
            log::warn!("disk/xfs: cannot clear the quota of project {projid}: {e}");
        }
        Some(projid)
    }

    /// Cleanup, second half: once the sandbox's files carry no project (`reset`), its ID is
    /// free. Otherwise it stays reserved (files still charged to it would count against its
    /// next owner) and the container's REMOVE tries again.
    pub fn finish_cleanup(&mut self, sandbox: &Path, projid: u32, reset: bool) {
        if reset {
            log::info!(
                "disk/xfs: project {projid} of {} released",
                sandbox.display()
            );
            self.projects.free(projid);
        } else {
            log::warn!(
                "disk/xfs: the project of {} was not reset; project {projid} stays reserved",
                sandbox.display()
            );
            self.by_sandbox.insert(sandbox.to_path_buf(), projid);
        }
    }
}

/// Takes every file below `sandbox` out of its project (which moves their usage out of it). A
/// sandbox or file removed meanwhile is fine: it is charged to nothing any more.
pub fn reset_tree(sandbox: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    set_tree(sandbox, 0)
}

/// Sets the project ID on `root` and every directory and regular file below it, without
/// following symlinks (a task could plant one pointing outside its sandbox). Directories get
/// PROJINHERIT when `projid` is not 0. What vanishes during the walk is skipped.
fn set_tree(root: &Path, projid: u32) -> Result<(), (PathBuf, std::io::Error)> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        match quota::set_project_id(&dir, projid, projid != 0) {
            Err(e) if gone(&e) => continue,
            Err(e) => return Err((dir, e)),
            Ok(()) => {}
        }
        let rd = match std::fs::read_dir(&dir) {
            Err(e) if gone(&e) => continue,
            Err(e) => return Err((dir, e)),
            Ok(rd) => rd,
        };
        for entry in rd.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                if let Err(e) = quota::set_project_id(&path, projid, false) {
                    log::debug!("disk/xfs: project of {}: {e}", path.display());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_parse_range() {
        assert_eq!(
            "[5000-10000]".parse(),
            Ok(ProjectRange {
                first: 5000,
                last: 10000
            })
        );
        assert_eq!(" [7-7] ".parse(), Ok(ProjectRange { first: 7, last: 7 }));
        for bad in [
            "5000-10000",
            "[5000]",
            "[10-5]",
            "[0-5]",
            "[a-b]",
            "[1-4294967295]",
            "[-5-10]",
            "",
        ] {
            assert!(bad.parse::<ProjectRange>().is_err(), "{bad}");
        }
        let r: ProjectRange = "[5000-10000]".parse().unwrap();
        assert_eq!(r.to_string(), "[5000-10000]");
    }

    #[test]
    fn test_allocation_lowest_free_and_exhaustion() {
        let mut p = Projects::new(ProjectRange {
            first: 10,
            last: 12,
        });
        assert_eq!(p.allocate(), Some(10));
        assert_eq!(p.allocate(), Some(11));
        p.free(10);
        assert_eq!(p.allocate(), Some(10));
        assert_eq!(p.allocate(), Some(12));
        assert_eq!(p.allocate(), None);
        p.free(11);
        assert_eq!(p.allocate(), Some(11));
    }

    #[test]
    fn test_recovered_ids_are_not_reused() {
        let mut p = Projects::new(ProjectRange {
            first: 10,
            last: 13,
        });
        assert!(p.mark_used(10));
        assert!(p.mark_used(12));
        assert!(!p.mark_used(99), "outside the range");
        assert!(!p.mark_used(0), "no project");
        assert_eq!(p.allocate(), Some(11));
        assert_eq!(p.allocate(), Some(13));
        assert_eq!(p.allocate(), None);
    }

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /var/lib rw shared:2 - tmpfs tmpfs rw
31 30 254:0 / /var/lib/mesolite rw,relatime shared:3 - xfs /dev/vda rw,prjquota
32 22 254:16 / /mnt/my\\040disk rw - xfs /dev/vdb rw
";

    #[test]
    fn test_mount_of_longest_prefix() {
        let m = mount_of(MOUNTINFO, Path::new("/var/lib/mesolite")).unwrap();
        assert_eq!(m.fstype, "xfs");
        assert_eq!(m.source, "/dev/vda");
        let m = mount_of(MOUNTINFO, Path::new("/var/lib/mesolite/containers/a")).unwrap();
        assert_eq!(m.source, "/dev/vda");
        // A prefix by characters is not a parent directory.
        let m = mount_of(MOUNTINFO, Path::new("/var/lib/mesolite2")).unwrap();
        assert_eq!(m.fstype, "tmpfs");
        let m = mount_of(MOUNTINFO, Path::new("/srv")).unwrap();
        assert_eq!(m.source, "/dev/sda1");
        let m = mount_of(MOUNTINFO, Path::new("/mnt/my disk/w")).unwrap();
        assert_eq!(m.source, "/dev/vdb");
        // The later of two mounts on one point is on top.
        let over = format!("{MOUNTINFO}40 31 0:50 / /var/lib/mesolite rw - tmpfs none rw\n");
        assert_eq!(
            mount_of(&over, Path::new("/var/lib/mesolite"))
                .unwrap()
                .fstype,
            "tmpfs"
        );
    }

    #[test]
    fn test_open_refuses_a_work_dir_not_on_xfs() {
        let err = XfsQuota::open(
            Path::new("/srv"),
            MOUNTINFO,
            ProjectRange { first: 1, last: 2 },
        )
        .unwrap_err();
        assert!(matches!(err, XfsError::NotXfs { .. }), "{err}");
        assert!(err.to_string().contains("is on ext4"), "{err}");
    }
}
