//! Isolators: one per file, behind one small interface, enabled by their Mesos names in
//! `--isolation`. They are stateless; what a container needs (its cgroup, its init pid) comes in
//! through the contexts, so one instance serves every container.

mod appc_runtime;
mod cgroups;
mod disk;
mod docker_runtime;
mod filesystem;
mod linux;
mod namespaces;
mod posix;
mod volume;

pub use disk::xfs::{reset_tree as reset_xfs_tree, ProjectRange, XfsError, XfsQuota};

use std::fmt::Debug;
use std::path::Path;

use crate::cgroups::{ContainerCgroup, Controller};
use crate::config::{Flags, Isolator as IsolatorName};
use crate::containerizer::{ContainerInfo, VolumeSource};
use crate::launcher::LauncherKind;
use crate::resources::Resources;
use crate::stats::ResourceStatistics;

/// What isolators contribute to a launch, before the clone.
#[derive(Debug, Default)]
pub struct Plan {
    /// CLONE_NEW* flags.
    pub namespaces: u64,
    pub mount_proc: bool,
    pub hostname: Option<String>,
    /// What the container's init and task do before exec (mounts, limits, privileges).
    pub child: crate::launcher::ChildSetup,
}

/// What an isolator may look at while preparing a container.
#[derive(Debug)]
pub struct PrepareCtx<'a> {
    pub id: &'a str,
    pub resources: &'a Resources,
    pub cgroup: Option<&'a ContainerCgroup>,
    pub hostname: Option<&'a str>,
    pub container: &'a crate::containerizer::ContainerInfo,
    pub sandbox: &'a Path,
    pub enable_cfs: bool,
    /// The task's uid and gid when it runs as another user (what it creates must be its).
    pub user: Option<(u32, u32)>,
    /// The container's provisioned root filesystem, when it has an image.
    pub rootfs: Option<&'a Path>,
}

/// What an isolator may look at while measuring a container.
#[derive(Debug)]
pub struct UsageCtx<'a> {
    pub cgroup: Option<&'a ContainerCgroup>,
    pub init_pid: Option<i32>,
    pub proc_dir: &'a Path,
}

/// The isolator interface (Mesos's prepare → isolate → usage → cleanup, reduced to what the
/// built isolators need; cleanup of cgroups is the containerizer's, as it owns them).
pub trait Isolator: Debug {
    fn name(&self) -> &'static str;
    /// The cgroup controller this isolator needs, if any.
    fn controller(&self) -> Option<Controller> {
        None
    }
    fn prepare(&self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), String>;
    fn usage(
        &self,
        _ctx: &UsageCtx<'_>,
        _buf: &mut Vec<u8>,
        _out: &mut ResourceStatistics,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// Builds the isolators named in `--isolation` (already normalised by the config), with the
/// flags they take, refusing combinations that cannot work.
pub fn build(flags: &Flags, launcher: LauncherKind) -> Result<Vec<Box<dyn Isolator>>, String> {
    let caps = |l: &Option<crate::config::CapabilityList>| l.as_ref().map(|l| l.0.clone());
    let mut out: Vec<Box<dyn Isolator>> = Vec::with_capacity(flags.isolation.len());
    for name in &flags.isolation {
        let iso: Box<dyn Isolator> = match name {
            IsolatorName::FilesystemPosix => Box::new(filesystem::posix::FilesystemPosix),
            IsolatorName::FilesystemShared => Box::new(filesystem::shared::FilesystemShared),
            IsolatorName::FilesystemLinux => Box::new(filesystem::linux::FilesystemLinux {
                sandbox_directory: flags.sandbox_directory.clone(),
            }),
            IsolatorName::AppcRuntime => Box::new(appc_runtime::AppcRuntime),
            IsolatorName::DockerRuntime => Box::new(docker_runtime::DockerRuntime),
            IsolatorName::PosixCpu => Box::new(posix::cpu::PosixCpu),
            IsolatorName::PosixMem => Box::new(posix::mem::PosixMem),
            IsolatorName::PosixRlimits => Box::new(posix::rlimits::PosixRlimits),
            IsolatorName::CgroupsCpu => Box::new(cgroups::cpu::CgroupsCpu),
            IsolatorName::CgroupsMem => Box::new(cgroups::mem::CgroupsMem),
            IsolatorName::CgroupsPids => Box::new(cgroups::pids::CgroupsPids),
            IsolatorName::LinuxCapabilities => {
                Box::new(linux::capabilities::LinuxCapabilities::new(
                    caps(&flags.effective_capabilities).as_deref(),
                    caps(&flags.bounding_capabilities).as_deref(),
                )?)
            }
            IsolatorName::LinuxNnp => Box::new(linux::nnp::LinuxNnp),
            IsolatorName::NamespacesPid => Box::new(namespaces::pid::NamespacesPid),
            IsolatorName::NamespacesIpc => Box::new(namespaces::ipc::NamespacesIpc::new(
                flags.default_container_shm_size.map(|b| b.0),
            )),
            IsolatorName::NamespacesUts => Box::new(namespaces::uts::NamespacesUts),
            IsolatorName::VolumeSandboxPath => Box::new(volume::sandbox_path::VolumeSandboxPath),
            IsolatorName::VolumeHostPath => Box::new(volume::host_path::VolumeHostPath),
            IsolatorName::DiskDu => Box::new(disk::du::DiskDu),
            IsolatorName::DiskXfs => Box::new(disk::xfs::DiskXfs),
            IsolatorName::LinuxSeccomp => Box::new(linux::seccomp::LinuxSeccomp::new(
                flags.seccomp_config_dir.as_deref(),
                flags.seccomp_profile_name.as_deref(),
            )?),
        };
        if launcher == LauncherKind::Posix && name.needs_linux_launcher() {
            return Err(format!(
                "isolator '{}' needs the linux launcher (--launcher=linux)",
                iso.name()
            ));
        }
        out.push(iso);
    }
    Ok(out)
}

/// Refuses a container that asks for what no enabled isolator provides, rather than run it
/// without: each volume kind, rlimits, capabilities and seccomp need their isolator.
pub fn check_supported(
    isolators: &[Box<dyn Isolator>],
    container: &ContainerInfo,
) -> Result<(), String> {
    let enabled = |name: &str| isolators.iter().any(|i| i.name() == name);
    let mut needs: Vec<(&str, String)> = Vec::new();
    for v in &container.volumes {
        let (isolator, what) = match v.source {
            VolumeSource::Legacy(_) => ("filesystem/shared", "a 'host_path' volume"),
            VolumeSource::HostPath(_) => ("volume/host_path", "a HOST_PATH volume"),
            VolumeSource::SandboxPath(_) => ("volume/sandbox_path", "a SANDBOX_PATH volume"),
        };
        needs.push((isolator, format!("{what} ({})", v.container_path.display())));
    }
    if container.image.is_some() {
        needs.push(("filesystem/linux", "a container image".into()));
    }
    if !container.rlimits.is_empty() {
        needs.push(("posix/rlimits", "'rlimit_info'".into()));
    }
    let linux = &container.linux;
    if linux.effective_capabilities.is_some() || linux.bounding_capabilities.is_some() {
        needs.push(("linux/capabilities", "capabilities".into()));
    }
    if matches!(
        linux.seccomp,
        Some(crate::containerizer::Seccomp::Profile(_))
    ) {
        needs.push(("linux/seccomp", "a seccomp profile".into()));
    }
    match needs.into_iter().find(|(isolator, _)| !enabled(isolator)) {
        Some((isolator, what)) => Err(format!(
            "{what} needs the '{isolator}' isolator, which is not in --isolation"
        )),
        None => Ok(()),
    }
}

/// The cgroup controllers the isolators need (empty: no cgroups at all).
pub fn controllers(isolators: &[Box<dyn Isolator>]) -> Vec<Controller> {
    let mut c: Vec<Controller> = isolators.iter().filter_map(|i| i.controller()).collect();
    c.dedup();
    c
}
