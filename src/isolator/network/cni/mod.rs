//! `network/cni` (Mesos `isolators/network/cni`): a container naming networks in
//! `network_infos` gets a network namespace of its own (and UTS and mount namespaces: its
//! hostname, and `/etc/{hostname,hosts,resolv.conf}` bound over the container's), attached to
//! each CNI network by the network's plugin chain (interfaces eth0, eth1, ...). The namespace
//! is bound at `<root>/<container_id>/ns` before the ADDs, so that DEL works whenever it comes,
//! also after an agent restart. The plugins run as children of the loop; the task starts once
//! every ADD succeeded (`isolate` answers `Pending`); a failure fails the launch, and the
//! cleanup then DELs what was attached. Containers without networks stay on the host's.

mod chain;
mod config;
mod files;
mod invoke;
mod netlink_glue;
mod plan;
mod state;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::{
    ChildOutcome, ContainerCtx, Feature, Isolated, Isolator, IsolatorError, IsolatorStatus, Ops,
    Plan, PrepareCtx, UsageCtx,
};
use crate::children::ChildEvent;
use crate::launcher::MountStep;
use crate::spec::{IpRequest, NetworkInfo};
use crate::stats::ResourceStatistics;
use crate::sys::process::{CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUTS};
use chain::{Attached, Exec, Run, Step};
pub use config::CniDirs;
use invoke::Verb;

/// Loop slots of detaches (DELs outliving their container's slot) start here.
const DETACH_BASE: u32 = 0x8000_0000;

/// The network/cni isolator.
#[derive(Debug)]
pub struct NetworkCni {
    /// None: no CNI flags, only the host network.
    dirs: Option<CniDirs>,
    root: PathBuf,
    timeout: Duration,
    default_dns: Option<String>,
    proc_dir: PathBuf,
    /// By container slot: from PREPARE to the cleanup.
    containers: HashMap<u32, Attached>,
    /// By detach slot: DELs running for containers that are gone.
    detaching: HashMap<u32, Attached>,
    next_detach: u32,
}

impl NetworkCni {
    pub fn new(
        dirs: Option<CniDirs>,
        root: PathBuf,
        timeout: Duration,
        default_dns: Option<String>,
        proc_dir: PathBuf,
    ) -> Result<NetworkCni, IsolatorError> {
        if let Some(d) = &dirs {
            if !d.config_dir.is_dir() {
                return Err(IsolatorError::Config(format!(
                    "--network_cni_config_dir {} is not a directory",
                    d.config_dir.display()
                )));
            }
        }
        Ok(NetworkCni {
            dirs,
            root,
            timeout,
            default_dns,
            proc_dir,
            containers: HashMap::new(),
            detaching: HashMap::new(),
            next_detach: DETACH_BASE,
        })
    }

    fn exec(&self) -> Option<Exec<'_>> {
        self.dirs.as_ref().map(|d| Exec {
            plugins_dir: &d.plugins_dir,
            timeout: self.timeout,
        })
    }

    /// Starts the DELs of a container that is gone; its namespace and checkpoint go after.
    fn detach(&mut self, mut att: Attached, ops: &mut Ops<'_>) {
        att.run = Some(Run::new(Verb::Del, &att.nets));
        let slot = self.next_detach;
        self.next_detach = self.next_detach.wrapping_add(1).max(DETACH_BASE);
        let step = match self.exec() {
            Some(exec) => att.advance(slot, &exec, ops),
            None => Step::Done,
        };
        match step {
            Step::Running => {
                self.detaching.insert(slot, att);
            }
            Step::Done | Step::Failed(_) => finish_detach(&att),
        }
    }

    fn is_detaching(&self, id: &str) -> bool {
        self.detaching.values().any(|a| a.id == id)
    }

    /// The ADD chain of the container in `slot` moved on.
    fn add_step(&mut self, slot: u32, step: Step, out: &mut ChildOutcome) {
        match step {
            Step::Running => {}
            Step::Failed(msg) => out.isolated.push((slot, Err(IsolatorError::Request(msg)))),
            Step::Done => {
                let Some(att) = self.containers.get_mut(&slot) else {
                    return;
                };
                att.run = None;
                let mut done = Ok(());
                for net in att.nets.iter() {
                    if let Err(e) = state::write_result(&att.dir, net) {
                        done = Err(io_error("checkpoint the network result in", &att.dir, e));
                    }
                }
                if let Some(att) = self.containers.get(&slot) {
                    if let Err(e) = self.write_files(att) {
                        done = Err(io_error("write /etc files in", &att.dir, e));
                    }
                }
                out.isolated.push((slot, done));
            }
        }
    }
}

fn io_error(what: &'static str, path: &Path, source: std::io::Error) -> IsolatorError {
    IsolatorError::Path {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// After the DELs: the namespace is unbound and the checkpoint removed. If a DEL failed, both
/// stay (the namespace still holds the container's interfaces): REMOVE runs the DELs again
/// (cleanup finds the checkpoint of a container it no longer holds), and so does the agent's
/// next start for a container it does not know (the orphan path).
fn finish_detach(att: &Attached) {
    if att.run.as_ref().is_some_and(|r| r.del_failed) {
        log::warn!(
            "Container {}: a CNI DEL failed; {} is kept for a retry (REMOVE, or the agent's next start)",
            att.id,
            att.dir.display()
        );
        return;
    }
    let ns = state::netns_path(&att.dir);
    if ns.exists() {
        if let Err(e) = crate::sys::mount::unmount(&ns, true) {
            if e.raw_os_error() != Some(libc::EINVAL) {
                log::warn!("Container {}: unmount {}: {e}", att.id, ns.display());
            }
        }
    }
    if let Err(e) = fs::remove_dir_all(&att.dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            log::warn!("Container {}: remove {}: {e}", att.id, att.dir.display());
        }
    }
    log::debug!("Container {}: detached from its networks", att.id);
}

fn cpath(p: &Path) -> Result<CString, IsolatorError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| IsolatorError::Request(format!("a NUL in path {}", p.display())))
}

impl Isolator for NetworkCni {
    fn name(&self) -> &'static str {
        "network/cni"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::Network]
    }

    fn start(&mut self, _ops: &mut Ops<'_>) {
        if self.dirs.is_none() {
            return;
        }
        if let Err(e) = fs::create_dir_all(&self.root) {
            log::warn!("network/cni: create {}: {e}", self.root.display());
            return;
        }
        // Unbinding a namespace must reach the copies later containers' mount namespaces took.
        if let Err(e) = crate::sys::mount::make_shared_mount(&self.root) {
            log::warn!(
                "network/cni: make {} a shared mount: {e}",
                self.root.display()
            );
        }
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        let requests: Vec<&NetworkInfo> = ctx
            .container
            .network_infos
            .iter()
            .filter(|n| n.name.is_some())
            .collect();
        if requests.is_empty() {
            return Ok(());
        }
        if self.is_detaching(ctx.id) {
            return Err(IsolatorError::Request(format!(
                "the networks of an earlier container {} are still being detached",
                ctx.id
            )));
        }
        let nets = self.plan_networks(&requests)?;
        let dir = state::container_dir(&self.root, ctx.id);
        if state::netns_path(&dir).exists() {
            return Err(IsolatorError::Request(format!(
                "the networks of an earlier container {} could not be detached (a CNI DEL \
                 failed); REMOVE or the agent's next start runs the DEL again",
                ctx.id
            )));
        }
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        let hostname: String = ctx.hostname.unwrap_or(ctx.id).chars().take(64).collect();
        plan.namespaces |= CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWNS;
        plan.hostname = Some(hostname.clone());
        plan.child.loopback_up = true;
        // As Mesos sets it for executors on a CNI network: a libprocess in the container binds
        // all of the namespace's addresses, not the host's IP that it would resolve.
        plan.env.push(("LIBPROCESS_IP".into(), "0.0.0.0".into()));
        for name in files::NAMES {
            let source = dir.join(name);
            fs::write(&source, "").map_err(|e| io_error("create", &source, e))?;
            let target = match ctx.rootfs {
                Some(rootfs) => {
                    let etc = rootfs.join("etc");
                    fs::create_dir_all(&etc).map_err(|e| io_error("create", &etc, e))?;
                    let t = etc.join(name);
                    if !t.exists() {
                        fs::write(&t, "").map_err(|e| io_error("create", &t, e))?;
                    }
                    t
                }
                None => Path::new("/etc").join(name),
            };
            if !target.exists() {
                continue;
            }
            plan.child.mounts.push(MountStep::Bind {
                source: cpath(&source)?,
                target: cpath(&target)?,
                read_only: true,
            });
        }
        self.containers.insert(
            ctx.slot,
            Attached {
                id: ctx.id.to_string(),
                dir,
                hostname,
                nets,
                run: None,
                netlink: RefCell::new(None),
            },
        );
        Ok(())
    }

    fn isolate(
        &mut self,
        ctx: &ContainerCtx<'_>,
        ops: &mut Ops<'_>,
    ) -> Result<Isolated, IsolatorError> {
        let Some(att) = self.containers.get_mut(&ctx.slot) else {
            return Ok(Isolated::Done);
        };
        let pid = ctx
            .pid
            .ok_or_else(|| IsolatorError::Request("the container's init is gone".into()))?;
        let ns = state::netns_path(&att.dir);
        fs::write(&ns, "").map_err(|e| io_error("create", &ns, e))?;
        let source = self.proc_dir.join(pid.to_string()).join("ns/net");
        crate::sys::mount::bind_path(&source, &ns)
            .map_err(|e| io_error("bind the network namespace on", &ns, e))?;
        for net in att.nets.iter() {
            state::write_config(&att.dir, net)
                .map_err(|e| io_error("checkpoint the network in", &att.dir, e))?;
        }
        att.run = Some(Run::new(Verb::Add, &att.nets));
        let Some(dirs) = self.dirs.as_ref() else {
            return Ok(Isolated::Done);
        };
        let exec = Exec {
            plugins_dir: &dirs.plugins_dir,
            timeout: self.timeout,
        };
        match att.advance(ctx.slot, &exec, ops) {
            Step::Running => Ok(Isolated::Pending),
            Step::Failed(msg) => Err(IsolatorError::Request(msg)),
            Step::Done => {
                let mut out = ChildOutcome::default();
                self.add_step(ctx.slot, Step::Done, &mut out);
                match out.isolated.pop() {
                    Some((_, Err(e))) => Err(e),
                    _ => Ok(Isolated::Done),
                }
            }
        }
    }

    fn on_child(&mut self, slot: u32, event: ChildEvent, ops: &mut Ops<'_>) -> ChildOutcome {
        let mut out = ChildOutcome::default();
        let (status, timed_out) = match event {
            ChildEvent::Lines { lines, .. } => {
                let att = match self.containers.get_mut(&slot) {
                    Some(a) => Some(a),
                    None => self.detaching.get_mut(&slot),
                };
                if let Some(run) = att.and_then(|a| a.run.as_mut()) {
                    for l in &lines {
                        run.take_line(l);
                    }
                }
                return out;
            }
            ChildEvent::Finished {
                status, timed_out, ..
            } => (status, timed_out),
        };
        let (dirs, timeout) = match &self.dirs {
            Some(d) => (d.plugins_dir.clone(), self.timeout),
            None => return out,
        };
        let exec = Exec {
            plugins_dir: &dirs,
            timeout,
        };
        if slot >= DETACH_BASE {
            if let Some(att) = self.detaching.get_mut(&slot) {
                if let Step::Done | Step::Failed(_) =
                    att.finished(status, timed_out, slot, &exec, ops)
                {
                    if let Some(att) = self.detaching.remove(&slot) {
                        finish_detach(&att);
                    }
                }
            }
            return out;
        }
        let Some(att) = self.containers.get_mut(&slot) else {
            return out;
        };
        let step = att.finished(status, timed_out, slot, &exec, ops);
        self.add_step(slot, step, &mut out);
        out
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        _buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        let Some(att) = self.containers.get(&ctx.slot) else {
            return Ok(());
        };
        if att.run.is_some() {
            return Ok(());
        }
        let ifnames: Vec<&str> = att.nets.iter().map(|n| n.ifname.as_str()).collect();
        let host: Vec<String> = att
            .nets
            .iter()
            .filter_map(|n| n.result.as_ref())
            .flat_map(invoke::host_interfaces)
            .collect();
        let host: Vec<&str> = host.iter().map(String::as_str).collect();
        let netns = state::netns_path(&att.dir);
        netlink_glue::usage(&att.netlink, &netns, &ifnames, &host, ctx.pass, out)
            .map_err(IsolatorError::Config)
    }

    fn cleanup(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        if let Some(mut att) = self.containers.remove(&ctx.slot) {
            if let Some(child) = att.run.take().and_then(|r| r.child()) {
                ops.kill(child);
            }
            self.detach(att, ops);
            return Ok(());
        }
        // A container this agent never attached (it ended while the agent was down).
        let dir = state::container_dir(&self.root, ctx.id);
        if dir.is_dir() && !self.is_detaching(ctx.id) {
            let att = Attached {
                id: ctx.id.to_string(),
                nets: state::load(&dir),
                dir,
                hostname: String::new(),
                run: None,
                netlink: RefCell::new(None),
            };
            self.detach(att, ops);
        }
        Ok(())
    }

    fn recover(&mut self, ctx: &ContainerCtx<'_>, _ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        let dir = state::container_dir(&self.root, ctx.id);
        if !dir.is_dir() {
            return Ok(());
        }
        let nets = state::load(&dir);
        self.containers.insert(
            ctx.slot,
            Attached {
                id: ctx.id.to_string(),
                dir,
                hostname: String::new(),
                nets,
                run: None,
                netlink: RefCell::new(None),
            },
        );
        Ok(())
    }

    fn recovered(&mut self, known: &dyn Fn(&str) -> bool, ops: &mut Ops<'_>) {
        for id in state::checkpointed_ids(&self.root) {
            if known(&id) || self.is_detaching(&id) {
                continue;
            }
            log::info!("network/cni: detaching the networks of orphan container {id}");
            let dir = state::container_dir(&self.root, &id);
            let att = Attached {
                id,
                nets: state::load(&dir),
                dir,
                hostname: String::new(),
                run: None,
                netlink: RefCell::new(None),
            };
            self.detach(att, ops);
        }
    }

    fn status(&self, slot: u32, out: &mut IsolatorStatus) {
        let Some(att) = self.containers.get(&slot) else {
            return;
        };
        for net in att.nets.iter() {
            let Some(result) = &net.result else {
                continue;
            };
            if att.run.is_some() {
                continue;
            }
            let mut info = net.request.clone();
            info.name = Some(net.config.name.clone());
            info.ip_addresses = invoke::result_ips(result)
                .into_iter()
                .map(|(protocol, ip)| IpRequest {
                    protocol,
                    address: Some(ip),
                })
                .collect();
            out.network_infos.push(info);
        }
    }
}
