//! The health checker: every watched task's checks, run from the loop. A check first runs
//! `delaySeconds` after the watch, then every `intervalSeconds`; each run is one probe (a
//! connection for HTTP and TCP, a child for COMMAND) with a deadline of `timeoutSeconds`.
//!
//! Timers cannot be cancelled, and a probe's events may still be queued when it ends, so every
//! scheduled run and every probe gets an ID of its own (its `TimerKind::Health`, its
//! `Source::Health` or `Owner::Health`), routed while it is current: a late event or timer
//! finds no route and is dropped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

use super::book::{Outcome, Summary};
use super::probe::{self, NetProbe};
use super::{command, Change, CheckResult, HealthCheck, Protocol, Target};
use crate::children::{ChildEvent, ChildId, Children, Owner, Program};
use crate::event::Source;
use crate::slot_map::SlotMap;
use crate::timer::{TimerKind, Timers};

/// Runs the health checks of app instances.
#[derive(Debug)]
pub struct Checker {
    binary: PathBuf,
    children: Children,
    watched: Vec<Watched>,
    routes: SlotMap<Route>,
    next_id: u32,
    /// Probes of checks dropped without the registry at hand (a task watched again with other
    /// checks), cancelled at the next call that has it.
    abandoned: Vec<Run>,
}

#[derive(Debug)]
struct Watched {
    task: String,
    key: u32,
    target: Target,
    since: Instant,
    checks: Vec<Check>,
    /// What the controller was last told (nothing yet: the default).
    reported: Summary,
}

#[derive(Debug)]
struct Check {
    spec: HealthCheck,
    result: CheckResult,
    probe: Option<Probe>,
}

#[derive(Debug)]
struct Probe {
    id: u32,
    run: Run,
}

#[derive(Debug)]
enum Run {
    Net(NetProbe),
    Command {
        child: ChildId,
        last_line: Option<String>,
    },
}

/// What an ID stands for: a check's next run, or its probe in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Route {
    key: u32,
    check: usize,
    probe: bool,
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl Checker {
    /// `binary`: the mesolite executable (COMMAND checks run its `health-exec` verb); its
    /// children are numbered from `first_child_id` on (see `Children::numbered_from`).
    pub fn new(first_child_id: u32, binary: PathBuf) -> Checker {
        Checker {
            binary,
            children: Children::numbered_from(first_child_id),
            watched: Vec::new(),
            routes: SlotMap::default(),
            next_id: 0,
            abandoned: Vec::new(),
        }
    }

    /// Starts running `checks` against `task`'s `target`. Watching a task again with the same
    /// checks only updates its target; with other checks it starts over.
    pub fn watch(
        &mut self,
        task: &str,
        checks: &[HealthCheck],
        target: Target,
        timers: &mut Timers,
    ) {
        if let Some(i) = self.watched.iter().position(|w| w.task == task) {
            let w = &mut self.watched[i];
            if w.checks.iter().map(|c| &c.spec).eq(checks.iter()) {
                w.target = target;
                return;
            }
            let w = self.watched.swap_remove(i);
            self.forget(&w);
            self.abandoned
                .extend(w.checks.into_iter().filter_map(|c| c.probe.map(|p| p.run)));
        }
        let key = self.fresh_id();
        for (check, spec) in checks.iter().enumerate() {
            let id = self.route(key, check, false);
            timers.add(secs(spec.delay_seconds), TimerKind::Health(id));
        }
        self.watched.push(Watched {
            task: task.to_string(),
            key,
            target,
            since: Instant::now(),
            checks: checks
                .iter()
                .map(|spec| Check {
                    spec: spec.clone(),
                    result: CheckResult::default(),
                    probe: None,
                })
                .collect(),
            reported: Summary::default(),
        });
    }

    /// Stops checking `task`; a probe in flight is cancelled (its connection closed, its
    /// command killed) and nothing more is heard of it.
    pub fn unwatch(&mut self, task: &str, registry: &Registry) {
        self.cancel_abandoned(registry);
        let Some(i) = self.watched.iter().position(|w| w.task == task) else {
            return;
        };
        let w = self.watched.swap_remove(i);
        self.forget(&w);
        for probe in w.checks.into_iter().filter_map(|c| c.probe) {
            self.cancel(probe.run, registry);
        }
    }

    /// Whether `source` is one of the checker's (for the loop's dispatch).
    pub fn owns(&self, source: Source) -> bool {
        match source {
            Source::Health(_) => true,
            Source::Child(id) => self.children.is_running(ChildId(id)),
            _ => false,
        }
    }

    /// Each check's results so far, in the order of the task's checks (empty if not watched).
    pub fn results(&self, task: &str) -> Vec<CheckResult> {
        self.watched
            .iter()
            .find(|w| w.task == task)
            .map(|w| w.checks.iter().map(|c| c.result.clone()).collect())
            .unwrap_or_default()
    }

    /// A probe's connection or a COMMAND's output is ready.
    pub fn on_event(
        &mut self,
        source: Source,
        registry: &Registry,
        _timers: &mut Timers,
    ) -> Vec<Change> {
        self.cancel_abandoned(registry);
        match source {
            Source::Health(id) => self.on_connection(id, registry).into_iter().collect(),
            Source::Child(id) => {
                let events = self.children.on_ready(id, registry);
                self.on_child_events(events, registry)
            }
            _ => Vec::new(),
        }
    }

    /// A check is due, or a probe's deadline passed.
    pub fn on_timer(
        &mut self,
        kind: &TimerKind,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Change> {
        self.cancel_abandoned(registry);
        let TimerKind::Health(id) = *kind else {
            return Vec::new();
        };
        let Some(route) = self.routes.get(id).copied() else {
            return Vec::new();
        };
        let outcome = if route.probe {
            let timeout = self
                .check_mut(route)
                .map_or(0, |c| c.spec.timeout_seconds.max(1));
            Some(Outcome::Unhealthy(format!("timed out after {timeout}s")))
        } else {
            self.routes.remove(id);
            self.run_due(route, registry, timers)
        };
        outcome
            .and_then(|o| self.finish(route, o, registry))
            .into_iter()
            .collect()
    }

    /// SIGCHLD: COMMAND checks that ended.
    pub fn on_sigchld(&mut self, registry: &Registry, _timers: &mut Timers) -> Vec<Change> {
        self.cancel_abandoned(registry);
        let events = self.children.on_sigchld();
        self.on_child_events(events, registry)
    }

    /// A check's run is due: schedules the next and starts a probe, unless the last one is
    /// still in flight (a timeout longer than the interval). The outcome if known at once.
    fn run_due(
        &mut self,
        route: Route,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Option<Outcome> {
        let interval = self.check_mut(route)?.spec.interval_seconds.max(1);
        let next = self.route(route.key, route.check, false);
        timers.add(secs(interval), TimerKind::Health(next));
        if self.check_mut(route)?.probe.is_some() {
            return None;
        }
        let id = self.route(route.key, route.check, true);
        let probe = Route {
            probe: true,
            ..route
        };
        let w = self.watched.iter().find(|w| w.key == route.key)?;
        let spec = &w.checks.get(route.check)?.spec;
        let timeout = spec.timeout_seconds.max(1);
        let started = match spec.protocol {
            Protocol::Http | Protocol::MesosHttp | Protocol::Tcp | Protocol::MesosTcp => {
                let token = Token::from(Source::Health(id));
                probe::start(spec, &w.target, token, registry).map(Run::Net)
            }
            Protocol::Command => command::command(&self.binary, spec, &w.target).and_then(|c| {
                self.children
                    .spawn(Owner::Health(id), Program::Exec(c), registry)
                    .map(|child| Run::Command {
                        child,
                        last_line: None,
                    })
                    .map_err(|e| format!("cannot run the command: {e}"))
            }),
        };
        match started {
            Ok(run) => {
                timers.add(secs(timeout), TimerKind::Health(id));
                self.check_mut(probe)?.probe = Some(Probe { id, run });
                None
            }
            Err(cause) => {
                self.routes.remove(id);
                Some(Outcome::Unhealthy(cause))
            }
        }
    }

    fn on_connection(&mut self, id: u32, registry: &Registry) -> Option<Change> {
        let route = self.routes.get(id).copied().filter(|r| r.probe)?;
        let check = self.check_mut(route)?;
        let outcome = match check.probe.as_mut() {
            Some(Probe {
                id: current,
                run: Run::Net(net),
            }) if *current == id => net.advance()?,
            _ => return None,
        };
        self.finish(route, outcome, registry)
    }

    fn on_child_events(&mut self, events: Vec<ChildEvent>, registry: &Registry) -> Vec<Change> {
        let mut changes = Vec::new();
        for event in events {
            let (ChildEvent::Lines { owner, .. } | ChildEvent::Finished { owner, .. }) = &event;
            let Owner::Health(id) = *owner else {
                continue;
            };
            let Some(route) = self.routes.get(id).copied().filter(|r| r.probe) else {
                continue;
            };
            let Some(Check {
                probe:
                    Some(Probe {
                        run: Run::Command { last_line, .. },
                        ..
                    }),
                ..
            }) = self.check_mut(route)
            else {
                continue;
            };
            match event {
                ChildEvent::Lines { lines, .. } => command::keep_line(last_line, lines),
                ChildEvent::Finished { status, .. } => {
                    let outcome = command::outcome(status, last_line.as_deref());
                    changes.extend(self.finish(route, outcome, registry));
                }
            }
        }
        changes
    }

    /// A probe ended (or could not start) with `outcome`: records it; the task's change if its
    /// summary changed.
    fn finish(&mut self, route: Route, outcome: Outcome, registry: &Registry) -> Option<Change> {
        let check = self.check_mut(route)?;
        let probe = check.probe.take();
        if let Some(probe) = probe {
            self.routes.remove(probe.id);
            self.cancel(probe.run, registry);
        }
        let w = self.watched.iter_mut().find(|w| w.key == route.key)?;
        let check = w.checks.get_mut(route.check)?;
        let in_grace = w.since.elapsed() < secs(check.spec.grace_period_seconds);
        if let Outcome::Unhealthy(cause) = &outcome {
            log::debug!("Health check {} of {} failed: {cause}", route.check, w.task);
        }
        if !check
            .result
            .record(outcome, crate::sys::now_secs(), in_grace)
        {
            return None;
        }
        let now = Summary::of(
            w.checks
                .iter()
                .map(|c| (&c.result, c.spec.max_consecutive_failures)),
        );
        if now == w.reported {
            return None;
        }
        w.reported = now;
        if now.failed_out {
            log::info!(
                "Task {} failed {} health checks in a row",
                w.task,
                now.consecutive_failures
            );
        }
        Some(Change {
            task: w.task.clone(),
            alive: now.alive,
            consecutive_failures: now.consecutive_failures,
            failed_out: now.failed_out,
        })
    }

    fn cancel(&mut self, run: Run, registry: &Registry) {
        match run {
            Run::Net(net) => net.cancel(registry),
            Run::Command { child, .. } => self.children.kill(child, registry),
        }
    }

    fn cancel_abandoned(&mut self, registry: &Registry) {
        for run in std::mem::take(&mut self.abandoned) {
            self.cancel(run, registry);
        }
    }

    /// Drops every route of `w`'s checks: their timers and late events find nothing.
    fn forget(&mut self, w: &Watched) {
        let ids: Vec<u32> = self
            .routes
            .iter_mut()
            .filter(|(_, r)| r.key == w.key)
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.routes.remove(id);
        }
    }

    fn check_mut(&mut self, route: Route) -> Option<&mut Check> {
        self.watched
            .iter_mut()
            .find(|w| w.key == route.key)?
            .checks
            .get_mut(route.check)
    }

    fn route(&mut self, key: u32, check: usize, probe: bool) -> u32 {
        let id = self.fresh_id();
        self.routes.insert(id, Route { key, check, probe });
        id
    }

    fn fresh_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        while self.routes.contains_key(self.next_id) {
            self.next_id = self.next_id.wrapping_add(1).max(1);
        }
        self.next_id
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use mio::Poll;

    use super::*;

    /// A TCP check of a task without ports: it fails at once, without any I/O.
    fn portless(json: &str) -> HealthCheck {
        let mut spec: HealthCheck = serde_json::from_str(json).expect("check");
        spec.protocol = Protocol::Tcp;
        spec
    }

    fn no_ports() -> Target {
        Target {
            ip: Ipv4Addr::LOCALHOST.into(),
            ports: Vec::new(),
            pid: None,
            env: Vec::new(),
        }
    }

    fn checker() -> Checker {
        Checker::new(1 << 29, PathBuf::from("/nonexistent/mesolite"))
    }

    /// Fires every timer due now; the changes they made.
    fn fire(c: &mut Checker, poll: &Poll, timers: &mut Timers) -> Vec<Change> {
        let mut changes = Vec::new();
        for kind in timers.expired() {
            changes.extend(c.on_timer(&kind, poll.registry(), timers));
        }
        changes
    }

    #[test]
    fn the_first_run_waits_for_the_delay_and_the_next_for_the_interval() {
        let (poll, mut timers) = (Poll::new().expect("poll"), Timers::default());
        let mut c = checker();
        let spec = portless(r#"{"delaySeconds": 30, "intervalSeconds": 7}"#);
        c.watch("a.1", &[spec], no_ports(), &mut timers);
        let wait = timers.next_timeout().expect("a timer");
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30));
        assert!(fire(&mut c, &poll, &mut timers).is_empty(), "not due yet");

        let spec = portless(
            r#"{"delaySeconds": 0, "intervalSeconds": 7, "gracePeriodSeconds": 0,
                                "maxConsecutiveFailures": 1}"#,
        );
        let mut timers = Timers::default();
        c.watch("b.1", &[spec], no_ports(), &mut timers);
        let changes = fire(&mut c, &poll, &mut timers);
        assert_eq!(
            changes,
            [Change {
                task: "b.1".into(),
                alive: false,
                consecutive_failures: 1,
                failed_out: true
            }]
        );
        let wait = timers.next_timeout().expect("the next run");
        assert!(wait > Duration::from_secs(5) && wait <= Duration::from_secs(7));
    }

    #[test]
    fn late_timers_of_an_unwatched_or_rewatched_task_do_nothing() {
        let (poll, mut timers) = (Poll::new().expect("poll"), Timers::default());
        let mut c = checker();
        let spec = portless(r#"{"delaySeconds": 0, "gracePeriodSeconds": 0}"#);
        c.watch("a.1", std::slice::from_ref(&spec), no_ports(), &mut timers);
        c.unwatch("a.1", poll.registry());
        assert!(fire(&mut c, &poll, &mut timers).is_empty());
        assert!(c.results("a.1").is_empty());
        assert_eq!(timers.next_timeout(), None, "nothing rescheduled");

        c.watch("a.1", std::slice::from_ref(&spec), no_ports(), &mut timers);
        fire(&mut c, &poll, &mut timers);
        assert_eq!(c.results("a.1")[0].consecutive_failures, 1);
        // The same checks again: the results stay, no second schedule starts.
        c.watch("a.1", std::slice::from_ref(&spec), no_ports(), &mut timers);
        assert_eq!(c.results("a.1")[0].consecutive_failures, 1);
        // Other checks: a fresh start, the old schedule's timers are dropped.
        let old: Vec<u32> = c.routes.iter_mut().map(|(id, _)| id).collect();
        assert_eq!(old.len(), 1, "the next run");
        let other = portless(r#"{"delaySeconds": 3600, "gracePeriodSeconds": 0}"#);
        c.watch("a.1", &[other.clone(), other], no_ports(), &mut timers);
        assert_eq!(
            c.results("a.1"),
            [CheckResult::default(), CheckResult::default()]
        );
        for id in old {
            let changes = c.on_timer(&TimerKind::Health(id), poll.registry(), &mut timers);
            assert!(changes.is_empty());
        }
        assert_eq!(
            c.results("a.1"),
            [CheckResult::default(), CheckResult::default()],
            "neither runs before its hour"
        );
    }

    #[test]
    fn only_its_own_sources_and_timers_are_the_checker_s() {
        let (poll, mut timers) = (Poll::new().expect("poll"), Timers::default());
        let mut c = checker();
        assert!(c.owns(Source::Health(3)));
        assert!(!c.owns(Source::Child(3)), "no such child");
        assert!(!c.owns(Source::Conn(3)));
        let spec = portless(r#"{"delaySeconds": 0}"#);
        c.watch("a.1", &[spec], no_ports(), &mut timers);
        let kind = TimerKind::LaunchStep(1);
        assert!(c.on_timer(&kind, poll.registry(), &mut timers).is_empty());
        assert!(c
            .on_event(Source::Health(999), poll.registry(), &mut timers)
            .is_empty());
        assert_eq!(c.results("a.1"), [CheckResult::default()]);
    }
}
