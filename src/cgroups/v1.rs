//! cgroup v1: one directory per subsystem (`cpu` and `cpuacct` may share one when co-mounted),
//! plus the freezer, which is what makes killing a forking process tree reliable.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::detect::{self, CgroupMount};
use super::error::CgroupError;
use super::stat_files::{StatFile, StatFiles};
use super::{fs, stats, Controller, ControllerSet, Figures};
use crate::stats::ResourceStatistics;

/// A directory per subsystem in use: the mount points, or a container's cgroups under them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Paths {
    pub cpu: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub memory: Option<PathBuf>,
    pub pids: Option<PathBuf>,
    pub blkio: Option<PathBuf>,
    pub perf_event: Option<PathBuf>,
    pub freezer: Option<PathBuf>,
}

impl Paths {
    /// The mount points of the wanted subsystems (and of the freezer, when mounted).
    pub fn detect(
        mounts: &[CgroupMount],
        hierarchy: &Path,
        wanted: ControllerSet,
    ) -> Result<Self, CgroupError> {
        let mount = |controller: Controller, subsystem: &'static str| {
            if !wanted.contains(controller) {
                return Ok(None);
            }
            detect::v1_mount(mounts, subsystem, hierarchy)
                .map(Some)
                .ok_or(CgroupError::ControllerNotMounted {
                    controller: subsystem,
                })
        };
        Ok(Self {
            cpu: mount(Controller::Cpu, "cpu")?,
            cpuacct: mount(Controller::Cpu, "cpuacct")?,
            memory: mount(Controller::Memory, "memory")?,
            pids: mount(Controller::Pids, "pids")?,
            blkio: mount(Controller::Blkio, "blkio")?,
            perf_event: mount(Controller::PerfEvent, "perf_event")?,
            freezer: detect::v1_mount(mounts, "freezer", hierarchy),
        })
    }

    /// The same subsystems, each with `relative` appended.
    pub fn join(&self, relative: &Path) -> Self {
        let join = |dir: &Option<PathBuf>| dir.as_ref().map(|dir| dir.join(relative));
        Self {
            cpu: join(&self.cpu),
            cpuacct: join(&self.cpuacct),
            memory: join(&self.memory),
            pids: join(&self.pids),
            blkio: join(&self.blkio),
            perf_event: join(&self.perf_event),
            freezer: join(&self.freezer),
        }
    }

    /// Every directory once: co-mounted subsystems share one. The freezer comes first, so that
    /// an attached process is under the freezer before it is anywhere else.
    pub fn distinct(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = Vec::with_capacity(7);
        for dir in [
            &self.freezer,
            &self.cpu,
            &self.cpuacct,
            &self.memory,
            &self.pids,
            &self.blkio,
            &self.perf_event,
        ]
        .into_iter()
        .flatten()
        {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }

    fn entries(&self) -> [(&'static str, &Option<PathBuf>); 7] {
        [
            ("cpu", &self.cpu),
            ("cpuacct", &self.cpuacct),
            ("memory", &self.memory),
            ("pids", &self.pids),
            ("blkio", &self.blkio),
            ("perf_event", &self.perf_event),
            ("freezer", &self.freezer),
        ]
    }

    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .entries()
            .iter()
            .filter_map(|(name, dir)| dir.as_ref().map(|dir| format!("{name}={}", dir.display())))
            .collect();
        parts.join(" ")
    }

    /// [`Paths::distinct`], each directory with the subsystems it serves (`cpu,cpuacct` where
    /// they are co-mounted), for messages that name the hierarchy.
    pub fn named(&self) -> Vec<(String, &Path)> {
        let entries = self.entries();
        self.distinct()
            .into_iter()
            .map(|dir| {
                let names: Vec<&str> = entries
                    .iter()
                    .filter(|(_, d)| d.as_deref() == Some(dir))
                    .map(|(name, _)| *name)
                    .collect();
                (names.join(","), dir)
            })
            .collect()
    }

    /// The directory whose `cgroup.procs` lists the container's processes.
    fn procs_dir(&self) -> Option<&Path> {
        self.distinct().first().copied()
    }
}

/// Mounts the v1 hierarchy of `subsystem` at `<hierarchy>/<subsystem>`, as Mesos does for a
/// subsystem no hierarchy has (perf_event, on hosts that mount only what systemd uses).
pub(super) fn mount_hierarchy(
    hierarchy: &Path,
    subsystem: &'static str,
) -> Result<(), CgroupError> {
    let target = hierarchy.join(subsystem);
    fs::mkdir_all(&target)?;
    crate::sys::mount::mount_cgroup_v1(&target, subsystem).map_err(|source| {
        CgroupError::Mount {
            subsystem,
            path: target.clone(),
            source,
        }
    })?;
    log::info!(
        "Mounted the cgroup v1 {subsystem} hierarchy at {}",
        target.display()
    );
    Ok(())
}

/// mkdir in every hierarchy, recreating `<root>` if it vanished.
pub(super) fn create(dirs: &Paths) -> Result<(), CgroupError> {
    for dir in dirs.distinct() {
        match fs::mkdir(dir) {
            Err(err) if err.is_not_found() => fs::mkdir_all(dir)?,
            other => other?,
        }
    }
    Ok(())
}

fn need<'a>(dir: &'a Option<PathBuf>, subsystem: &'static str) -> Result<&'a Path, CgroupError> {
    dir.as_deref().ok_or(CgroupError::ControllerNotInUse {
        controller: subsystem,
    })
}

pub(super) fn set_cpu(
    dirs: &Paths,
    shares: u64,
    cfs_quota_us: Option<u64>,
) -> Result<(), CgroupError> {
    let cpu = need(&dirs.cpu, "cpu")?;
    fs::write(&cpu.join("cpu.shares"), &shares.to_string())?;
    if let Some(quota) = cfs_quota_us {
        fs::write(
            &cpu.join("cpu.cfs_period_us"),
            &super::CFS_PERIOD_US.to_string(),
        )?;
        fs::write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
    }
    Ok(())
}

pub(super) fn set_memory(dirs: &Paths, bytes: u64) -> Result<(), CgroupError> {
    let memory = need(&dirs.memory, "memory")?;
    let value = bytes.to_string();
    fs::write(&memory.join("memory.limit_in_bytes"), &value)?;
    fs::write(&memory.join("memory.soft_limit_in_bytes"), &value)
}

pub(super) fn set_pids_max(dirs: &Paths, value: &str) -> Result<(), CgroupError> {
    fs::write(&need(&dirs.pids, "pids")?.join("pids.max"), value)
}

/// `cgroup.procs` of every hierarchy, freezer first, opened for writing: the container's init
/// writes itself into them (see [`super::ProcsFile`]).
pub(super) fn open_procs(dirs: &Paths) -> Result<Vec<super::ProcsFile>, CgroupError> {
    dirs.named()
        .into_iter()
        .map(|(hierarchy, dir)| {
            let path = dir.join("cgroup.procs");
            let fd = fs::open_write(&path)?;
            Ok(super::ProcsFile {
                hierarchy,
                path,
                fd,
            })
        })
        .collect()
}

pub(super) fn attach(dirs: &Paths, pid: i32) -> Result<(), CgroupError> {
    let pid = pid.to_string();
    for dir in dirs.distinct() {
        fs::write(&dir.join("cgroup.procs"), &pid)?;
    }
    Ok(())
}

pub(super) fn pids(dirs: &Paths, buf: &mut Vec<u8>) -> Result<Vec<i32>, CgroupError> {
    match dirs.procs_dir() {
        Some(dir) => fs::read_pids(&dir.join("cgroup.procs"), buf),
        None => Ok(Vec::new()),
    }
}

/// Freeze, SIGKILL every process, thaw: a frozen process cannot fork, and the kill takes effect
/// at the thaw. Without a freezer, a process forking right now may escape this round; the
/// caller calls again until the cgroup is empty.
pub(super) fn kill_all(dirs: &Paths) -> Result<(), CgroupError> {
    let mut buf = Vec::new();
    let Some(freezer) = &dirs.freezer else {
        return kill_listed(dirs, &mut buf);
    };
    let state = freezer.join("freezer.state");
    match fs::write(&state, "FROZEN") {
        Err(err) if err.is_not_found() => return Ok(()),
        other => other?,
    }
    let killed = kill_listed(dirs, &mut buf);
    let thawed = fs::write(&state, "THAWED");
    killed.and(thawed)
}

fn kill_listed(dirs: &Paths, buf: &mut Vec<u8>) -> Result<(), CgroupError> {
    match pids(dirs, buf) {
        Ok(pids) => pids.into_iter().try_for_each(super::sigkill),
        Err(err) if err.is_not_found() => Ok(()),
        Err(err) => Err(err),
    }
}

pub(super) fn is_empty(dirs: &Paths) -> Result<bool, CgroupError> {
    match pids(dirs, &mut Vec::new()) {
        Ok(pids) => Ok(pids.is_empty()),
        Err(err) if err.is_not_found() => Ok(true),
        Err(err) => Err(err),
    }
}

/// rmdir everywhere, freezer last, so a half-destroyed container can still be killed.
pub(super) fn destroy(dirs: &Paths) -> Result<(), CgroupError> {
    for dir in dirs.distinct().into_iter().rev() {
        fs::rmdir(dir)?;
    }
    Ok(())
}

/// How long a sweep round waits for killed processes to exit before it tries again.
const SWEEP_RETRY: Duration = Duration::from_millis(10);

/// Kills every process in the cgroup tree at `dir` and removes the tree, deepest first, in
/// rounds until it is gone or `deadline` passes (then the last error): for hierarchies the
/// agent does not manage, which have no freezer of ours to stop forks with, so a fork that
/// escapes one round is killed in the next. A frozen freezer cgroup is thawed for the kill to
/// take effect. A missing `dir` is fine. This waits (bounded by `deadline`): it is for
/// recovery, before the agent serves anything.
pub(super) fn sweep(dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    let mut buf = Vec::new();
    loop {
        let tree = tree(dir)?;
        for cgroup in &tree {
            match fs::read_pids(&cgroup.join("cgroup.procs"), &mut buf) {
                // One that cannot be killed keeps its cgroup busy: the rmdir below says so.
                Ok(pids) => pids.into_iter().for_each(|pid| {
                    let _ = super::sigkill(pid);
                }),
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
            let state = cgroup.join("freezer.state");
            if state.is_file() {
                let _ = fs::write(&state, "THAWED");
            }
        }
        let removed = tree.iter().rev().try_for_each(|cgroup| fs::rmdir(cgroup));
        match removed {
            Err(err) if Instant::now() < deadline => {
                log::debug!("cgroup {} not removed yet: {err}", dir.display());
                std::thread::sleep(SWEEP_RETRY);
            }
            other => return other,
        }
    }
}

/// `dir` and every cgroup under it, parents before their children; none if `dir` is missing.
fn tree(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    let mut next = vec![dir.to_path_buf()];
    while let Some(cgroup) = next.pop() {
        next.extend(
            fs::subdirs(&cgroup)?
                .into_iter()
                .map(|name| cgroup.join(name)),
        );
        found.push(cgroup);
    }
    Ok(found)
}

pub(super) fn usage(
    dirs: &Paths,
    controllers: ControllerSet,
    figures: Figures,
    files: &StatFiles,
    buf: &mut Vec<u8>,
    out: &mut ResourceStatistics,
) -> Result<(), CgroupError> {
    let bad = |which: StatFile, dir: &Path, text: &[u8]| fs::bad_content(&which.path(dir), text);
    if controllers.contains(Controller::Cpu) {
        if let Some(cpuacct) = &dirs.cpuacct {
            let text = files.read(StatFile::CpuacctStat, cpuacct, buf)?;
            stats::parse_cpuacct_stat(text, super::clock_ticks(), out)
                .map_err(|_| bad(StatFile::CpuacctStat, cpuacct, text))?;
        }
        if let Some(cpu) = &dirs.cpu {
            let text = files.read(StatFile::CpuStat, cpu, buf)?;
            stats::parse_v1_cpu_stat(text, out).map_err(|_| bad(StatFile::CpuStat, cpu, text))?;
        }
    }
    if controllers.contains(Controller::Memory) {
        if let Some(memory) = &dirs.memory {
            out.mem_total_bytes = Some(files.read_u64(StatFile::V1MemoryUsage, memory, buf)?);
            if figures == Figures::WithPeakMemory {
                out.mem_max_usage_bytes =
                    files.read_u64_if_exists(StatFile::V1MemoryMaxUsage, memory, buf)?;
            }
            let text = files.read(StatFile::MemoryStat, memory, buf)?;
            stats::parse_v1_memory_stat(text, out)
                .map_err(|_| bad(StatFile::MemoryStat, memory, text))?;
        }
    }
    if let Some(dir) = dirs
        .pids
        .as_deref()
        .filter(|_| controllers.contains(Controller::Pids))
    {
        super::stat_files::processes_and_threads(files, dir, StatFile::V1Tasks, buf, out)?;
    }
    if let Some(dir) = dirs
        .blkio
        .as_deref()
        .filter(|_| controllers.contains(Controller::Blkio))
    {
        out.blkio_statistics = Some(super::blkio::read_v1(dir, files, buf)?);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::cgroups::detect::{parse_mountinfo, samples};

    #[test]
    fn test_detect_separate_mounts() {
        let mounts = parse_mountinfo(samples::HYBRID);
        let all = ControllerSet::of(&Controller::CORE);
        let paths = Paths::detect(&mounts, Path::new("/sys/fs/cgroup"), all).unwrap();
        assert_eq!(paths.distinct().len(), 5);
        assert_eq!(
            paths.describe(),
            "cpu=/sys/fs/cgroup/cpu cpuacct=/sys/fs/cgroup/cpuacct memory=/sys/fs/cgroup/memory \
             pids=/sys/fs/cgroup/pids freezer=/sys/fs/cgroup/freezer"
        );
        let container = paths.join(Path::new("mesolite/c1"));
        assert_eq!(
            container.memory.as_deref(),
            Some(Path::new("/sys/fs/cgroup/memory/mesolite/c1"))
        );
        assert_eq!(
            container.procs_dir(),
            Some(Path::new("/sys/fs/cgroup/freezer/mesolite/c1"))
        );
        let names: Vec<String> = container.named().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["freezer", "cpu", "cpuacct", "memory", "pids"]);
    }

    #[test]
    fn test_detect_comounted_is_one_directory() {
        let mounts = parse_mountinfo(samples::COMOUNTED);
        let wanted = ControllerSet::of(&[Controller::Cpu]);
        let paths = Paths::detect(&mounts, Path::new("/sys/fs/cgroup"), wanted).unwrap();
        assert_eq!(paths.cpu, paths.cpuacct);
        assert_eq!(paths.memory, None, "not wanted");
        assert_eq!(
            paths.distinct(),
            [
                Path::new("/sys/fs/cgroup/freezer"),
                Path::new("/sys/fs/cgroup/cpu,cpuacct")
            ]
        );
        assert_eq!(
            paths.named(),
            [
                ("freezer".to_string(), Path::new("/sys/fs/cgroup/freezer")),
                (
                    "cpu,cpuacct".to_string(),
                    Path::new("/sys/fs/cgroup/cpu,cpuacct")
                )
            ]
        );
    }

    #[test]
    fn test_detect_names_the_missing_controller() {
        let mounts = parse_mountinfo(samples::PURE_V2);
        let wanted = ControllerSet::of(&[Controller::Memory]);
        let err = Paths::detect(&mounts, Path::new("/sys/fs/cgroup"), wanted).unwrap_err();
        assert!(matches!(
            err,
            CgroupError::ControllerNotMounted {
                controller: "memory"
            }
        ));
        assert!(err.to_string().contains("memory"));
    }
}
