//! The enabled isolators, in `--isolation` order, driven through the life cycle: every step
//! in order, cleanup in reverse; events handed back to the isolator whose token or timer fired.

use crate::cgroups::Controller;
use crate::children::ChildEvent;
use crate::config::{Flags, Isolator as IsolatorName};
use crate::launcher::LauncherKind;
use crate::spec::ContainerInfo;
use crate::stats::ResourceStatistics;
use crate::status::Limitation;

use super::{
    appc_runtime, cgroups, disk, docker_runtime, filesystem, linux, namespaces, network, posix,
    volume,
};
use super::{
    ChildOutcome, ContainerCtx, Feature, Isolated, Isolator, IsolatorError, IsolatorStatus,
    Limited, LoopParts, Plan, PrepareCtx, Step, StepError, UsageCtx,
};

/// The isolators of this agent.
#[derive(Default)]
pub struct Isolators {
    list: Vec<Box<dyn Isolator>>,
}

// Their names, not their state: a Debug of every isolator's per-container state would be code
// (float and path formatting) in the binary for a value nobody prints.
impl std::fmt::Debug for Isolators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|i| i.name()))
            .finish()
    }
}

impl Isolators {
    /// Builds the isolators named in `--isolation` (already normalised by the config), with
    /// the flags they take, refusing combinations that cannot work.
    pub fn build(flags: &Flags, launcher: LauncherKind) -> Result<Isolators, IsolatorError> {
        let mut list: Vec<Box<dyn Isolator>> = Vec::with_capacity(flags.isolation.len());
        for name in &flags.isolation {
            let iso = build_one(*name, flags)?;
            if launcher == LauncherKind::Posix && name.needs_linux_launcher() {
                return Err(IsolatorError::Config(format!(
                    "isolator '{}' needs the linux launcher (--launcher=linux)",
                    iso.name()
                )));
            }
            list.push(iso);
        }
        Ok(Isolators { list })
    }

    /// A set of given isolators (tests).
    pub fn from_list(list: Vec<Box<dyn Isolator>>) -> Isolators {
        Isolators { list }
    }

    /// The cgroup controllers the isolators need (empty: no cgroups at all).
    pub fn controllers(&self) -> Vec<Controller> {
        let mut c: Vec<Controller> = self.list.iter().filter_map(|i| i.controller()).collect();
        c.dedup();
        c
    }

    /// Whether an enabled isolator serves `feature`.
    pub fn serves(&self, feature: Feature) -> bool {
        self.list.iter().any(|i| i.serves().contains(&feature))
    }

    /// Refuses a container that asks for what no enabled isolator provides, rather than run
    /// it without.
    pub fn check_supported(&self, container: &ContainerInfo) -> Result<(), IsolatorError> {
        match Feature::needed_by(container)
            .into_iter()
            .find(|(feature, _)| !self.serves(*feature))
        {
            Some((feature, what)) => Err(IsolatorError::Unsupported {
                what,
                isolator: feature.isolator(),
            }),
            None => Ok(()),
        }
    }

    /// Arms what the isolators need from the start (their timers).
    pub fn start(&mut self, lp: &mut LoopParts<'_>) {
        for (index, iso) in self.indexed() {
            iso.start(&mut lp.ops(index));
        }
    }

    /// PREPARE, in order; the first failure stops it (the caller then cleans up all).
    pub fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), StepError> {
        for iso in &mut self.list {
            iso.prepare(ctx, plan).map_err(|error| StepError {
                isolator: iso.name(),
                step: Step::Prepare,
                error,
            })?;
        }
        Ok(())
    }

    /// ISOLATE, in order, once the init exists: the isolators (by index) still at work for
    /// it, whose `on_child` says when they are done.
    pub fn isolate(
        &mut self,
        ctx: &ContainerCtx<'_>,
        lp: &mut LoopParts<'_>,
    ) -> Result<Vec<u16>, StepError> {
        let mut pending = Vec::new();
        for (index, iso) in self.indexed() {
            let done = iso
                .isolate(ctx, &mut lp.ops(index))
                .map_err(|error| StepError {
                    isolator: iso.name(),
                    step: Step::Isolate,
                    error,
                })?;
            if done == Isolated::Pending {
                pending.push(index);
            }
        }
        Ok(pending)
    }

    /// The name of the isolator at `index` (for a message).
    pub fn name_of(&self, index: u16) -> &'static str {
        self.list
            .get(usize::from(index))
            .map_or("isolator", |i| i.name())
    }

    /// After recovery: each isolator releases what it holds for containers not `known`.
    pub fn recovered(&mut self, known: &dyn Fn(&str) -> bool, lp: &mut LoopParts<'_>) {
        for (index, iso) in self.indexed() {
            iso.recovered(known, &mut lp.ops(index));
        }
    }

    /// What the isolators add to the status of the container in `slot`.
    pub fn status(&self, slot: u32) -> IsolatorStatus {
        let mut out = IsolatorStatus::default();
        for iso in &self.list {
            iso.status(slot, &mut out);
        }
        out
    }

    /// RECOVER a container found running after a restart, in order. A failure is logged: the
    /// container runs on, without what that isolator would have watched.
    pub fn recover(&mut self, ctx: &ContainerCtx<'_>, lp: &mut LoopParts<'_>) {
        for (index, iso) in self.indexed() {
            if let Err(error) = iso.recover(ctx, &mut lp.ops(index)) {
                let e = StepError {
                    isolator: iso.name(),
                    step: Step::Recover,
                    error,
                };
                log::warn!("Container {}: {e}", ctx.id);
            }
        }
    }

    /// CLEANUP, in reverse order; every isolator is asked even if one fails.
    pub fn cleanup(&mut self, ctx: &ContainerCtx<'_>, lp: &mut LoopParts<'_>) {
        for (index, iso) in self.indexed().rev() {
            if let Err(error) = iso.cleanup(ctx, &mut lp.ops(index)) {
                let e = StepError {
                    isolator: iso.name(),
                    step: Step::Cleanup,
                    error,
                };
                log::warn!("Container {}: {e}", ctx.id);
            }
        }
    }

    /// The fd the isolator at `index` watches under `tag` fired for the container.
    pub fn on_ready(
        &mut self,
        index: u16,
        tag: u8,
        ctx: &ContainerCtx<'_>,
        lp: &mut LoopParts<'_>,
    ) -> Option<Limitation> {
        let iso = self.list.get_mut(usize::from(index))?;
        iso.on_ready(ctx, tag, &mut lp.ops(index))
    }

    /// The timer of the isolator at `index` fired.
    pub fn on_timer(
        &mut self,
        index: u16,
        running: &[u32],
        lp: &mut LoopParts<'_>,
    ) -> Vec<Limited> {
        match self.list.get_mut(usize::from(index)) {
            Some(iso) => iso.on_timer(running, &mut lp.ops(index)),
            None => Vec::new(),
        }
    }

    /// A child the isolator at `index` ran wrote or finished.
    pub fn on_child(
        &mut self,
        index: u16,
        slot: u32,
        event: ChildEvent,
        lp: &mut LoopParts<'_>,
    ) -> ChildOutcome {
        match self.list.get_mut(usize::from(index)) {
            Some(iso) => iso.on_child(slot, event, &mut lp.ops(index)),
            None => ChildOutcome::default(),
        }
    }

    /// The container's processes are gone: the first limitation an isolator finds.
    pub fn on_exit(&mut self, ctx: &ContainerCtx<'_>) -> Option<Limitation> {
        self.list.iter_mut().find_map(|iso| iso.on_exit(ctx))
    }

    /// Statistics: every isolator adds what it measures (a failure only loses its fields).
    pub fn usage(&self, ctx: &UsageCtx<'_>, buf: &mut Vec<u8>, out: &mut ResourceStatistics) {
        for iso in &self.list {
            if let Err(e) = iso.usage(ctx, buf, out) {
                log::debug!("Container slot {}: {} usage: {e}", ctx.slot, iso.name());
            }
        }
    }

    /// SIGHUP: each isolator reads again what it read from files once.
    pub fn reload(&mut self) {
        for iso in &mut self.list {
            iso.reload();
        }
    }

    pub fn metrics(&self, out: &mut Vec<(String, f64)>) {
        for iso in &self.list {
            iso.metrics(out);
        }
    }

    fn indexed(&mut self) -> impl DoubleEndedIterator<Item = (u16, &mut Box<dyn Isolator>)> + '_ {
        self.list
            .iter_mut()
            .enumerate()
            .map(|(i, iso)| (u16::try_from(i).unwrap_or(u16::MAX), iso))
    }
}

fn build_one(name: IsolatorName, flags: &Flags) -> Result<Box<dyn Isolator>, IsolatorError> {
    let caps = |l: &Option<crate::config::CapabilityList>| l.as_ref().map(|l| l.0.clone());
    Ok(match name {
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
        IsolatorName::CgroupsMem => Box::new(cgroups::mem::CgroupsMem::default()),
        IsolatorName::CgroupsPids => Box::new(cgroups::pids::CgroupsPids),
        IsolatorName::CgroupsBlkio => Box::new(cgroups::blkio::CgroupsBlkio),
        IsolatorName::CgroupsPerfEvent => Box::new(cgroups::perf_event::CgroupsPerfEvent::new(
            flags.perf_events.as_deref(),
            flags.perf_interval,
            flags.perf_duration,
            std::path::Path::new("/sys/devices/system/cpu/online"),
        )?),
        IsolatorName::LinuxCapabilities => Box::new(
            linux::capabilities::LinuxCapabilities::new(
                caps(&flags.effective_capabilities).as_deref(),
                caps(&flags.bounding_capabilities).as_deref(),
            )
            .map_err(IsolatorError::Capabilities)?,
        ),
        IsolatorName::LinuxNnp => Box::new(linux::nnp::LinuxNnp),
        IsolatorName::NamespacesPid => Box::new(namespaces::pid::NamespacesPid),
        IsolatorName::NamespacesIpc => Box::new(namespaces::ipc::NamespacesIpc::new(
            flags.default_container_shm_size.map(|b| b.0),
        )),
        IsolatorName::NamespacesUts => Box::new(namespaces::uts::NamespacesUts),
        IsolatorName::NetworkCni => Box::new(network_cni(flags)?),
        IsolatorName::VolumeSandboxPath => Box::new(volume::sandbox_path::VolumeSandboxPath),
        IsolatorName::VolumeHostPath => Box::new(volume::host_path::VolumeHostPath),
        IsolatorName::DiskDu => Box::new(disk::du::DiskDu::new(
            flags.container_disk_watch_interval,
            flags.enforce_container_disk_quota,
        )),
        IsolatorName::DiskXfs => Box::new(disk::xfs_isolator::DiskXfs::open(flags)?),
        IsolatorName::LinuxSeccomp => Box::new(
            linux::seccomp::LinuxSeccomp::new(
                flags.seccomp_config_dir.as_deref(),
                flags.seccomp_profile_name.as_deref(),
            )
            .map_err(IsolatorError::Seccomp)?,
        ),
    })
}

/// network/cni from its flags: both directories or neither (then only the host network).
fn network_cni(flags: &Flags) -> Result<network::cni::NetworkCni, IsolatorError> {
    let dirs = match (
        &flags.network_cni_config_dir,
        &flags.network_cni_plugins_dir,
    ) {
        (Some(config_dir), Some(plugins_dir)) => Some(network::cni::CniDirs {
            config_dir: config_dir.clone(),
            plugins_dir: plugins_dir.clone(),
        }),
        (None, None) => None,
        _ => {
            return Err(IsolatorError::Config(
                "--network_cni_config_dir and --network_cni_plugins_dir go together".into(),
            ))
        }
    };
    let base = if flags.network_cni_root_dir_persist {
        &flags.work_dir
    } else {
        &flags.runtime_dir
    };
    network::cni::NetworkCni::new(
        dirs,
        base.join("isolators/network/cni"),
        flags.network_cni_plugin_timeout,
        flags.default_container_dns.clone(),
        flags.proc_dir.clone(),
    )
}
