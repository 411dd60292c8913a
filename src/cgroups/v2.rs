//! cgroup v2: one directory per container under `<base>/<root>`.
//!
//! v2 forbids processes in a cgroup whose `cgroup.subtree_control` enables controllers (except
//! in the root). So under systemd, whose delegated unit cgroup holds the agent itself, the agent
//! first moves into the leaf `<base>/agent`; only then can the base hand controllers down.

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::stat_files::{StatFile, StatFiles};
use super::{detect, fs, stats, CgroupsConfig, Controller, ControllerSet, Features, Figures};
use crate::stats::ResourceStatistics;

/// The leaf the agent moves into under systemd.
const AGENT_LEAF: &str = "agent";

/// Where the v2 containers live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Base {
    /// The cgroup2 mount point.
    pub mount: PathBuf,
    /// The parent of `<root>`: the mount, or systemd's delegated unit cgroup.
    pub base: PathBuf,
}

/// Finds the base (moving the agent into its leaf under systemd), creates `<root>` and enables
/// the wanted controllers on the way down to it.
pub(super) fn setup(
    mount: &Path,
    cfg: &CgroupsConfig,
    wanted: ControllerSet,
) -> Result<(Base, Features), CgroupError> {
    let base = if cfg.under_systemd {
        delegated_base(mount, &cfg.self_cgroup)?
    } else {
        mount.to_path_buf()
    };
    if base != mount {
        let leaf = base.join(AGENT_LEAF);
        fs::mkdir(&leaf)?;
        fs::write(&leaf.join("cgroup.procs"), &std::process::id().to_string())?;
    }
    let root = base.join(&cfg.root);
    fs::mkdir_all(&root)?;
    enable_controllers(mount, &root, wanted)?;
    // Both files exist only in non-root cgroups, hence the look at <root> rather than the base.
    let features = Features {
        has_cgroup_kill: root.join("cgroup.kill").exists(),
        has_freezer: root.join("cgroup.freeze").exists(),
    };
    Ok((
        Base {
            mount: mount.to_path_buf(),
            base,
        },
        features,
    ))
}

/// `<mount>/<the agent's own cgroup>`, minus the agent leaf if an earlier start already moved
/// the agent there.
fn delegated_base(mount: &Path, self_cgroup: &Path) -> Result<PathBuf, CgroupError> {
    let text = super::read_proc(self_cgroup)?;
    let path = detect::unified_path(&text).ok_or_else(|| CgroupError::NoUnifiedCgroup {
        path: self_cgroup.to_path_buf(),
    })?;
    let relative = path.trim_start_matches('/');
    let relative = match relative.rsplit_once('/') {
        Some((parent, AGENT_LEAF)) => parent,
        _ if relative == AGENT_LEAF => "",
        _ => relative,
    };
    if relative.is_empty() {
        Ok(mount.to_path_buf())
    } else {
        Ok(mount.join(relative))
    }
}

/// Enables the wanted controllers in `cgroup.subtree_control` of every level from the mount
/// down to `target` inclusive, skipping what is already enabled. A controller that cannot be
/// enabled at some level is reported with that level and the kernel's reason.
pub(super) fn enable_controllers(
    mount: &Path,
    target: &Path,
    wanted: ControllerSet,
) -> Result<(), CgroupError> {
    let mut levels = vec![mount.to_path_buf()];
    if let Ok(relative) = target.strip_prefix(mount) {
        for component in relative.components() {
            let mut next = levels[levels.len() - 1].clone();
            next.push(component);
            levels.push(next);
        }
    }
    // Implicit controllers are on everywhere: there is nothing to enable.
    let wanted = wanted.minus(ControllerSet::v2_implicit());
    let mut buf = Vec::new();
    for level in &levels {
        let available = read_set(&level.join("cgroup.controllers"), &mut buf)?;
        if let Some(missing) = wanted.minus(available).iter().next() {
            return Err(CgroupError::EnableController {
                controller: missing.name(),
                path: level.clone(),
                source: None,
            });
        }
        let control = level.join("cgroup.subtree_control");
        let to_enable = wanted.minus(read_set(&control, &mut buf)?);
        if to_enable.is_empty() {
            continue;
        }
        let line: Vec<String> = to_enable.iter().map(|c| format!("+{}", c.name())).collect();
        if fs::write_io(&control, &line.join(" ")).is_ok() {
            continue;
        }
        // One at a time, so the error names the controller that the kernel refused.
        for controller in to_enable.iter() {
            if let Err(source) = fs::write_io(&control, &format!("+{}", controller.name())) {
                return Err(CgroupError::EnableController {
                    controller: controller.name(),
                    path: level.clone(),
                    source: Some(source),
                });
            }
        }
    }
    Ok(())
}

fn read_set(path: &Path, buf: &mut Vec<u8>) -> Result<ControllerSet, CgroupError> {
    fs::read_into(path, buf)?;
    Ok(ControllerSet::parse(&String::from_utf8_lossy(buf)))
}

/// mkdir the container; if `<root>` vanished, recreate it and its controllers first.
pub(super) fn create(
    dir: &Path,
    base: &Base,
    root: &str,
    wanted: ControllerSet,
) -> Result<(), CgroupError> {
    match fs::mkdir(dir) {
        Err(err) if err.is_not_found() => {
            let root = base.base.join(root);
            fs::mkdir_all(&root)?;
            enable_controllers(&base.mount, &root, wanted)?;
            fs::mkdir(dir)
        }
        other => other,
    }
}

pub(super) fn set_cpu(
    dir: &Path,
    weight: u64,
    cfs_quota_us: Option<u64>,
) -> Result<(), CgroupError> {
    fs::write(&dir.join("cpu.weight"), &weight.to_string())?;
    if let Some(quota) = cfs_quota_us {
        fs::write(
            &dir.join("cpu.max"),
            &format!("{quota} {}", super::CFS_PERIOD_US),
        )?;
    }
    Ok(())
}

pub(super) fn set_memory(dir: &Path, bytes: u64) -> Result<(), CgroupError> {
    fs::write(&dir.join("memory.max"), &bytes.to_string())
}

pub(super) fn set_pids_max(dir: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(&dir.join("pids.max"), value)
}

/// The cgroup directory opened for `clone3(CLONE_INTO_CGROUP)` (std opens with O_CLOEXEC).
pub(super) fn dir_fd(dir: &Path) -> Result<OwnedFd, CgroupError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map(OwnedFd::from)
        .map_err(|source| CgroupError::Read {
            path: dir.to_path_buf(),
            source,
        })
}

pub(super) fn attach(dir: &Path, pid: i32) -> Result<(), CgroupError> {
    fs::write(&dir.join("cgroup.procs"), &pid.to_string())
}

pub(super) fn pids(dir: &Path, buf: &mut Vec<u8>) -> Result<Vec<i32>, CgroupError> {
    fs::read_pids(&dir.join("cgroup.procs"), buf)
}

/// `cgroup.kill` when the kernel has it; otherwise freeze (no forks), SIGKILL each process,
/// thaw (fatal signals reach frozen v2 tasks, but thawing keeps a later retry simple).
pub(super) fn kill_all(dir: &Path, features: Features) -> Result<(), CgroupError> {
    let result = if features.has_cgroup_kill {
        fs::write(&dir.join("cgroup.kill"), "1")
    } else if features.has_freezer {
        let freeze = dir.join("cgroup.freeze");
        fs::write(&freeze, "1").and_then(|()| {
            let killed = kill_listed(dir);
            killed.and(fs::write(&freeze, "0"))
        })
    } else {
        kill_listed(dir)
    };
    match result {
        Err(err) if err.is_not_found() => Ok(()),
        other => other,
    }
}

fn kill_listed(dir: &Path) -> Result<(), CgroupError> {
    pids(dir, &mut Vec::new())?
        .into_iter()
        .try_for_each(super::sigkill)
}

/// `populated 0` in `cgroup.events` covers descendants too; a missing cgroup is empty.
pub(super) fn is_empty(dir: &Path) -> Result<bool, CgroupError> {
    let path = dir.join("cgroup.events");
    let mut buf = Vec::new();
    if !fs::read_into_if_exists(&path, &mut buf)? {
        return Ok(true);
    }
    stats::parse_populated(&buf)
        .map(|populated| !populated)
        .map_err(|_| fs::bad_content(&path, &buf))
}

pub(super) fn usage(
    dir: &Path,
    controllers: ControllerSet,
    figures: Figures,
    files: &StatFiles,
    buf: &mut Vec<u8>,
    out: &mut ResourceStatistics,
) -> Result<(), CgroupError> {
    let bad = |which: StatFile, text: &[u8]| fs::bad_content(&which.path(dir), text);
    if controllers.contains(Controller::Cpu) {
        let text = files.read(StatFile::CpuStat, dir, buf)?;
        stats::parse_v2_cpu_stat(text, out).map_err(|_| bad(StatFile::CpuStat, text))?;
    }
    if controllers.contains(Controller::Memory) {
        out.mem_total_bytes = Some(files.read_u64(StatFile::V2MemoryCurrent, dir, buf)?);
        let text = files.read(StatFile::MemoryStat, dir, buf)?;
        stats::parse_v2_memory_stat(text, out).map_err(|_| bad(StatFile::MemoryStat, text))?;
        if let Some(bytes) = files.read_u64_if_exists(StatFile::V2SwapCurrent, dir, buf)? {
            out.mem_swap_bytes = Some(bytes);
        }
        if figures == Figures::WithPeakMemory {
            // Linux 5.19 and later.
            out.mem_max_usage_bytes = files.read_u64_if_exists(StatFile::V2MemoryPeak, dir, buf)?;
        }
    }
    if controllers.contains(Controller::Pids) {
        super::stat_files::processes_and_threads(files, dir, StatFile::V2Threads, buf, out)?;
    }
    if controllers.contains(Controller::Blkio) {
        out.blkio_statistics = Some(super::blkio::read_v2(dir, files, buf)?);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::cgroups::testutil::TempDir;

    fn base_for(self_cgroup: &str) -> Result<PathBuf, CgroupError> {
        let tmp = TempDir::new();
        let file = tmp.path().join("cgroup");
        std::fs::write(&file, self_cgroup).unwrap();
        delegated_base(Path::new("/cg"), &file)
    }

    #[test]
    fn test_delegated_base() {
        let unit = Path::new("/cg/system.slice/mesolite.service");
        assert_eq!(
            base_for("0::/system.slice/mesolite.service\n").unwrap(),
            unit
        );
        assert_eq!(
            base_for("0::/system.slice/mesolite.service/agent\n").unwrap(),
            unit
        );
        assert_eq!(base_for("0::/\n").unwrap(), Path::new("/cg"));
        assert_eq!(base_for("0::/agent\n").unwrap(), Path::new("/cg"));
        assert!(matches!(
            base_for("1:cpu:/\n"),
            Err(CgroupError::NoUnifiedCgroup { .. })
        ));
    }
}
