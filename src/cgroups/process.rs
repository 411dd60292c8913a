//! The cgroups of a process some other runtime placed (dockerd's containers): found from
//! `/proc/<pid>/cgroup` and the mounts as the agent sees them, so that its statistics come from
//! the same readers as the agent's own containers'. Nothing is created or changed here.

use std::path::{Path, PathBuf};

use super::container::{ContainerCgroup, Kind};
use super::detect::{self, CgroupMount};
use super::error::CgroupError;
use super::{fs, read_proc, v1, Controller, ControllerSet, Features};

/// The cgroup(s) of the process whose `/proc/<pid>/cgroup` is `proc_cgroup`, named `id`.
pub fn of_process(
    hierarchy: &Path,
    mountinfo: &Path,
    proc_cgroup: &Path,
    id: &str,
) -> Result<ContainerCgroup, CgroupError> {
    let mounts = detect::parse_mountinfo(&read_proc(mountinfo)?);
    let text = read_proc(proc_cgroup)?;
    let (kind, controllers) = match locate_v1(&mounts, hierarchy, &text) {
        Some(found) => found,
        None => {
            let dir = detect::v2_mount(&mounts, hierarchy)
                .zip(detect::unified_path(&text))
                .map(|(mount, path)| mount.join(path.trim_start_matches('/')))
                .ok_or_else(|| CgroupError::ReadProc {
                    path: proc_cgroup.to_path_buf(),
                    source: std::io::Error::other("the process is in no cgroup the agent can see"),
                })?;
            // What the parent delegates is what this cgroup has.
            let mut buf = Vec::new();
            let parent = dir.parent().unwrap_or(&dir).join("cgroup.subtree_control");
            fs::read_into(&parent, &mut buf)?;
            let set = ControllerSet::parse(&String::from_utf8_lossy(&buf));
            (Kind::V2(dir), set)
        }
    };
    Ok(ContainerCgroup::new(
        id,
        controllers,
        Features::default(),
        kind,
    ))
}

/// v1 directories of the subsystems the process is in, where cpu or memory is a v1 hierarchy.
fn locate_v1(
    mounts: &[CgroupMount],
    hierarchy: &Path,
    text: &str,
) -> Option<(Kind, ControllerSet)> {
    let dir = |subsystem: &str| -> Option<PathBuf> {
        let path = text.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            names.split(',').any(|n| n == subsystem).then_some(path)
        })?;
        let mount = detect::v1_mount(mounts, subsystem, hierarchy)?;
        Some(mount.join(path.trim_start_matches('/')))
    };
    let paths = v1::Paths {
        cpu: dir("cpu"),
        cpuacct: dir("cpuacct"),
        memory: dir("memory"),
        pids: dir("pids"),
        blkio: None,
        perf_event: None,
        freezer: None,
    };
    let mut set = ControllerSet::default();
    if paths.cpu.is_some() && paths.cpuacct.is_some() {
        set.insert(Controller::Cpu);
    }
    if paths.memory.is_some() {
        set.insert(Controller::Memory);
    }
    if paths.pids.is_some() {
        set.insert(Controller::Pids);
    }
    if !set.contains(Controller::Cpu) && !set.contains(Controller::Memory) {
        return None;
    }
    Some((Kind::V1(paths), set))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_a_docker_containers_v1_cgroups() {
        let mounts = detect::parse_mountinfo(MOUNTINFO);
        let text = "9:name=systemd:/docker/abc\n4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n";
        let (kind, set) = locate_v1(&mounts, Path::new("/sys/fs/cgroup"), text).unwrap();
        let Kind::V1(paths) = kind else { panic!("v1") };
        assert_eq!(
            paths.cpu,
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/docker/abc"))
        );
        assert_eq!(paths.cpuacct, paths.cpu);
        assert_eq!(
            paths.memory,
            Some(PathBuf::from("/sys/fs/cgroup/memory/docker/abc"))
        );
        assert_eq!(paths.pids, None);
        assert!(set.contains(Controller::Cpu) && set.contains(Controller::Memory));
        assert!(!set.contains(Controller::Pids));
        // A pure v2 process: not v1.
        assert!(locate_v1(
            &mounts,
            Path::new("/sys/fs/cgroup"),
            "0::/system.slice/docker-abc.scope\n"
        )
        .is_none());
    }
}
