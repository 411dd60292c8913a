//! Isolators: one per file, behind one small interface, enabled by their Mesos names in
//! `--isolation`. They are stateless; what a container needs (its cgroup, its init pid) comes in
//! through the contexts, so one instance serves every container.

mod cgroups;
mod disk;
mod filesystem;
mod namespaces;
mod posix;

use std::fmt::Debug;
use std::path::Path;

use crate::cgroups::{ContainerCgroup, Controller};
use crate::config::Isolator as IsolatorName;
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

/// Builds the isolators named in `--isolation` (already normalised by the config), refusing
/// combinations that cannot work.
pub fn build(
    names: &[IsolatorName],
    launcher: LauncherKind,
) -> Result<Vec<Box<dyn Isolator>>, String> {
    let mut out: Vec<Box<dyn Isolator>> = Vec::with_capacity(names.len());
    for name in names {
        let iso: Box<dyn Isolator> = match name {
            IsolatorName::FilesystemPosix => Box::new(filesystem::posix::FilesystemPosix),
            IsolatorName::PosixCpu => Box::new(posix::cpu::PosixCpu),
            IsolatorName::PosixMem => Box::new(posix::mem::PosixMem),
            IsolatorName::CgroupsCpu => Box::new(cgroups::cpu::CgroupsCpu),
            IsolatorName::CgroupsMem => Box::new(cgroups::mem::CgroupsMem),
            IsolatorName::CgroupsPids => Box::new(cgroups::pids::CgroupsPids),
            IsolatorName::NamespacesPid => Box::new(namespaces::pid::NamespacesPid),
            IsolatorName::NamespacesIpc => Box::new(namespaces::ipc::NamespacesIpc),
            IsolatorName::NamespacesUts => Box::new(namespaces::uts::NamespacesUts),
            IsolatorName::DiskDu => Box::new(disk::du::DiskDu),
        };
        if launcher == LauncherKind::Posix && iso.name().starts_with("namespaces/") {
            return Err(format!(
                "isolator '{}' needs the linux launcher (--launcher=linux)",
                iso.name()
            ));
        }
        out.push(iso);
    }
    Ok(out)
}

/// The cgroup controllers the isolators need (empty: no cgroups at all).
pub fn controllers(isolators: &[Box<dyn Isolator>]) -> Vec<Controller> {
    let mut c: Vec<Controller> = isolators.iter().filter_map(|i| i.controller()).collect();
    c.dedup();
    c
}
