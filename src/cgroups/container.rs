//! One container's cgroup(s): limits, attach, kill, destroy and usage, dispatched to v1 or v2.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::error::CgroupError;
use super::stat_files::StatFiles;
use super::{v1, v2, Controller, ControllerSet, Features};
use crate::stats::ResourceStatistics;

/// CFS period, 100 ms (Mesos `CPU_CFS_PERIOD`).
pub const CFS_PERIOD_US: u64 = 100_000;
/// Smallest CFS quota, 1 ms (Mesos `MIN_CPU_CFS_QUOTA`).
const MIN_CFS_QUOTA_US: u64 = 1_000;
/// v1 shares per cpu and their bounds (the kernel's `MIN_SHARES`/`MAX_SHARES`).
const SHARES_PER_CPU: f64 = 1024.0;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

/// Which figures a statistics pass reads beyond the ones Mesos's `ResourceStatistics` holds:
/// `/metrics` shows the peak memory (cAdvisor's `container_memory_max_usage_bytes`), which
/// `/monitor/statistics` has no field for, so only `/metrics` pays its file read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Figures {
    #[default]
    Mesos,
    WithPeakMemory,
}

/// A container's `cgroup.procs` in one cgroup v1 hierarchy, opened by the agent before the
/// clone: the container's init writes "0" (itself) into each before it does anything else, so
/// the write, which on kernels without `favordynmods` waits for an RCU grace period, is never
/// waited for in the agent's loop.
#[derive(Debug)]
pub struct ProcsFile {
    /// The subsystems of the hierarchy (`freezer`, `cpu,cpuacct`).
    pub hierarchy: String,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

/// The cgroup(s) of one container.
#[derive(Debug, Clone)]
pub struct ContainerCgroup {
    id: String,
    controllers: ControllerSet,
    features: Features,
    pub(super) kind: Kind,
    /// Statistics files kept open between requests.
    stat_files: StatFiles,
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    V1(v1::Paths),
    V2(PathBuf),
}

impl ContainerCgroup {
    pub(super) fn new(
        id: &str,
        controllers: ControllerSet,
        features: Features,
        kind: Kind,
    ) -> Self {
        Self {
            id: id.to_owned(),
            controllers,
            features,
            kind,
            stat_files: StatFiles::default(),
        }
    }

    /// The container id this cgroup belongs to.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container's directories (v1: one per subsystem in use, freezer first; v2: one).
    pub fn dirs(&self) -> Vec<&Path> {
        match &self.kind {
            Kind::V1(dirs) => dirs.distinct(),
            Kind::V2(dir) => vec![dir.as_path()],
        }
    }

    /// Sets the cpu weight from `cpus` (v1 `cpu.shares = max(2, 1024 × cpus)`; v2 `cpu.weight`
    /// converted from those shares as runc does) and, with `cfs`, a hard cap of `cpus` per
    /// 100 ms period (at least 1 ms).
    pub fn set_cpu(&self, cpus: f64, cfs: bool) -> Result<(), CgroupError> {
        self.require(Controller::Cpu)?;
        let shares = cpu_shares(cpus);
        let quota = cfs.then(|| cfs_quota_us(cpus));
        match &self.kind {
            Kind::V1(dirs) => v1::set_cpu(dirs, shares, quota),
            Kind::V2(dir) => v2::set_cpu(dir, cpu_weight(shares), quota),
        }
    }

    /// Sets the memory limit (v1: hard and soft limit, as Mesos does; v2: `memory.max`).
    pub fn set_memory(&self, bytes: u64) -> Result<(), CgroupError> {
        self.require(Controller::Memory)?;
        match &self.kind {
            Kind::V1(dirs) => v1::set_memory(dirs, bytes),
            Kind::V2(dir) => v2::set_memory(dir, bytes),
        }
    }

    /// Sets `pids.max`; `None` is no limit.
    pub fn set_pids_max(&self, max: Option<u64>) -> Result<(), CgroupError> {
        self.require(Controller::Pids)?;
        let value = max.map_or_else(|| "max".to_owned(), |max| max.to_string());
        match &self.kind {
            Kind::V1(dirs) => v1::set_pids_max(dirs, &value),
            Kind::V2(dir) => v2::set_pids_max(dir, &value),
        }
    }

    /// The v2 cgroup directory opened `O_DIRECTORY | O_CLOEXEC`, for `clone3(CLONE_INTO_CGROUP)`;
    /// `None` on v1.
    pub fn v2_dir_fd(&self) -> Result<Option<OwnedFd>, CgroupError> {
        match &self.kind {
            Kind::V1(_) => Ok(None),
            Kind::V2(dir) => v2::dir_fd(dir).map(Some),
        }
    }

    /// The cgroup perf counters of the container count in, opened as a directory (the fd
    /// `perf_event_open` takes with `PERF_FLAG_PID_CGROUP`): v1 its `perf_event` cgroup, v2 its
    /// cgroup. `None` on v1 without the perf_event controller in use.
    pub fn perf_event_dir_fd(&self) -> Result<Option<OwnedFd>, CgroupError> {
        match &self.kind {
            Kind::V1(dirs) => match &dirs.perf_event {
                Some(dir) => v2::dir_fd(dir).map(Some),
                None => Ok(None),
            },
            Kind::V2(dir) => v2::dir_fd(dir).map(Some),
        }
    }

    /// v1: the container's `cgroup.procs` in every hierarchy (freezer first), for the init to
    /// move itself in; v2: none, the init is born in its cgroup ([`Self::v2_dir_fd`]).
    pub fn procs_files(&self) -> Result<Vec<ProcsFile>, CgroupError> {
        match &self.kind {
            Kind::V1(dirs) => v1::open_procs(dirs),
            Kind::V2(_) => Ok(Vec::new()),
        }
    }

    /// Moves process `pid` into the container's cgroup(s).
    pub fn attach(&self, pid: i32) -> Result<(), CgroupError> {
        match &self.kind {
            Kind::V1(dirs) => v1::attach(dirs, pid),
            Kind::V2(dir) => v2::attach(dir, pid),
        }
    }

    /// The processes in the cgroup (v1: of the freezer, or the first hierarchy).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut buf = Vec::new();
        match &self.kind {
            Kind::V1(dirs) => v1::pids(dirs, &mut buf),
            Kind::V2(dir) => v2::pids(dir, &mut buf),
        }
    }

    /// Sends SIGKILL to every process, including those that double-forked away from the
    /// container's init. Never waits: the caller polls [`ContainerCgroup::is_empty`] on a timer
    /// and calls again until it is true. A cgroup that is already gone is fine.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        match &self.kind {
            Kind::V1(dirs) => v1::kill_all(dirs),
            Kind::V2(dir) => v2::kill_all(dir, self.features),
        }
    }

    /// Whether no process is left (v2: `cgroup.events` says `populated 0`). A missing cgroup is empty.
    pub fn is_empty(&self) -> Result<bool, CgroupError> {
        match &self.kind {
            Kind::V1(dirs) => v1::is_empty(dirs),
            Kind::V2(dir) => v2::is_empty(dir),
        }
    }

    /// Removes the cgroup(s). Missing ones are fine (idempotent); EBUSY (processes left) is an
    /// error, see [`CgroupError::is_busy`]: kill, wait for empty, and call again.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        // An open file would keep the removed cgroup alive in the kernel.
        self.stat_files.close_all();
        match &self.kind {
            Kind::V1(dirs) => v1::destroy(dirs),
            Kind::V2(dir) => super::fs::rmdir(dir),
        }
    }

    /// The directories [`super::Cgroups::create`] would make for it, in its order, for a
    /// helper to make them instead (an existing one is fine; their parents must exist).
    pub fn dirs_to_make(&self) -> Vec<PathBuf> {
        match &self.kind {
            Kind::V1(dirs) => dirs.distinct().into_iter().map(Path::to_path_buf).collect(),
            Kind::V2(dir) => vec![dir.clone()],
        }
    }

    /// What [`ContainerCgroup::destroy`] would remove, in its order (freezer last), for a
    /// process of its own to rmdir; the files held open here are closed first, since an open
    /// file would keep the removed cgroup alive in the kernel.
    pub fn release_for_removal(&self) -> Vec<PathBuf> {
        self.stat_files.close_all();
        match &self.kind {
            Kind::V1(dirs) => dirs
                .distinct()
                .into_iter()
                .rev()
                .map(Path::to_path_buf)
                .collect(),
            Kind::V2(dir) => vec![dir.clone()],
        }
    }

    /// Fills `out` with what `controllers` (those of them in use) measure: cpu times and
    /// throttling for `Cpu`, memory for `Memory`, `processes` and `threads` for `Pids`. `buf` is
    /// reused across files and calls, so a statistics request over many containers allocates
    /// little.
    pub fn usage(
        &self,
        controllers: &[Controller],
        buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), CgroupError> {
        self.usage_of(controllers, Figures::Mesos, buf, out)
    }

    /// [`usage`](Self::usage), with the figures beyond Mesos's that `figures` asks for.
    pub fn usage_of(
        &self,
        controllers: &[Controller],
        figures: Figures,
        buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), CgroupError> {
        let controllers = ControllerSet::of(controllers).intersect(self.controllers);
        match &self.kind {
            Kind::V1(dirs) => v1::usage(dirs, controllers, figures, &self.stat_files, buf, out),
            Kind::V2(dir) => v2::usage(dir, controllers, figures, &self.stat_files, buf, out),
        }
    }

    fn require(&self, controller: Controller) -> Result<(), CgroupError> {
        if self.controllers.contains(controller) {
            Ok(())
        } else {
            Err(CgroupError::ControllerNotInUse {
                controller: controller.name(),
            })
        }
    }
}

/// v1 `cpu.shares` for `cpus` (Mesos truncates, then applies the minimum).
pub fn cpu_shares(cpus: f64) -> u64 {
    // `as` saturates: NaN and negatives become 0 and then the minimum.
    ((SHARES_PER_CPU * cpus) as u64).clamp(MIN_SHARES, MAX_SHARES)
}

/// v2 `cpu.weight` from v1 shares: maps [2, 262144] onto [1, 10000] (runc's conversion).
pub(super) fn cpu_weight(shares: u64) -> u64 {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((shares - 2) * 9999) / 262_142
}

/// CFS quota in µs for `cpus` per period.
pub fn cfs_quota_us(cpus: f64) -> u64 {
    ((CFS_PERIOD_US as f64 * cpus) as u64).max(MIN_CFS_QUOTA_US)
}

/// USER_HZ, the unit of v1 `cpuacct.stat`.
pub(super) fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| crate::sys::clock_ticks().unwrap_or(100))
}

/// SIGKILL to one process; one that already exited (ESRCH) is fine.
pub(super) fn sigkill(pid: i32) -> Result<(), CgroupError> {
    // Never 0 or negative: kill(2) would signal a whole process group, or every process.
    if pid <= 0 {
        return Ok(());
    }
    match crate::sys::process::kill(pid, libc::SIGKILL) {
        Err(source) if source.raw_os_error() != Some(libc::ESRCH) => {
            Err(CgroupError::Kill { pid, source })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_cpu_shares() {
        assert_eq!(cpu_shares(0.5), 512);
        assert_eq!(cpu_shares(1.0), 1024);
        assert_eq!(cpu_shares(1.1), 1126);
        assert_eq!(cpu_shares(0.001), 2);
        assert_eq!(cpu_shares(-1.0), 2);
        assert_eq!(cpu_shares(f64::NAN), 2);
        assert_eq!(cpu_shares(1e9), 262_144);
    }

    #[test]
    fn test_cpu_weight_matches_runc() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(512), 20);
        assert_eq!(cpu_weight(262_144), 10_000);
    }

    #[test]
    fn test_cfs_quota() {
        assert_eq!(cfs_quota_us(0.5), 50_000);
        assert_eq!(cfs_quota_us(2.0), 200_000);
        assert_eq!(cfs_quota_us(0.001), 1_000);
    }

    #[test]
    fn test_clock_ticks_is_sane() {
        let ticks = clock_ticks();
        assert!((1..=10_000).contains(&ticks), "{ticks}");
    }

    #[test]
    fn test_sigkill() {
        use std::os::unix::process::ExitStatusExt;
        assert!(sigkill(0).is_ok(), "must not signal the process group");
        assert!(sigkill(-1).is_ok(), "must not signal every process");
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        sigkill(i32::try_from(child.id()).unwrap()).unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }
}
