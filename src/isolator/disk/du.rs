//! `disk/du`: sandbox usage measured by a `du` child process, at most one at a time, spread
//! over `--container_disk_watch_interval` (Mesos runs them back to back in the agent's cgroup
//! and burns IOPS in bursts, §10 item 5). With `--enforce_container_disk_quota`, a container
//! over its `disk` resource is destroyed with REASON_CONTAINER_LIMITATION_DISK.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::super::{
    ChildOutcome, ContainerCtx, Isolated, Isolator, IsolatorError, Limited, Ops, UsageCtx,
};
use super::{disk_limit, disk_limitation};
use crate::children::{ChildEvent, ChildId, Program};
use crate::slot_map::SlotMap;
use crate::stats::ResourceStatistics;

/// The shortest pause between two ticks.
const MIN_TICK: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub struct DiskDu {
    interval: Duration,
    enforce: bool,
    sandboxes: SlotMap<Sandbox>,
    /// The one `du` that may run: for which slot, and what it reported so far.
    running: Option<DuRun>,
    /// Finished `du` runs (a metric; the benchmark divides their CPU time by it).
    passes: u64,
}

#[derive(Debug)]
struct Sandbox {
    path: PathBuf,
    /// The `disk` resource in MB, and in bytes (0: none).
    disk_mb: f64,
    limit: u64,
    measured: Option<Instant>,
    used: Option<u64>,
}

#[derive(Debug)]
struct DuRun {
    slot: u32,
    child: ChildId,
    kib: Option<u64>,
}

impl DiskDu {
    pub fn new(interval: Duration, enforce: bool) -> DiskDu {
        DiskDu {
            interval,
            enforce,
            sandboxes: SlotMap::default(),
            running: None,
            passes: 0,
        }
    }

    fn track(&mut self, ctx: &ContainerCtx<'_>) {
        self.sandboxes.get_or_insert_with(ctx.slot, || Sandbox {
            path: ctx.sandbox.to_path_buf(),
            disk_mb: ctx.resources.disk_mb,
            limit: disk_limit(ctx.resources),
            measured: None,
            used: None,
        });
    }

    /// The running container measured longest ago (never measured first), if it is due.
    fn due(&self, running: &[u32]) -> Option<u32> {
        running
            .iter()
            .filter_map(|slot| Some((*slot, self.sandboxes.get(*slot)?.measured)))
            .filter(|(_, at)| at.is_none_or(|t| t.elapsed() >= self.interval))
            .min_by_key(|(_, at)| *at)
            .map(|(slot, _)| slot)
    }

    /// `du` of the sandbox in `slot` has finished: book it, enforce the quota.
    fn finished(&mut self, run: DuRun) -> Vec<Limited> {
        self.passes += 1;
        let Some(sandbox) = self.sandboxes.get_mut(run.slot) else {
            return Vec::new();
        };
        let Some(kib) = run.kib else {
            log::debug!(
                "disk/du: no usage for {} (the sandbox went away?)",
                sandbox.path.display()
            );
            return Vec::new();
        };
        let used = kib * 1024;
        sandbox.used = Some(used);
        if !self.enforce || sandbox.limit == 0 || used <= sandbox.limit {
            return Vec::new();
        }
        vec![(
            run.slot,
            disk_limitation(sandbox.disk_mb, used, sandbox.limit),
        )]
    }
}

impl Isolator for DiskDu {
    fn name(&self) -> &'static str {
        "disk/du"
    }

    fn start(&mut self, ops: &mut Ops<'_>) {
        ops.tick(MIN_TICK);
    }

    fn isolate(
        &mut self,
        ctx: &ContainerCtx<'_>,
        _ops: &mut Ops<'_>,
    ) -> Result<Isolated, IsolatorError> {
        self.track(ctx);
        Ok(Isolated::Done)
    }

    fn recover(&mut self, ctx: &ContainerCtx<'_>, _ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        self.track(ctx);
        Ok(())
    }

    /// Starts the next `du` if none runs, then ticks again so that every running container is
    /// measured once per interval, evenly spread.
    fn on_timer(&mut self, running: &[u32], ops: &mut Ops<'_>) -> Vec<Limited> {
        let spacing = self.interval / u32::try_from(running.len().max(1)).unwrap_or(u32::MAX);
        ops.tick(spacing.max(MIN_TICK));
        if self.running.is_some() {
            return Vec::new();
        }
        let Some(slot) = self.due(running) else {
            return Vec::new();
        };
        let Some(sandbox) = self.sandboxes.get_mut(slot) else {
            return Vec::new();
        };
        sandbox.measured = Some(Instant::now());
        let mut du = Command::new("du");
        du.args(["-k", "-s", "-x"])
            .arg(&sandbox.path)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        match ops.run(slot, Program::Exec(du), None) {
            Ok(child) => {
                self.running = Some(DuRun {
                    slot,
                    child,
                    kib: None,
                })
            }
            Err(e) => log::warn!("disk/du: cannot run du for {}: {e}", sandbox.path.display()),
        }
        Vec::new()
    }

    fn on_child(&mut self, slot: u32, event: ChildEvent, _ops: &mut Ops<'_>) -> ChildOutcome {
        let Some(run) = self.running.as_mut().filter(|r| r.slot == slot) else {
            return ChildOutcome::default();
        };
        match event {
            ChildEvent::Lines { lines, .. } => {
                if run.kib.is_none() {
                    run.kib = lines
                        .first()
                        .and_then(|l| l.split_ascii_whitespace().next())
                        .and_then(|n| n.parse().ok());
                }
                ChildOutcome::default()
            }
            ChildEvent::Finished { .. } => match self.running.take() {
                Some(run) => self.finished(run).into(),
                None => ChildOutcome::default(),
            },
        }
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        _buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        let limit = disk_limit(ctx.resources);
        if limit > 0 {
            out.disk_limit_bytes = Some(limit);
        }
        out.disk_used_bytes = self.sandboxes.get(ctx.slot).and_then(|s| s.used);
        Ok(())
    }

    fn cleanup(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        self.sandboxes.remove(ctx.slot);
        if let Some(run) = self.running.take_if(|r| r.slot == ctx.slot) {
            ops.kill(run.child);
        }
        Ok(())
    }

    fn metrics(&self, out: &mut Vec<(String, f64)>) {
        out.push(("containerizer/disk/du_passes".into(), self.passes as f64));
    }
}
