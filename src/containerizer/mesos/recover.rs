//! Recovery at agent start: re-adopt every checkpointed container whose init still runs (same
//! pid and start time), report those that ended while the agent was down with the status their
//! init recorded, keep the terminated ones listed until REMOVE, and destroy the rest: corrupt or
//! half-written checkpoints, launches the agent died in, and orphan cgroups with no checkpoint.

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::checkpoint::{self, LaunchRecord, PidRecord, ReadError, TerminationRecord};
use super::container::{Container, Init};
use super::State;
use super::{ContainerId, MesosContainerizer};
use crate::event::Source;
use crate::isolator::LoopParts;
use crate::resources::Resources;
use crate::status::{Reason, TaskState, Termination};
use crate::sys::process;
use crate::timer::{TimerKind, Timers};

/// How long recovery may wait, in all, for the orphans in the cgroup hierarchies the
/// containers do not use to be killed and removed (they are not destroyed as containers are).
const UNUSED_SWEEP_BUDGET: Duration = Duration::from_secs(5);

/// What recovery found, for the log and the benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    pub running: usize,
    pub ended: usize,
    pub terminated: usize,
    pub destroyed: usize,
    pub orphans: usize,
}

impl MesosContainerizer {
    /// Recovers from the checkpoints. `rebooted`: the host rebooted since they were written, so
    /// every container ended with it.
    pub fn recover(
        &mut self,
        rebooted: bool,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Recovered {
        let mut summary = Recovered::default();
        self.start_deleter(registry);
        let root = checkpoint::meta_root(&self.settings.work_dir);
        let mut known = BTreeSet::new();
        let names: Vec<String> = match fs::read_dir(&root) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        for name in names {
            let id = match ContainerId::parse(&name) {
                Ok(id) => id,
                Err(e) => {
                    log::warn!(
                        "Ignoring {}: not a container checkpoint ({e})",
                        root.join(&name).display()
                    );
                    continue;
                }
            };
            known.insert(name);
            self.recover_one(id, rebooted, registry, timers, &mut summary);
        }
        if let Some(cgroups) = self.cgroups.clone() {
            let mut orphans = BTreeSet::new();
            match cgroups.list() {
                Ok(ids) => {
                    for orphan in ids.into_iter().filter(|i| !known.contains(i)) {
                        orphans.insert(orphan.clone());
                        log::warn!(
                            "Destroying orphan container {orphan}: a cgroup with no checkpoint"
                        );
                        summary.orphans += 1;
                        if let Ok(id) = ContainerId::parse(&orphan) {
                            let mut c = self.blank(id.clone());
                            c.cgroup = Some(cgroups.open(&orphan));
                            c.orphan = true;
                            self.insert(c);
                            let _ = self.begin_destroy(&id, registry, timers);
                        }
                    }
                }
                Err(e) => log::warn!("Failed to list cgroups for orphans: {e}"),
            }
            // The same orphans (or others) in the hierarchies the containers do not use.
            for swept in cgroups.sweep_unused(|id| known.contains(id), UNUSED_SWEEP_BUDGET) {
                let dir = swept.dir.display();
                match &swept.result {
                    Err(e) if swept.id.is_empty() => {
                        log::warn!("Failed to list cgroups for orphans: {e}");
                        continue;
                    }
                    Ok(()) => log::warn!(
                        "Destroyed orphan cgroup {dir} (container {}): a cgroup with no checkpoint",
                        swept.id
                    ),
                    Err(e) => log::error!(
                        "Failed to destroy orphan cgroup {dir} (container {}): {e}; it is left behind",
                        swept.id
                    ),
                }
                if orphans.insert(swept.id) {
                    summary.orphans += 1;
                }
            }
        }
        // What isolators hold for containers no checkpoint names (networks of a previous agent).
        let ids: BTreeSet<String> = self.containers.keys().map(|k| k.to_string()).collect();
        let mut lp = LoopParts {
            registry,
            timers: &mut *timers,
            children: &mut self.children,
        };
        self.isolators
            .recovered(&|id: &str| ids.contains(id) || known.contains(id), &mut lp);
        log::info!(
            "Recovered {} running containers; {} ended while the agent was down; {} terminated kept; \
             {} destroyed; {} orphans destroyed",
            summary.running, summary.ended, summary.terminated, summary.destroyed, summary.orphans
        );
        summary
    }

    fn recover_one(
        &mut self,
        id: ContainerId,
        rebooted: bool,
        registry: &Registry,
        timers: &mut Timers,
        summary: &mut Recovered,
    ) {
        let mut c = self.blank(id.clone());
        // Terminated before the restart: listed until REMOVE.
        match checkpoint::read::<TerminationRecord>(&c.ckpt.termination()) {
            Ok(t) => {
                c.termination = Some(t.to_termination());
                c.state = State::Terminated;
                // Its cgroups may outlive an agent that died before the deleter removed them.
                c.cgroup = self.cgroups.as_ref().map(|cg| cg.open(id.as_str()));
                timers.add(Duration::ZERO, TimerKind::DestroyRetry(c.slot));
                self.insert(c);
                summary.terminated += 1;
                return;
            }
            Err(ReadError::Missing) => {}
            Err(e) => return self.destroy_broken(c, &e.to_string(), registry, timers, summary),
        }
        let launch = match checkpoint::read::<LaunchRecord>(&c.ckpt.launch()) {
            Ok(l) => l,
            Err(e) => return self.destroy_broken(c, &e.to_string(), registry, timers, summary),
        };
        c.resources = Resources::from_json(&launch.resources).unwrap_or_default();
        c.sandbox = launch.sandbox;
        if let Some(cgroups) = &self.cgroups {
            c.cgroup = Some(cgroups.open(id.as_str()));
        }
        if rebooted {
            c.launch_failure = None;
            let t = Termination {
                status: None,
                state: TaskState::Failed,
                reason: Some(Reason::ExecutorTerminated),
                message: Some("The host rebooted: the container ended with it".into()),
                limited: None,
            };
            c.termination = Some(t);
            return self.destroy_broken(c, "host rebooted", registry, timers, summary);
        }
        let pid = match checkpoint::read::<PidRecord>(&c.ckpt.pid()) {
            Ok(p) => p,
            Err(ReadError::Missing) => {
                c.launch_failure = Some(
                    "Failed to launch container: the agent restarted during the launch".into(),
                );
                return self.destroy_broken(c, "launch interrupted", registry, timers, summary);
            }
            Err(e) => return self.destroy_broken(c, &e.to_string(), registry, timers, summary),
        };
        if pid.start_time == 0 {
            // The pid alone may name any process now: never adopt it, never signal it.
            let why = format!(
                "{} records no start time: its init cannot be told from another process",
                c.ckpt.pid().display()
            );
            return self.destroy_broken(c, &why, registry, timers, summary);
        }
        match self.open_init(&pid) {
            Some(fd) => {
                let registered = registry.register(
                    &mut SourceFd(&fd.as_raw_fd()),
                    Token::from(Source::Init(c.slot)),
                    Interest::READABLE,
                );
                if let Err(e) = registered {
                    log::warn!("Container {id}: cannot watch its init: {e}");
                }
                c.init = Some(Init {
                    pid: pid.pid,
                    pidfd: Some(fd),
                    exit: None,
                    adopted: true,
                });
                c.state = State::Running;
                let mut lp = LoopParts {
                    registry,
                    timers: &mut *timers,
                    children: &mut self.children,
                };
                self.isolators
                    .recover(&super::destroy::container_ctx(&c), &mut lp);
                log::info!("Recovered container {id} (init pid {})", pid.pid);
                self.insert(c);
                summary.running += 1;
            }
            None => {
                // Ended while we were away: the init recorded the task's status (read at the
                // end of the destroy); clean up what is left.
                c.init = None;
                c.state = State::Running;
                log::info!("Container {id} ended while the agent was down");
                self.insert(c);
                summary.ended += 1;
                let _ = self.begin_destroy(&id, registry, timers);
            }
        }
    }

    /// A container whose checkpoint cannot be trusted: destroy everything it may have left.
    fn destroy_broken(
        &mut self,
        mut c: Container,
        why: &str,
        registry: &Registry,
        timers: &mut Timers,
        summary: &mut Recovered,
    ) {
        let id = c.id.clone();
        log::warn!("Container {id}: {why}; destroying it");
        if c.termination.is_none() && c.launch_failure.is_none() {
            c.launch_failure = Some(format!("Failed to recover the container: {why}"));
        }
        if c.cgroup.is_none() {
            if let Some(cgroups) = &self.cgroups {
                c.cgroup = Some(cgroups.open(id.as_str()));
            }
        }
        // A pid checkpoint that still names our live init: kill it too (through a pidfd
        // checked against the record, so a recycled pid is never hit).
        if let Ok(pid) = checkpoint::read::<PidRecord>(&c.ckpt.pid()) {
            if let Some(fd) = self.open_init(&pid) {
                let _ = process::pidfd_send_signal(&fd, libc::SIGKILL);
            }
        }
        c.state = State::Running;
        self.insert(c);
        summary.destroyed += 1;
        let _ = self.begin_destroy(&id, registry, timers);
    }

    /// A pidfd on the init `pid` records, if that very process still runs: the pidfd is
    /// opened first, the start time checked after, and the pidfd found still live after that,
    /// so it cannot refer to a process that took the pid since. A record without a start time
    /// identifies nothing.
    fn open_init(&self, pid: &PidRecord) -> Option<std::os::fd::OwnedFd> {
        if pid.pid <= 1 || pid.start_time == 0 {
            return None;
        }
        let fd = process::pidfd_open(pid.pid).ok()?;
        if !pid.identifies(checkpoint::start_time(&self.settings.proc_dir, pid.pid)) {
            return None;
        }
        process::pidfd_send_signal(&fd, 0).ok()?;
        Some(fd)
    }

    /// A container with nothing in it yet, under a fresh slot.
    pub(super) fn blank(&mut self, id: ContainerId) -> Container {
        let slot = self.next_slot;
        self.next_slot = self.next_slot.wrapping_add(1).max(1);
        Container {
            slot,
            state: State::Starting,
            resources: Resources::default(),
            sandbox: self.settings.work_dir.join("containers").join(id.as_str()),
            ckpt: checkpoint::Paths::new(
                &self.settings.work_dir,
                &self.settings.runtime_dir,
                id.as_str(),
            ),
            cgroup: None,
            init: None,
            exec_report: None,
            exec_report_buf: Vec::new(),
            launch_failure: None,
            killed: false,
            termination: None,
            created: Instant::now(),
            destroy_started: None,
            orphan: false,
            limitation: None,
            fetch: None,
            release: None,
            released: false,
            provisioning: None,
            staging: None,
            hook: None,
            isolating: None,
            hooked: false,
            cgroups_asked: false,
            resolving: None,
            cleanup: super::container::Cleanup::Pending,
            id,
        }
    }

    pub(super) fn insert(&mut self, c: Container) {
        self.by_slot.insert(c.slot, c.id.clone());
        self.containers.insert(c.id.clone(), c);
    }

    /// Destroys every container (for `--recover=cleanup`).
    pub fn destroy_all(&mut self, registry: &Registry, timers: &mut Timers) {
        let ids: Vec<ContainerId> = self.containers.keys().cloned().collect();
        for id in ids {
            if let Some(c) = self.containers.get_mut(&id) {
                c.killed = true;
            }
            let _ = self.begin_destroy(&id, registry, timers);
        }
    }

    /// True when no container is still being launched, running or destroyed (its cgroups
    /// removed included).
    pub fn all_terminated(&self) -> bool {
        self.retiring.is_empty()
            && self.containers.values().all(|c| {
                c.state == State::Terminated && c.cleanup == super::container::Cleanup::Done
            })
    }
}
