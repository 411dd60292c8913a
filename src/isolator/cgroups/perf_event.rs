//! `cgroups/perf_event`: every `--perf_interval`, each running container's `--perf_events` are
//! counted for `--perf_duration` with `perf_event_open` in cgroup mode (one counter per event
//! per online CPU, summed), and the last complete sample is its `statistics.perf`, as Mesos's
//! perf_event isolator reports what `perf stat` counted. No `perf` process: two loop timers,
//! one to open the counters, one to read and close them.
//!
//! An event the kernel does not offer here (hardware events in most VMs) is logged once at
//! start and left out, as Mesos leaves out what `perf stat` reports `<not supported>`; an
//! event name perf does not know is refused at start.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use super::super::{ContainerCtx, Isolated, Isolator, IsolatorError, Limited, Ops, UsageCtx};
use super::perf_events::{self, PerfEvent};
use crate::cgroups::Controller;
use crate::slot_map::SlotMap;
use crate::stats::{PerfStatistics, ResourceStatistics};
use crate::sys::perf;

#[derive(Debug)]
pub struct CgroupsPerfEvent {
    /// The events to count (empty: no `--perf_events`, nothing sampled, as in Mesos).
    events: Vec<PerfEvent>,
    interval: Duration,
    duration: Duration,
    cpus: Vec<i32>,
    containers: SlotMap<Sampled>,
    phase: Phase,
}

/// One container's perf cgroup and its samples.
#[derive(Debug)]
struct Sampled {
    /// The container's perf_event cgroup directory, for `perf_event_open`.
    cgroup: OwnedFd,
    /// The open counters of the sample under way: per event, one per CPU.
    counting: Vec<(PerfEvent, Vec<OwnedFd>)>,
    last: Option<PerfStatistics>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Waiting for the next sample.
    Idle,
    /// Counters open since `started` (seconds since the epoch).
    Counting { started: f64 },
}

impl CgroupsPerfEvent {
    /// Checks the flags, as Mesos does (known events, duration within the interval), and which
    /// events this kernel can count; `cpu_online` is `/sys/devices/system/cpu/online`.
    pub fn new(
        events: Option<&str>,
        interval: Duration,
        duration: Duration,
        cpu_online: &Path,
    ) -> Result<CgroupsPerfEvent, IsolatorError> {
        let mut chosen = Vec::new();
        if let Some(text) = events {
            if duration > interval {
                return Err(IsolatorError::Config(format!(
                    "Sampling perf for duration ({duration:?}) > interval ({interval:?}) is not supported"
                )));
            }
            if duration.is_zero() {
                return Err(IsolatorError::Config(
                    "--perf_duration must be more than 0".into(),
                ));
            }
            for event in perf_events::parse_list(text).map_err(IsolatorError::Config)? {
                match perf::probe(event.type_, event.config) {
                    Ok(()) => chosen.push(event),
                    Err(e) => log::warn!(
                        "perf event {} is not available here ({e}): left out of the samples",
                        event.field.name()
                    ),
                }
            }
            if chosen.is_empty() {
                return Err(IsolatorError::Config(format!(
                    "none of --perf_events={text} can be counted on this machine"
                )));
            }
        }
        let cpus = std::fs::read_to_string(cpu_online)
            .ok()
            .and_then(|t| perf_events::parse_cpu_list(&t))
            .unwrap_or_else(|| {
                let n = crate::sys::online_cpus().unwrap_or(1);
                (0..i32::try_from(n).unwrap_or(1)).collect()
            });
        Ok(CgroupsPerfEvent {
            events: chosen,
            interval,
            duration,
            cpus,
            containers: SlotMap::default(),
            phase: Phase::Idle,
        })
    }

    fn track(&mut self, ctx: &ContainerCtx<'_>) -> Result<(), IsolatorError> {
        let Some(cg) = ctx.cgroup else {
            return Ok(());
        };
        if self.events.is_empty() || self.containers.contains_key(ctx.slot) {
            return Ok(());
        }
        if let Some(cgroup) = cg.perf_event_dir_fd().map_err(IsolatorError::Stats)? {
            let sampled = Sampled {
                cgroup,
                counting: Vec::new(),
                last: None,
            };
            self.containers.insert(ctx.slot, sampled);
        }
        Ok(())
    }

    /// Opens every container's counters; a container whose counters cannot all be opened is
    /// left out of this sample.
    fn begin(&mut self, running: &[u32]) {
        for &slot in running {
            let Some(s) = self.containers.get_mut(slot) else {
                continue;
            };
            let cgroup = s.cgroup.as_raw_fd();
            let opened: Result<Vec<(PerfEvent, Vec<OwnedFd>)>, _> = self
                .events
                .iter()
                .map(|e| {
                    let fds: Result<Vec<OwnedFd>, _> = self
                        .cpus
                        .iter()
                        .map(|&cpu| perf::open_cgroup_counter(e.type_, e.config, cgroup, cpu))
                        .collect();
                    fds.map(|fds| (*e, fds))
                })
                .collect();
            match opened {
                Ok(counting) => s.counting = counting,
                Err(e) => log::debug!("Container slot {slot}: cannot open perf counters: {e}"),
            }
        }
    }

    /// Reads, sums and closes the counters of the sample begun at `started`.
    fn finish(&mut self, started: f64) {
        let duration = self.duration.as_secs_f64();
        for (slot, s) in self.containers.iter_mut() {
            if s.counting.is_empty() {
                continue;
            }
            let mut values = Vec::with_capacity(s.counting.len());
            let mut failed = None;
            for (event, fds) in s.counting.drain(..) {
                let mut sum = 0u64;
                for fd in &fds {
                    match perf::read_counter(fd.as_raw_fd()) {
                        Ok(v) => sum = sum.saturating_add(v),
                        Err(e) => failed = Some(e),
                    }
                }
                values.push((event.field, sum));
            }
            if let Some(e) = failed {
                log::debug!("Container slot {slot}: cannot read perf counters: {e}");
                continue;
            }
            values.sort_by_key(|(field, _)| *field);
            s.last = Some(PerfStatistics {
                timestamp: started,
                duration,
                values,
            });
        }
    }
}

impl Isolator for CgroupsPerfEvent {
    fn name(&self) -> &'static str {
        "cgroups/perf_event"
    }

    fn controller(&self) -> Option<Controller> {
        Some(Controller::PerfEvent)
    }

    fn start(&mut self, ops: &mut Ops<'_>) {
        if self.events.is_empty() {
            log::info!("cgroups/perf_event: no --perf_events given, nothing is sampled");
            return;
        }
        let names: Vec<&str> = self.events.iter().map(|e| e.field.name()).collect();
        log::info!(
            "cgroups/perf_event will count for {:?} every {:?}: {} on {} CPUs",
            self.duration,
            self.interval,
            names.join(","),
            self.cpus.len()
        );
        ops.tick(Duration::ZERO);
    }

    fn isolate(
        &mut self,
        ctx: &ContainerCtx<'_>,
        _ops: &mut Ops<'_>,
    ) -> Result<Isolated, IsolatorError> {
        self.track(ctx).map(|()| Isolated::Done)
    }

    fn recover(&mut self, ctx: &ContainerCtx<'_>, _ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        self.track(ctx)
    }

    fn on_timer(&mut self, running: &[u32], ops: &mut Ops<'_>) -> Vec<Limited> {
        match self.phase {
            Phase::Idle => {
                let started = crate::sys::now_secs();
                self.begin(running);
                self.phase = Phase::Counting { started };
                ops.tick(self.duration);
            }
            Phase::Counting { started } => {
                self.finish(started);
                self.phase = Phase::Idle;
                ops.tick(self.interval.saturating_sub(self.duration));
            }
        }
        Vec::new()
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        _buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        if let Some(last) = self.containers.get(ctx.slot).and_then(|s| s.last.as_ref()) {
            out.perf = Some(last.clone());
        }
        Ok(())
    }

    fn cleanup(&mut self, ctx: &ContainerCtx<'_>, _ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        self.containers.remove(ctx.slot);
        Ok(())
    }
}
