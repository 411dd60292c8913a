//! The cgroups layer: cgroup v1, v2 and hybrid hosts, through plain cgroupfs file I/O.
//!
//! [`Cgroups::detect`] reads the mounts once and picks v1 or v2 for the host; every container then
//! gets a [`ContainerCgroup`] at `<hierarchy>/<root>/<id>` (one per v1 subsystem, plus the freezer
//! used to kill), or on v2 a single directory. All roots are injected through [`CgroupsConfig`],
//! so the unit tests run against temporary directories laid out like cgroupfs.

mod blkio;
mod container;
mod detect;
mod error;
mod fs;
mod oom;
mod pressure;
mod process;
mod stat_files;
mod stats;
mod v1;
mod v2;

#[cfg(test)]
mod fake_v1_tests;
#[cfg(test)]
mod fake_v2_tests;
#[cfg(test)]
mod kernel_tests;
#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use container::{cfs_quota_us, cpu_shares, ContainerCgroup, Figures, ProcsFile, CFS_PERIOD_US};
use container::{clock_ticks, sigkill};

/// The root `cgroup.procs` of every v1 hierarchy in a mountinfo text, opened for the init to
/// write itself into first: an agent inside a Docker container (`--docker_mesos_image`) so
/// moves its Mesos containers' inits out of its own container's cgroups, which runc empties
/// (SIGKILL) when that container ends, and they outlive it as on the host.
pub fn escape_procs(mountinfo: &str) -> Result<Vec<ProcsFile>, CgroupError> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for m in detect::parse_mountinfo(mountinfo) {
        let detect::MountKind::V1 { .. } = m.kind else {
            continue;
        };
        if seen.contains(&m.device) {
            continue;
        }
        seen.push(m.device);
        let path = m.mount_point.join("cgroup.procs");
        let fd = fs::open_write(&path)?;
        out.push(ProcsFile {
            hierarchy: m.mount_point.display().to_string(),
            path,
            fd,
        });
    }
    Ok(out)
}
pub use error::CgroupError;
pub use pressure::{PressureLevel, PressureWatch};
pub use process::of_process;
pub use stat_files::set_stat_file_budget;

/// A resource controller this agent manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Controller {
    /// CPU shares, CFS quota and accounting: `cpu` + `cpuacct` on v1, `cpu` on v2.
    Cpu,
    Memory,
    Pids,
    /// v1 `blkio`, v2 `io`: I/O statistics.
    Blkio,
    /// `perf_event`: the cgroup perf counters count in. On v2 it is implicit (always on, never
    /// listed in `cgroup.controllers`); on v1 the agent mounts its hierarchy when it is absent.
    PerfEvent,
}

impl Controller {
    pub const ALL: [Controller; 5] = [
        Controller::Cpu,
        Controller::Memory,
        Controller::Pids,
        Controller::Blkio,
        Controller::PerfEvent,
    ];

    /// The controllers of the default isolators (what most tests use).
    pub const CORE: [Controller; 3] = [Controller::Cpu, Controller::Memory, Controller::Pids];

    /// The cgroup v2 controller name (also the main v1 subsystem name, but for blkio).
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Blkio => "io",
            Controller::PerfEvent => "perf_event",
        }
    }

    /// The v1 subsystem name.
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Blkio => "blkio",
            other => other.name(),
        }
    }

    fn bit(self) -> u8 {
        match self {
            Controller::Cpu => 1,
            Controller::Memory => 2,
            Controller::Pids => 4,
            Controller::Blkio => 8,
            Controller::PerfEvent => 16,
        }
    }
}

/// A set of controllers (a bit set, so it is `Copy` and free to test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ControllerSet(u8);

impl ControllerSet {
    fn of(controllers: &[Controller]) -> Self {
        Self(controllers.iter().fold(0, |bits, c| bits | c.bit()))
    }

    /// The controllers named in a `cgroup.controllers`/`cgroup.subtree_control` text.
    fn parse(text: &str) -> Self {
        let mut set = Self::default();
        for name in detect::controller_names(text) {
            if let Some(c) = Controller::ALL.into_iter().find(|c| c.name() == name) {
                set.insert(c);
            }
        }
        set
    }

    fn contains(self, controller: Controller) -> bool {
        self.0 & controller.bit() != 0
    }

    fn insert(&mut self, controller: Controller) {
        self.0 |= controller.bit();
    }

    fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    fn minus(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// v2 controllers that are always on in every cgroup (not in `cgroup.controllers`).
    fn v2_implicit() -> Self {
        Self::of(&[Controller::PerfEvent])
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn iter(self) -> impl Iterator<Item = Controller> {
        Controller::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

/// Which cgroup version the containers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Where the cgroups live and how the agent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupsConfig {
    /// `--cgroups_hierarchy`: where the cgroup filesystems are mounted (`/sys/fs/cgroup`).
    pub hierarchy: PathBuf,
    /// `--cgroups_root`: the parent of all container cgroups, relative to each hierarchy.
    pub root: String,
    /// `<proc>/self/mountinfo`.
    pub mountinfo: PathBuf,
    /// `<proc>/self/cgroup`.
    pub self_cgroup: PathBuf,
    /// Whether systemd started the agent in a unit with `Delegate=yes`.
    pub under_systemd: bool,
}

impl Default for CgroupsConfig {
    fn default() -> Self {
        Self {
            hierarchy: PathBuf::from("/sys/fs/cgroup"),
            root: "mesolite".to_owned(),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            self_cgroup: PathBuf::from("/proc/self/cgroup"),
            under_systemd: false,
        }
    }
}

/// Kernel features that change how containers are killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// v2 `cgroup.kill` (Linux 5.14): one write kills the whole cgroup.
    pub has_cgroup_kill: bool,
    /// A freezer (v1 `freezer` subsystem or v2 `cgroup.freeze`) to stop forks while killing.
    pub has_freezer: bool,
}

/// The detected cgroup layout of the host.
#[derive(Debug, Clone)]
pub struct Cgroups {
    root: String,
    controllers: ControllerSet,
    layout: Layout,
    features: Features,
    /// v1 with a cgroup2 mount beside it.
    hybrid: bool,
    /// Some cgroup mount has `favordynmods` (see [`detect::favors_dynmods`]).
    favordynmods: bool,
    /// The mount points of the v1 hierarchies the containers do not use (all of them on v2):
    /// swept of orphans at recovery.
    unused_v1: Vec<PathBuf>,
}

/// An orphan cgroup in a v1 hierarchy the containers do not use, and how its removal went.
#[derive(Debug)]
pub struct Swept {
    /// Empty when `<root>` itself could not be listed (`dir` is then `<root>`).
    pub id: String,
    pub dir: PathBuf,
    pub result: Result<(), CgroupError>,
}

#[derive(Debug, Clone)]
enum Layout {
    /// The mount point of each v1 subsystem in use.
    V1(v1::Paths),
    V2(v2::Base),
}

impl Cgroups {
    /// Detects the layout from mountinfo, chooses v1 or v2, and creates `<root>` (on v2 also
    /// enabling the controllers down to it; under systemd moving the agent into a leaf first).
    ///
    /// v2 is chosen when cgroup2 is mounted at `hierarchy` itself (a pure v2 host), or when the
    /// cgroup2 root offers every wanted controller (and at least one is wanted, or no v1 freezer
    /// exists to kill with). Otherwise v1, where every wanted controller must be mounted.
    pub fn detect(cfg: &CgroupsConfig, wanted: &[Controller]) -> Result<Cgroups, CgroupError> {
        let mountinfo = read_proc(&cfg.mountinfo)?;
        let mounts = detect::parse_mountinfo(&mountinfo);
        let wanted = ControllerSet::of(wanted);
        let v2_mount = detect::v2_mount(&mounts, &cfg.hierarchy);
        if let Some(mount) = &v2_mount {
            let pure = *mount == cfg.hierarchy;
            let mut buf = Vec::new();
            let available = match fs::read_into(&mount.join("cgroup.controllers"), &mut buf) {
                Ok(()) => ControllerSet::parse(&String::from_utf8_lossy(&buf)),
                Err(err) if pure => return Err(err),
                Err(_) => ControllerSet::default(),
            };
            let available = ControllerSet(available.0 | ControllerSet::v2_implicit().0);
            let has_v1_freezer = detect::v1_mount(&mounts, "freezer", &cfg.hierarchy).is_some();
            let offers_all = wanted.minus(available).is_empty();
            if pure || (offers_all && (!wanted.is_empty() || !has_v1_freezer)) {
                if let Some(missing) = wanted.minus(available).iter().next() {
                    return Err(CgroupError::ControllerNotMounted {
                        controller: missing.name(),
                    });
                }
                let (base, features) = v2::setup(mount, cfg, wanted)?;
                return Ok(Cgroups {
                    root: cfg.root.clone(),
                    controllers: wanted,
                    layout: Layout::V2(base),
                    features,
                    hybrid: !pure,
                    favordynmods: detect::favors_dynmods(&mounts),
                    unused_v1: detect::v1_hierarchies(&mounts, &cfg.hierarchy, &[]),
                });
            }
        }
        let mounts = if wanted.contains(Controller::PerfEvent)
            && detect::v1_mount(&mounts, "perf_event", &cfg.hierarchy).is_none()
        {
            v1::mount_hierarchy(&cfg.hierarchy, "perf_event")?;
            detect::parse_mountinfo(&read_proc(&cfg.mountinfo)?)
        } else {
            mounts
        };
        let paths = v1::Paths::detect(&mounts, &cfg.hierarchy, wanted)?;
        for dir in paths.distinct() {
            fs::mkdir_all(&dir.join(&cfg.root))?;
        }
        let features = Features {
            has_cgroup_kill: false,
            has_freezer: paths.freezer.is_some(),
        };
        let unused_v1 = detect::v1_hierarchies(&mounts, &cfg.hierarchy, &paths.distinct());
        Ok(Cgroups {
            root: cfg.root.clone(),
            controllers: wanted,
            layout: Layout::V1(paths),
            features,
            hybrid: v2_mount.is_some(),
            favordynmods: detect::favors_dynmods(&mounts),
            unused_v1,
        })
    }

    pub fn version(&self) -> Version {
        match self.layout {
            Layout::V1(_) => Version::V1,
            Layout::V2(_) => Version::V2,
        }
    }

    pub fn features(&self) -> Features {
        self.features
    }

    /// One log line describing the layout.
    pub fn describe(&self) -> String {
        let name = match self.layout {
            Layout::V1(_) => Controller::v1_name,
            Layout::V2(_) => Controller::name,
        };
        let controllers: Vec<&str> = self.controllers.iter().map(name).collect();
        let host = if self.hybrid { " (hybrid host)" } else { "" };
        let yes = |on: bool| if on { "yes" } else { "no" };
        match &self.layout {
            // Only v1 moves processes by writing cgroup.procs (v2 clones into the cgroup).
            Layout::V1(paths) => format!(
                "cgroup v1{host}: {} root={} controllers=[{}] freezer={} favordynmods={}{}",
                paths.describe(),
                self.root,
                controllers.join(","),
                yes(self.features.has_freezer),
                yes(self.favordynmods),
                if self.favordynmods {
                    ""
                } else {
                    " (each container's init waits ~10 ms for the kernel to move it into its \
                     cgroups; see the README on favordynmods)"
                },
            ),
            Layout::V2(base) => format!(
                "cgroup v2{host}: mount={} base={} root={} controllers=[{}] cgroup.kill={} cgroup.freeze={}",
                base.mount.display(),
                base.base.display(),
                self.root,
                controllers.join(","),
                yes(self.features.has_cgroup_kill),
                yes(self.features.has_freezer),
            ),
        }
    }

    /// Creates the container's cgroup in every hierarchy used (and `<root>` again if systemd or
    /// an operator removed it, MESOS-9305). An existing cgroup is reused.
    pub fn create(&self, id: &str) -> Result<ContainerCgroup, CgroupError> {
        validate_id(id)?;
        let relative = Path::new(&self.root).join(id);
        match &self.layout {
            Layout::V1(paths) => v1::create(&paths.join(&relative))?,
            Layout::V2(base) => v2::create(
                &base.base.join(&relative),
                base,
                &self.root,
                self.controllers,
            )?,
        }
        Ok(self.open(id))
    }

    /// The cgroup of an existing container (recovery); nothing is created.
    pub fn open(&self, id: &str) -> ContainerCgroup {
        let relative = Path::new(&self.root).join(id);
        let kind = match &self.layout {
            Layout::V1(paths) => container::Kind::V1(paths.join(&relative)),
            Layout::V2(base) => container::Kind::V2(base.base.join(&relative)),
        };
        ContainerCgroup::new(id, self.controllers, self.features, kind)
    }

    /// The ids of the container cgroups under `<root>` in any hierarchy used (sorted), so that
    /// orphans can be found after a restart.
    pub fn list(&self) -> Result<Vec<String>, CgroupError> {
        let mut ids = Vec::new();
        for dir in self.root_dirs() {
            ids.extend(fs::subdirs(&dir)?);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Destroys every cgroup under `<root>` in the v1 hierarchies the containers do not use
    /// (blkio, devices, cpuset, a named one... or all on v2) whose id `keep` refuses: its
    /// processes are killed and its tree removed, deepest first. Orphans of the hierarchies in
    /// use are destroyed as containers are, without waiting; these are not, so this waits for
    /// them, all together no longer than `budget`: it is for recovery, before the agent serves
    /// anything. What is still there then is reported in its `Swept` (and left).
    pub fn sweep_unused(&self, keep: impl Fn(&str) -> bool, budget: Duration) -> Vec<Swept> {
        let deadline = Instant::now() + budget;
        let mut swept = Vec::new();
        for mount in &self.unused_v1 {
            let root = mount.join(&self.root);
            let ids = match fs::subdirs(&root) {
                Ok(ids) => ids,
                Err(err) => {
                    swept.push(Swept {
                        id: String::new(),
                        dir: root,
                        result: Err(err),
                    });
                    continue;
                }
            };
            for id in ids.into_iter().filter(|id| !keep(id)) {
                let dir = root.join(&id);
                let result = v1::sweep(&dir, deadline);
                swept.push(Swept { id, dir, result });
            }
        }
        swept
    }

    /// `<root>` in every hierarchy used.
    fn root_dirs(&self) -> Vec<PathBuf> {
        match &self.layout {
            Layout::V1(paths) => paths
                .distinct()
                .into_iter()
                .map(|dir| dir.join(&self.root))
                .collect(),
            Layout::V2(base) => vec![base.base.join(&self.root)],
        }
    }
}

fn read_proc(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::ReadProc {
        path: path.to_path_buf(),
        source,
    })
}

/// A container id must be a single, ordinary directory name.
fn validate_id(id: &str) -> Result<(), CgroupError> {
    let valid = !id.is_empty()
        && id != "."
        && id != ".."
        && !id.contains(['/', '\0', '\n'])
        && !id.starts_with("cgroup.");
    if valid {
        Ok(())
    } else {
        Err(CgroupError::InvalidId { id: id.to_owned() })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_controller_set() {
        let set = ControllerSet::of(&[Controller::Cpu, Controller::Pids]);
        assert!(set.contains(Controller::Cpu) && !set.contains(Controller::Memory));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Controller::Cpu, Controller::Pids]
        );
        let parsed = ControllerSet::parse("cpuset cpu io memory hugetlb\n");
        assert_eq!(
            parsed,
            ControllerSet::of(&[Controller::Cpu, Controller::Memory, Controller::Blkio]),
            "v2 calls blkio io"
        );
        assert!(
            !parsed.contains(Controller::PerfEvent),
            "implicit, never listed"
        );
        assert_eq!(Controller::Blkio.v1_name(), "blkio");
        assert_eq!(set.minus(parsed), ControllerSet::of(&[Controller::Pids]));
        assert_eq!(set.intersect(parsed), ControllerSet::of(&[Controller::Cpu]));
        assert!(ControllerSet::parse("").is_empty());
    }

    #[test]
    fn test_validate_id() {
        assert!(validate_id("a1b2-c3_d.e").is_ok());
        for bad in ["", ".", "..", "a/b", "cgroup.procs", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
