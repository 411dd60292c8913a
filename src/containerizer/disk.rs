//! `disk/du`: sandbox usage measured by a `du` child process, at most one at a time, spread
//! over `--container_disk_watch_interval` (Mesos runs them back to back in the agent's cgroup
//! and burns IOPS in bursts, §10 item 5). With `--enforce_container_disk_quota`, a container
//! over its `disk` resource is destroyed with REASON_CONTAINER_LIMITATION_DISK.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::container::{Limitation, Reason, State};
use super::{slot_container, ContainerId, Containerizer, Notice};
use crate::config::Bytes;
use crate::event::Source;
use crate::resources::Resources;
use crate::timer::{TimerKind, Timers};

const MB: u64 = 1024 * 1024;

/// `disk/du`'s settings.
#[derive(Debug, Clone, Copy)]
pub struct DiskSettings {
    pub interval: Duration,
    pub enforce: bool,
}

/// The one `du` that may run, and when each container was last measured.
#[derive(Debug)]
pub struct DiskWatch {
    pub settings: DiskSettings,
    running: Option<DuRun>,
    /// Finished `du` runs (a metric; the benchmark divides their CPU time by it).
    pub passes: u64,
}

#[derive(Debug)]
struct DuRun {
    slot: u32,
    child: Child,
    stdout: ChildStdout,
    out: Vec<u8>,
}

impl DiskWatch {
    pub fn new(settings: DiskSettings, timers: &mut Timers) -> DiskWatch {
        timers.add(Duration::from_millis(10), TimerKind::DiskTick);
        DiskWatch {
            settings,
            running: None,
            passes: 0,
        }
    }
}

impl Containerizer {
    /// The disk timer: start the next `du` if none runs, then tick again so that every
    /// container is measured once per interval, evenly spread.
    pub(super) fn on_disk_tick(&mut self, registry: &Registry, timers: &mut Timers) {
        let Some(watch) = self.disk.as_ref() else {
            return;
        };
        let interval = watch.settings.interval;
        let busy = watch.running.is_some();
        let live: Vec<(u32, Option<Instant>)> = self
            .containers
            .values()
            .filter(|c| c.state == State::Running)
            .map(|c| (c.slot, c.disk_measured))
            .collect();
        let spacing = interval / u32::try_from(live.len().max(1)).unwrap_or(u32::MAX);
        timers.add(spacing.max(Duration::from_millis(10)), TimerKind::DiskTick);
        if busy {
            return;
        }
        // The one measured longest ago (never measured first), if it is due.
        let due = live
            .iter()
            .filter(|(_, at)| at.is_none_or(|t| t.elapsed() >= interval))
            .min_by_key(|(_, at)| *at)
            .map(|(slot, _)| *slot);
        let Some(slot) = due else { return };
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return;
        };
        c.disk_measured = Some(Instant::now());
        let mut du = Command::new("du");
        crate::sys::process::die_with_parent(&mut du);
        let spawned = du
            .args(["-k", "-s", "-x"])
            .arg(&c.sandbox)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(ch) => ch,
            Err(e) => {
                log::warn!("disk/du: cannot run du for {id}: {e}");
                return;
            }
        };
        let Some(stdout) = child.stdout.take() else {
            return;
        };
        if crate::sys::fd::set_nonblocking(stdout.as_raw_fd(), true).is_err()
            || registry
                .register(
                    &mut SourceFd(&stdout.as_raw_fd()),
                    Token::from(Source::Du(slot)),
                    Interest::READABLE,
                )
                .is_err()
        {
            let _ = child.kill();
            self.helpers.push(child);
            return;
        }
        if let Some(watch) = self.disk.as_mut() {
            watch.running = Some(DuRun {
                slot,
                child,
                stdout,
                out: Vec::new(),
            });
        }
    }

    /// `du` wrote or ended: record the usage, enforce the quota.
    pub(super) fn on_du_output(&mut self, registry: &Registry, timers: &mut Timers) -> Vec<Notice> {
        let Some(watch) = self.disk.as_mut() else {
            return Vec::new();
        };
        let Some(run) = watch.running.as_mut() else {
            return Vec::new();
        };
        let mut chunk = [0u8; 4096];
        loop {
            match run.stdout.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => run.out.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Vec::new(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let Some(run) = watch.running.take() else {
            return Vec::new();
        };
        let _ = registry.deregister(&mut SourceFd(&run.stdout.as_raw_fd()));
        self.helpers.push(run.child);
        watch.passes += 1;
        let enforce = watch.settings.enforce;
        let kib: Option<u64> = String::from_utf8_lossy(&run.out)
            .split_ascii_whitespace()
            .next()
            .and_then(|n| n.parse().ok());
        let Some(id) = self.slot_id(run.slot) else {
            return Vec::new();
        };
        let Some(c) = self.containers.get_mut(&id) else {
            return Vec::new();
        };
        let Some(kib) = kib else {
            log::debug!("disk/du: no usage for {id} (the sandbox went away?)");
            return Vec::new();
        };
        let used = kib * 1024;
        c.disk_used = Some(used);
        let limit = disk_limit(&c.resources);
        if !enforce
            || limit == 0
            || used <= limit
            || c.state != State::Running
            || c.limitation.is_some()
        {
            return Vec::new();
        }
        let l = disk_limitation(&c.resources, used, limit);
        log::warn!("Container {id}: {}", l.message);
        c.limitation = Some(l);
        self.begin_destroy(&id, registry, timers)
    }

    /// Forgets the `du` of a container being destroyed.
    pub(super) fn stop_du(&mut self, id: &ContainerId, registry: &Registry) {
        let Some(slot) = self.containers.get(id).map(|c| c.slot) else {
            return;
        };
        let Some(watch) = self.disk.as_mut() else {
            return;
        };
        if watch.running.as_ref().is_some_and(|r| r.slot == slot) {
            if let Some(mut run) = watch.running.take() {
                let _ = registry.deregister(&mut SourceFd(&run.stdout.as_raw_fd()));
                let _ = run.child.kill();
                self.helpers.push(run.child);
            }
        }
    }
}

/// The `disk` resource in bytes (0: none).
pub(super) fn disk_limit(r: &Resources) -> u64 {
    (r.disk_mb * MB as f64).round() as u64
}

pub(super) fn disk_limitation(r: &Resources, used: u64, limit: u64) -> Limitation {
    let disk = Resources {
        disk_mb: r.disk_mb,
        ..Resources::default()
    };
    Limitation {
        reason: Reason::ContainerLimitationDisk,
        message: format!(
            "Disk usage ({}) exceeds quota ({})",
            Bytes(used),
            Bytes(limit)
        ),
        resources: disk.to_json(),
    }
}
