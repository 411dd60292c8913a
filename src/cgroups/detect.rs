//! Parsing of `/proc/self/mountinfo` and `/proc/self/cgroup`: pure functions over their text.

use std::path::{Path, PathBuf};

use crate::sys::mountinfo;

/// What kind of cgroup filesystem a mount is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MountKind {
    /// A v1 hierarchy with the options of its super block (`rw`, `cpu`, `cpuacct`, `name=systemd`, ...),
    /// among which are the names of the controllers bound to it.
    V1 { options: Vec<String> },
    /// The cgroup2 (unified) hierarchy.
    V2,
}

/// One cgroup filesystem mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CgroupMount {
    pub mount_point: PathBuf,
    /// The super block (`major:minor`): one hierarchy mounted twice has the same.
    pub device: (u32, u32),
    pub kind: MountKind,
    /// Mounted with `favordynmods` (Linux 6.0): cgroup.procs writes do not wait for an RCU
    /// grace period (see README).
    pub favordynmods: bool,
}

impl CgroupMount {
    /// Whether this is a v1 hierarchy with `subsystem` bound to it.
    fn has_subsystem(&self, subsystem: &str) -> bool {
        match &self.kind {
            MountKind::V1 { options } => options.iter().any(|option| option == subsystem),
            MountKind::V2 => false,
        }
    }
}

/// The cgroup mounts listed in a mountinfo text, in order. Malformed lines are skipped.
pub(super) fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    mountinfo::parse(text)
        .into_iter()
        .filter_map(|mount| {
            let kind = match mount.fs_type.as_str() {
                "cgroup" => MountKind::V1 {
                    options: mount.super_options.split(',').map(str::to_owned).collect(),
                },
                "cgroup2" => MountKind::V2,
                _ => return None,
            };
            Some(CgroupMount {
                favordynmods: mount
                    .super_options
                    .split(',')
                    .any(|option| option == "favordynmods"),
                mount_point: mount.mount_point,
                device: (mount.major, mount.minor),
                kind,
            })
        })
        .collect()
}

/// Among `candidates`, the one at `hierarchy`, else one under it, else the first: a host may
/// mount a hierarchy twice (containers bind-mount it), and `--cgroups_hierarchy` says which.
fn prefer<'a>(
    candidates: impl Iterator<Item = &'a CgroupMount>,
    hierarchy: &Path,
) -> Option<PathBuf> {
    let candidates: Vec<&CgroupMount> = candidates.collect();
    candidates
        .iter()
        .find(|mount| mount.mount_point == hierarchy)
        .or_else(|| {
            candidates
                .iter()
                .find(|mount| mount.mount_point.starts_with(hierarchy))
        })
        .or_else(|| candidates.first())
        .map(|mount| mount.mount_point.clone())
}

/// The mount point of the v1 hierarchy that `subsystem` is bound to.
pub(super) fn v1_mount(
    mounts: &[CgroupMount],
    subsystem: &str,
    hierarchy: &Path,
) -> Option<PathBuf> {
    prefer(
        mounts.iter().filter(|mount| mount.has_subsystem(subsystem)),
        hierarchy,
    )
}

/// One mount point of every v1 hierarchy (named ones such as `name=systemd` too), the one at
/// or under `hierarchy` where a hierarchy is mounted twice, leaving out the hierarchies of
/// `except` (mount points).
pub(super) fn v1_hierarchies(
    mounts: &[CgroupMount],
    hierarchy: &Path,
    except: &[&Path],
) -> Vec<PathBuf> {
    let excluded: Vec<(u32, u32)> = mounts
        .iter()
        .filter(|mount| except.contains(&mount.mount_point.as_path()))
        .map(|mount| mount.device)
        .collect();
    let mut devices: Vec<(u32, u32)> = Vec::new();
    for mount in mounts {
        let v1 = matches!(mount.kind, MountKind::V1 { .. });
        if v1 && !excluded.contains(&mount.device) && !devices.contains(&mount.device) {
            devices.push(mount.device);
        }
    }
    devices
        .into_iter()
        .filter_map(|device| {
            prefer(
                mounts.iter().filter(|mount| mount.device == device),
                hierarchy,
            )
        })
        .collect()
}

/// The mount point of the cgroup2 hierarchy.
pub(super) fn v2_mount(mounts: &[CgroupMount], hierarchy: &Path) -> Option<PathBuf> {
    prefer(
        mounts.iter().filter(|mount| mount.kind == MountKind::V2),
        hierarchy,
    )
}

/// Whether any cgroup mount has `favordynmods`. The lock it changes (the kernel's
/// `cgroup_threadgroup_rwsem`) is one for all hierarchies, so one mount with it is enough.
pub(super) fn favors_dynmods(mounts: &[CgroupMount]) -> bool {
    mounts.iter().any(|mount| mount.favordynmods)
}

/// The cgroup2 path of the process from its `/proc/<pid>/cgroup` text (the `0::<path>` line).
pub(super) fn unified_path(self_cgroup: &str) -> Option<&str> {
    self_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::trim_end)
}

/// The names listed in a `cgroup.controllers` or `cgroup.subtree_control` text. A leading `+`
/// is dropped, so what this module writes reads back the same in a fake tree.
pub(super) fn controller_names(text: &str) -> impl Iterator<Item = &str> {
    text.split_ascii_whitespace()
        .map(|name| name.strip_prefix('+').unwrap_or(name))
}

#[cfg(test)]
pub(super) mod samples {
    /// This development host: v1 controllers each mounted on their own, an empty cgroup2 beside them.
    pub const HYBRID: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd host of the v1 era: cpu and cpuacct co-mounted, optional fields present.
    pub const COMOUNTED: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
33 25 0:30 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,freezer
";

    /// A pure cgroup v2 host (Debian 12 default).
    pub const PURE_V2: &str = "\
21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
27 21 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_hybrid_separate_cpu_and_cpuacct() {
        let mounts = parse_mountinfo(samples::HYBRID);
        assert_eq!(mounts.len(), 10);
        let h = Path::new("/sys/fs/cgroup");
        assert_eq!(
            v1_mount(&mounts, "cpu", h).unwrap(),
            Path::new("/sys/fs/cgroup/cpu")
        );
        assert_eq!(
            v1_mount(&mounts, "cpuacct", h).unwrap(),
            Path::new("/sys/fs/cgroup/cpuacct")
        );
        assert_eq!(
            v1_mount(&mounts, "memory", h).unwrap(),
            Path::new("/sys/fs/cgroup/memory")
        );
        assert_eq!(
            v1_mount(&mounts, "freezer", h).unwrap(),
            Path::new("/sys/fs/cgroup/freezer")
        );
        assert_eq!(
            v1_mount(&mounts, "systemd", h),
            None,
            "name=systemd is no subsystem"
        );
        assert_eq!(v1_mount(&mounts, "hugetlb", h), None);
        assert_eq!(
            v2_mount(&mounts, h).unwrap(),
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn test_favordynmods() {
        assert!(!favors_dynmods(&parse_mountinfo(samples::HYBRID)));
        assert!(!favors_dynmods(&parse_mountinfo(samples::PURE_V2)));
        let text = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,favordynmods
";
        let mounts = parse_mountinfo(text);
        assert!(!mounts[0].favordynmods && mounts[1].favordynmods);
        assert!(favors_dynmods(&mounts));
        let v1 = "45 27 0:40 / /cg/x rw - cgroup cgroup rw,favordynmods,name=x\n";
        assert!(favors_dynmods(&parse_mountinfo(v1)));
    }

    #[test]
    fn test_comounted_cpu_cpuacct() {
        let mounts = parse_mountinfo(samples::COMOUNTED);
        let h = Path::new("/sys/fs/cgroup");
        let cpu = v1_mount(&mounts, "cpu", h).unwrap();
        assert_eq!(cpu, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(v1_mount(&mounts, "cpuacct", h).unwrap(), cpu);
        assert_eq!(
            v1_mount(&mounts, "pids", h).unwrap(),
            Path::new("/sys/fs/cgroup/pids")
        );
        assert_eq!(
            v2_mount(&mounts, h).unwrap(),
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn test_pure_v2() {
        let mounts = parse_mountinfo(samples::PURE_V2);
        assert_eq!(mounts.len(), 1);
        let h = Path::new("/sys/fs/cgroup");
        assert_eq!(v2_mount(&mounts, h).unwrap(), h);
        assert_eq!(v1_mount(&mounts, "memory", h), None);
    }

    #[test]
    fn test_prefers_the_mount_under_the_hierarchy() {
        let text = "\
50 1 0:40 / /var/lib/other/memory rw - cgroup cgroup rw,memory
51 1 0:40 / /cg/memory rw - cgroup cgroup rw,memory
52 1 0:41 / /elsewhere rw - cgroup2 cgroup2 rw
53 1 0:41 / /cg rw - cgroup2 cgroup2 rw
";
        let mounts = parse_mountinfo(text);
        assert_eq!(
            v1_mount(&mounts, "memory", Path::new("/cg")).unwrap(),
            Path::new("/cg/memory")
        );
        assert_eq!(
            v1_mount(&mounts, "memory", Path::new("/nowhere")).unwrap(),
            Path::new("/var/lib/other/memory")
        );
        assert_eq!(
            v2_mount(&mounts, Path::new("/cg")).unwrap(),
            Path::new("/cg")
        );
    }

    #[test]
    fn test_v1_hierarchies_once_each_but_those_in_use() {
        let h = Path::new("/sys/fs/cgroup");
        let mounts = parse_mountinfo(samples::HYBRID);
        let all = v1_hierarchies(&mounts, h, &[]);
        assert_eq!(all.len(), 9, "{all:?}");
        assert!(all.contains(&h.join("systemd")) && all.contains(&h.join("blkio")));
        let used = [h.join("memory"), h.join("freezer")];
        let used: Vec<&Path> = used.iter().map(PathBuf::as_path).collect();
        let rest = v1_hierarchies(&mounts, h, &used);
        assert_eq!(rest.len(), 7);
        assert!(!rest.contains(&h.join("memory")) && rest.contains(&h.join("devices")));
        assert!(v1_hierarchies(&parse_mountinfo(samples::PURE_V2), h, &[]).is_empty());
        let twice = "\
50 1 0:40 / /var/lib/other/blkio rw - cgroup cgroup rw,blkio
51 1 0:40 / /cg/blkio rw - cgroup cgroup rw,blkio
52 1 0:41 / /cg/memory rw - cgroup cgroup rw,memory
53 1 0:41 / /elsewhere/memory rw - cgroup cgroup rw,memory
";
        let mounts = parse_mountinfo(twice);
        assert_eq!(
            v1_hierarchies(&mounts, Path::new("/cg"), &[Path::new("/elsewhere/memory")]),
            [PathBuf::from("/cg/blkio")]
        );
    }

    #[test]
    fn test_escaped_mount_point_and_garbage_lines() {
        let text =
            "garbage\n60 1 0:50 / /tmp/my\\040cgroups rw - cgroup2 none rw\n61 1 0:51 / /x rw -\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].mount_point, Path::new("/tmp/my cgroups"));
    }

    #[test]
    fn test_unified_path() {
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/32b3\n1:cpu:/\n0::/\n";
        assert_eq!(unified_path(hybrid), Some("/"));
        let v2 = "0::/system.slice/mesolite.service\n";
        assert_eq!(unified_path(v2), Some("/system.slice/mesolite.service"));
        assert_eq!(unified_path("4:memory:/\n"), None);
    }

    #[test]
    fn test_controller_names() {
        let names: Vec<&str> = controller_names("cpuset cpu io memory pids\n").collect();
        assert_eq!(names, ["cpuset", "cpu", "io", "memory", "pids"]);
        let names: Vec<&str> = controller_names("+cpu +memory").collect();
        assert_eq!(names, ["cpu", "memory"]);
        assert_eq!(controller_names("\n").count(), 0);
    }
}
