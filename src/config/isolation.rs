//! `--isolation`: the list of isolators, normalised as the Mesos containerizer does
//! (reference/mesos.md §1.3): aliases expanded, duplicates and unknown names refused, exactly
//! one `filesystem/*`, and the result in Mesos creation order.

use std::fmt;

/// An isolator mesolite implements. Variants are declared in Mesos creation order, so the
/// derived `Ord` is the order in which isolators prepare (and, reversed, clean up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isolator {
    FilesystemPosix,
    FilesystemLinux,
    FilesystemShared,
    PosixCpu,
    PosixMem,
    PosixRlimits,
    CgroupsCpu,
    CgroupsMem,
    CgroupsPids,
    CgroupsBlkio,
    CgroupsPerfEvent,
    LinuxCapabilities,
    LinuxNnp,
    NamespacesIpc,
    NamespacesPid,
    /// Not a Mesos isolator (Mesos names containers through network/cni); kept beside the
    /// other namespaces.
    NamespacesUts,
    NetworkCni,
    VolumeSandboxPath,
    VolumeHostPath,
    AppcRuntime,
    DockerRuntime,
    DiskDu,
    DiskXfs,
    LinuxSeccomp,
}

const ALL: &[Isolator] = &[
    Isolator::FilesystemPosix,
    Isolator::FilesystemLinux,
    Isolator::FilesystemShared,
    Isolator::PosixCpu,
    Isolator::PosixMem,
    Isolator::PosixRlimits,
    Isolator::CgroupsCpu,
    Isolator::CgroupsMem,
    Isolator::CgroupsPids,
    Isolator::CgroupsBlkio,
    Isolator::CgroupsPerfEvent,
    Isolator::LinuxCapabilities,
    Isolator::LinuxNnp,
    Isolator::NamespacesIpc,
    Isolator::NamespacesPid,
    Isolator::NamespacesUts,
    Isolator::NetworkCni,
    Isolator::VolumeSandboxPath,
    Isolator::VolumeHostPath,
    Isolator::AppcRuntime,
    Isolator::DockerRuntime,
    Isolator::DiskDu,
    Isolator::DiskXfs,
    Isolator::LinuxSeccomp,
];

/// Isolators Mesos has and mesolite does not (yet): named so the error can say so.
const NOT_YET: &[&str] = &[
    "filesystem/windows",
    "windows/cpu",
    "windows/mem",
    "cgroups/all",
    "cgroups/cpuset",
    "cgroups/devices",
    "cgroups/hugetlb",
    "cgroups/net_cls",
    "cgroups/net_prio",
    "linux/devices",
    "docker/volume",
    "volume/image",
    "volume/secret",
    "volume/csi",
    "gpu/nvidia",
    "network/port_mapping",
    "network/ports",
    "environment_secret",
];

impl Isolator {
    /// The Mesos name, as written in `--isolation`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FilesystemPosix => "filesystem/posix",
            Self::FilesystemLinux => "filesystem/linux",
            Self::FilesystemShared => "filesystem/shared",
            Self::PosixCpu => "posix/cpu",
            Self::PosixMem => "posix/mem",
            Self::PosixRlimits => "posix/rlimits",
            Self::CgroupsCpu => "cgroups/cpu",
            Self::CgroupsMem => "cgroups/mem",
            Self::CgroupsPids => "cgroups/pids",
            Self::CgroupsBlkio => "cgroups/blkio",
            Self::CgroupsPerfEvent => "cgroups/perf_event",
            Self::LinuxCapabilities => "linux/capabilities",
            Self::LinuxNnp => "linux/nnp",
            Self::NamespacesIpc => "namespaces/ipc",
            Self::NamespacesPid => "namespaces/pid",
            Self::NamespacesUts => "namespaces/uts",
            Self::NetworkCni => "network/cni",
            Self::VolumeSandboxPath => "volume/sandbox_path",
            Self::VolumeHostPath => "volume/host_path",
            Self::AppcRuntime => "appc/runtime",
            Self::DockerRuntime => "docker/runtime",
            Self::DiskDu => "disk/du",
            Self::DiskXfs => "disk/xfs",
            Self::LinuxSeccomp => "linux/seccomp",
        }
    }

    fn from_name(name: &str) -> Option<Isolator> {
        ALL.iter().copied().find(|isolator| isolator.name() == name)
    }

    /// True for the isolators that need the `linux` launcher (it creates the namespaces;
    /// volumes are mounts in the container's own mount namespace).
    pub fn needs_linux_launcher(&self) -> bool {
        matches!(
            self,
            Self::FilesystemShared
                | Self::FilesystemLinux
                | Self::NamespacesIpc
                | Self::NamespacesPid
                | Self::NamespacesUts
                | Self::NetworkCni
                | Self::VolumeSandboxPath
                | Self::VolumeHostPath
        )
    }

    fn is_filesystem(&self) -> bool {
        matches!(
            self,
            Self::FilesystemPosix | Self::FilesystemShared | Self::FilesystemLinux
        )
    }
}

impl fmt::Display for Isolator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Deprecated Mesos aliases and what they stand for.
fn expand_alias(name: &str) -> &[&str] {
    match name {
        "process" => &["posix/cpu", "posix/mem"],
        "cgroups" => &["cgroups/cpu", "cgroups/mem"],
        "posix/disk" => &["disk/du"],
        _ => &[],
    }
}

/// Parses and normalises an `--isolation` value; the error is the reason, in Mesos words.
pub fn parse_isolation(text: &str) -> Result<Vec<Isolator>, String> {
    let mut names: Vec<&str> = Vec::new();
    for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match expand_alias(token) {
            [] => names.push(token),
            expanded => names.extend_from_slice(expanded),
        }
    }
    let mut isolators = Vec::new();
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            return Err(format!("Duplicate entries found in --isolation: '{name}'"));
        }
        match Isolator::from_name(name) {
            Some(isolator) => isolators.push(isolator),
            None if NOT_YET.contains(name) => {
                return Err(format!("isolator '{name}' is not supported yet"))
            }
            None => return Err(format!("Unknown or unsupported isolator '{name}'")),
        }
    }
    // Exactly one filesystem isolator: none given means filesystem/posix.
    let filesystems: Vec<&str> = isolators
        .iter()
        .filter(|i| i.is_filesystem())
        .map(Isolator::name)
        .collect();
    match filesystems.len() {
        0 => isolators.push(Isolator::FilesystemPosix),
        1 => {
            // filesystem/linux mounts volumes the way these two do: they come with it.
            if isolators.contains(&Isolator::FilesystemLinux) {
                for implied in [Isolator::VolumeHostPath, Isolator::VolumeSandboxPath] {
                    if !isolators.contains(&implied) {
                        isolators.push(implied);
                    }
                }
            }
        }
        _ => {
            return Err(format!(
                "Using multiple filesystem isolators simultaneously is disallowed: {}",
                filesystems.join(",")
            ))
        }
    }
    // Both would measure (and limit) the same sandboxes.
    if isolators.contains(&Isolator::DiskDu) && isolators.contains(&Isolator::DiskXfs) {
        return Err("disk/du and disk/xfs are exclusive: use one of them".into());
    }
    isolators.sort();
    Ok(isolators)
}

/// Renders the list back as a comma-separated `--isolation` value.
pub fn format_isolation(isolators: &[Isolator]) -> String {
    isolators
        .iter()
        .map(Isolator::name)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use Isolator::*;

    #[test]
    fn test_default_list_gets_filesystem_first() {
        let parsed = parse_isolation("cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid");
        assert_eq!(
            parsed,
            Ok(vec![
                FilesystemPosix,
                CgroupsCpu,
                CgroupsMem,
                CgroupsPids,
                NamespacesPid
            ])
        );
    }

    #[test]
    fn test_creation_order() {
        let parsed =
            parse_isolation("namespaces/uts,namespaces/pid,namespaces/ipc,cgroups/mem,posix/cpu");
        assert_eq!(
            parsed,
            Ok(vec![
                FilesystemPosix,
                PosixCpu,
                CgroupsMem,
                NamespacesIpc,
                NamespacesPid,
                NamespacesUts
            ])
        );
    }

    #[test]
    fn test_aliases() {
        assert_eq!(
            parse_isolation("process"),
            Ok(vec![FilesystemPosix, PosixCpu, PosixMem])
        );
        assert_eq!(
            parse_isolation("cgroups,namespaces/pid"),
            Ok(vec![FilesystemPosix, CgroupsCpu, CgroupsMem, NamespacesPid])
        );
        assert_eq!(
            parse_isolation("posix/disk"),
            Ok(vec![FilesystemPosix, DiskDu])
        );
        assert!(
            parse_isolation("disk/du,posix/disk").is_err(),
            "the alias duplicates disk/du"
        );
    }

    #[test]
    fn test_duplicates_refused() {
        assert!(parse_isolation("cgroups/cpu,cgroups/cpu")
            .unwrap_err()
            .contains("Duplicate"));
        // An alias that expands onto an explicit entry is a duplicate as well.
        assert!(parse_isolation("process,posix/mem")
            .unwrap_err()
            .contains("'posix/mem'"));
        assert!(parse_isolation("filesystem/posix,filesystem/posix")
            .unwrap_err()
            .contains("Duplicate"));
    }

    #[test]
    fn test_unknown_and_unsupported() {
        assert_eq!(
            parse_isolation("cgroups/cpu,foo/bar"),
            Err("Unknown or unsupported isolator 'foo/bar'".to_string())
        );
        assert_eq!(
            parse_isolation("network/port_mapping"),
            Err("isolator 'network/port_mapping' is not supported yet".to_string())
        );
        assert_eq!(
            parse_isolation("docker/volume"),
            Err("isolator 'docker/volume' is not supported yet".to_string())
        );
    }

    #[test]
    fn test_explicit_filesystem_and_empty() {
        assert_eq!(
            parse_isolation("posix/mem, filesystem/posix"),
            Ok(vec![FilesystemPosix, PosixMem])
        );
        assert_eq!(parse_isolation(""), Ok(vec![FilesystemPosix]));
    }

    #[test]
    fn test_round_trip() {
        let parsed = parse_isolation("namespaces/pid,cgroups/cpu").unwrap();
        assert_eq!(
            format_isolation(&parsed),
            "filesystem/posix,cgroups/cpu,namespaces/pid"
        );
        assert_eq!(parse_isolation(&format_isolation(&parsed)), Ok(parsed));
    }

    #[test]
    fn test_exactly_one_filesystem() {
        assert_eq!(
            parse_isolation("filesystem/shared,cgroups/cpu"),
            Ok(vec![FilesystemShared, CgroupsCpu])
        );
        let err = parse_isolation("filesystem/posix,filesystem/shared").unwrap_err();
        assert!(err.contains("multiple filesystem isolators"), "{err}");
        assert!(err.contains("filesystem/posix,filesystem/shared"), "{err}");
    }

    #[test]
    fn test_new_isolators_in_mesos_creation_order() {
        let parsed = parse_isolation(
            "linux/seccomp,volume/host_path,namespaces/uts,volume/sandbox_path,linux/nnp,\
             linux/capabilities,posix/rlimits,namespaces/ipc,cgroups/mem,filesystem/shared",
        );
        assert_eq!(
            parsed,
            Ok(vec![
                FilesystemShared,
                PosixRlimits,
                CgroupsMem,
                LinuxCapabilities,
                LinuxNnp,
                NamespacesIpc,
                NamespacesUts,
                VolumeSandboxPath,
                VolumeHostPath,
                LinuxSeccomp
            ])
        );
        // Every name parses back to itself.
        for isolator in ALL {
            assert_eq!(Isolator::from_name(isolator.name()), Some(*isolator));
        }
    }

    #[test]
    fn test_duplicates_of_new_names_refused() {
        assert!(parse_isolation("linux/seccomp,linux/seccomp")
            .unwrap_err()
            .contains("Duplicate"));
        assert!(parse_isolation("filesystem/shared, filesystem/shared")
            .unwrap_err()
            .contains("Duplicate"));
    }

    #[test]
    fn test_disk_xfs_and_its_exclusion_with_disk_du() {
        assert_eq!(
            parse_isolation("disk/xfs,cgroups/mem"),
            Ok(vec![FilesystemPosix, CgroupsMem, DiskXfs])
        );
        let err = parse_isolation("disk/xfs,disk/du").unwrap_err();
        assert!(err.contains("exclusive"), "{err}");
        // The alias of disk/du as well.
        assert!(parse_isolation("posix/disk,disk/xfs").is_err());
        assert!(parse_isolation("disk/xfs,disk/xfs")
            .unwrap_err()
            .contains("Duplicate"));
    }

    #[test]
    fn test_filesystem_linux_brings_the_volume_isolators() {
        assert_eq!(
            parse_isolation("docker/runtime,filesystem/linux"),
            Ok(vec![
                FilesystemLinux,
                VolumeSandboxPath,
                VolumeHostPath,
                DockerRuntime
            ])
        );
        assert_eq!(
            parse_isolation("docker/runtime,appc/runtime,filesystem/linux"),
            Ok(vec![
                FilesystemLinux,
                VolumeSandboxPath,
                VolumeHostPath,
                AppcRuntime,
                DockerRuntime
            ])
        );
        assert!(parse_isolation("filesystem/linux,filesystem/posix")
            .unwrap_err()
            .contains("multiple filesystem isolators"));
        assert!(FilesystemLinux.needs_linux_launcher());
    }

    #[test]
    fn test_which_need_the_linux_launcher() {
        assert!(FilesystemShared.needs_linux_launcher());
        assert!(VolumeHostPath.needs_linux_launcher());
        assert!(VolumeSandboxPath.needs_linux_launcher());
        assert!(!PosixRlimits.needs_linux_launcher());
        assert!(!LinuxCapabilities.needs_linux_launcher());
        assert!(!LinuxSeccomp.needs_linux_launcher());
    }
}
