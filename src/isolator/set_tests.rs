//! The life cycle, driven through a set of recording isolators and a real mio loop: the order
//! of the steps, cleanup after a failure, recovery, and watches, timers and children that fire
//! limitations.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::*;
use crate::children::{ChildEvent, Children, Program};
use crate::event::Source;
use crate::status::Reason;
use crate::timer::{TimerKind, Timers};

type Log = Rc<RefCell<Vec<String>>>;

/// The tag a `Recording` watches its pipe under.
const WATCH_TAG: u8 = 5;

/// Records every step; `fail` names the step at which it fails; its watch is a pipe.
#[derive(Debug)]
struct Recording {
    name: &'static str,
    log: Log,
    fail: Option<&'static str>,
    /// The read end of the pipe it watches, by slot; the write end goes to the test.
    watched: Vec<(u32, OwnedFd)>,
    writers: Rc<RefCell<Vec<OwnedFd>>>,
}

impl Recording {
    fn boxed(name: &'static str, log: &Log, fail: Option<&'static str>) -> Box<dyn Isolator> {
        Box::new(Recording {
            name,
            log: log.clone(),
            fail,
            watched: Vec::new(),
            writers: Rc::default(),
        })
    }

    /// One whose pipes' write ends go into `writers`.
    fn writing(
        name: &'static str,
        log: &Log,
        writers: &Rc<RefCell<Vec<OwnedFd>>>,
    ) -> Box<dyn Isolator> {
        Box::new(Recording {
            name,
            log: log.clone(),
            fail: None,
            watched: Vec::new(),
            writers: writers.clone(),
        })
    }

    fn step(&self, step: &str, slot: u32) -> Result<(), IsolatorError> {
        self.log
            .borrow_mut()
            .push(format!("{} {step} {slot}", self.name));
        if self.fail == Some(step) {
            return Err(IsolatorError::Request(format!("{} refuses", self.name)));
        }
        Ok(())
    }

    fn watch(&mut self, slot: u32, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        let (read, write) = crate::sys::fd::pipe(true).map_err(IsolatorError::Watch)?;
        ops.watch(slot, WATCH_TAG, read.as_raw_fd())
            .map_err(IsolatorError::Watch)?;
        self.watched.push((slot, read));
        self.writers.borrow_mut().push(write);
        Ok(())
    }
}

fn limitation(message: &str) -> Limitation {
    Limitation {
        reason: Reason::ContainerLimitationMemory,
        message: message.into(),
        resources: serde_json::json!([]),
    }
}

impl Isolator for Recording {
    fn name(&self) -> &'static str {
        self.name
    }

    fn start(&mut self, ops: &mut Ops<'_>) {
        self.log.borrow_mut().push(format!("{} start", self.name));
        ops.tick(Duration::from_millis(1));
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, _plan: &mut Plan) -> Result<(), IsolatorError> {
        self.step("prepare", ctx.slot)
    }

    fn isolate(
        &mut self,
        ctx: &ContainerCtx<'_>,
        ops: &mut Ops<'_>,
    ) -> Result<Isolated, IsolatorError> {
        self.step("isolate", ctx.slot)?;
        self.watch(ctx.slot, ops)?;
        Ok(Isolated::Done)
    }

    fn recover(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        self.step("recover", ctx.slot)?;
        self.watch(ctx.slot, ops)
    }

    fn on_ready(
        &mut self,
        ctx: &ContainerCtx<'_>,
        tag: u8,
        _ops: &mut Ops<'_>,
    ) -> Option<Limitation> {
        self.log
            .borrow_mut()
            .push(format!("{} ready {} tag {tag}", self.name, ctx.slot));
        Some(limitation(&format!("{} watched it", self.name)))
    }

    fn on_timer(&mut self, running: &[u32], ops: &mut Ops<'_>) -> Vec<Limited> {
        self.log.borrow_mut().push(format!("{} timer", self.name));
        let mut sh = std::process::Command::new("/bin/sh");
        sh.args(["-c", "echo measured"]);
        if let Some(slot) = running.first() {
            if let Err(e) = ops.run(*slot, Program::Exec(sh), None) {
                panic!("run: {e}");
            }
        }
        Vec::new()
    }

    fn on_child(&mut self, slot: u32, event: ChildEvent, _ops: &mut Ops<'_>) -> ChildOutcome {
        match event {
            ChildEvent::Lines { lines, .. } => {
                self.log.borrow_mut().push(format!(
                    "{} child {slot} {}",
                    self.name,
                    lines.join(",")
                ));
                ChildOutcome::default()
            }
            ChildEvent::Finished { status, .. } => {
                vec![(slot, limitation(&format!("child ended {status}")))].into()
            }
        }
    }

    fn cleanup(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        for (_, fd) in self.watched.iter().filter(|(s, _)| *s == ctx.slot) {
            ops.unwatch(fd.as_raw_fd());
        }
        self.watched.retain(|(s, _)| *s != ctx.slot);
        self.step("cleanup", ctx.slot)
    }
}

/// A mio loop, timers and children, as the agent has them.
struct Loop {
    poll: Poll,
    timers: Timers,
    children: Children,
}

impl Loop {
    fn new() -> Loop {
        Loop {
            poll: Poll::new().expect("poll"),
            timers: Timers::default(),
            children: Children::default(),
        }
    }

    fn parts(&mut self) -> LoopParts<'_> {
        LoopParts {
            registry: self.poll.registry(),
            timers: &mut self.timers,
            children: &mut self.children,
        }
    }

    /// Polls (bounded) until `want` says an event is what the test waits for; after each poll
    /// it is also given `Source::Signals`, standing for a SIGCHLD check.
    fn wait_for<T>(&mut self, mut want: impl FnMut(&mut Loop, Source) -> Option<T>) -> T {
        let mut events = Events::with_capacity(8);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(20)));
            let mut sources: Vec<Source> = events
                .iter()
                .filter_map(|e| Source::from_token(e.token()))
                .collect();
            sources.push(Source::Signals);
            for s in sources {
                if let Some(t) = want(self, s) {
                    return t;
                }
            }
        }
        panic!("no event came");
    }
}

fn ctx<'a>(resources: &'a Resources, sandbox: &'a Path) -> ContainerCtx<'a> {
    ContainerCtx {
        id: "c1",
        slot: 7,
        resources,
        cgroup: None,
        sandbox,
        pid: Some(1),
    }
}

fn prepare_ctx<'a>(
    resources: &'a Resources,
    sandbox: &'a Path,
    container: &'a crate::spec::ContainerInfo,
) -> PrepareCtx<'a> {
    PrepareCtx {
        id: "c1",
        slot: 7,
        resources,
        cgroup: None,
        hostname: None,
        container,
        sandbox,
        enable_cfs: false,
        user: None,
        rootfs: None,
    }
}

fn three(log: &Log, fail_b: Option<&'static str>) -> Isolators {
    Isolators::from_list(vec![
        Recording::boxed("a", log, None),
        Recording::boxed("b", log, fail_b),
        Recording::boxed("c", log, None),
    ])
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.borrow_mut())
}

#[test]
fn prepare_and_isolate_run_in_order_and_cleanup_in_reverse() {
    let log = Log::default();
    let mut set = three(&log, None);
    let mut lp = Loop::new();
    let (r, sandbox, info) = (
        Resources::default(),
        Path::new("/sandbox"),
        Default::default(),
    );
    let mut plan = Plan::default();
    set.prepare(&prepare_ctx(&r, sandbox, &info), &mut plan)
        .expect("prepare");
    set.isolate(&ctx(&r, sandbox), &mut lp.parts())
        .expect("isolate");
    set.cleanup(&ctx(&r, sandbox), &mut lp.parts());
    assert_eq!(
        taken(&log),
        [
            "a prepare 7",
            "b prepare 7",
            "c prepare 7",
            "a isolate 7",
            "b isolate 7",
            "c isolate 7",
            "c cleanup 7",
            "b cleanup 7",
            "a cleanup 7",
        ]
    );
}

#[test]
fn a_failed_isolate_stops_there_names_the_isolator_and_every_isolator_cleans_up() {
    let log = Log::default();
    let mut set = three(&log, Some("isolate"));
    let mut lp = Loop::new();
    let (r, sandbox) = (Resources::default(), Path::new("/sandbox"));
    let err = set
        .isolate(&ctx(&r, sandbox), &mut lp.parts())
        .expect_err("b fails");
    assert_eq!(err.to_string(), "Isolator b failed to isolate: b refuses");
    set.cleanup(&ctx(&r, sandbox), &mut lp.parts());
    assert_eq!(
        taken(&log),
        [
            "a isolate 7",
            "b isolate 7",
            "c cleanup 7",
            "b cleanup 7",
            "a cleanup 7"
        ]
    );
}

#[test]
fn a_failed_cleanup_does_not_stop_the_others() {
    let log = Log::default();
    let mut set = three(&log, Some("cleanup"));
    let mut lp = Loop::new();
    let (r, sandbox) = (Resources::default(), Path::new("/sandbox"));
    set.cleanup(&ctx(&r, sandbox), &mut lp.parts());
    assert_eq!(taken(&log), ["c cleanup 7", "b cleanup 7", "a cleanup 7"]);
}

#[test]
fn a_watch_fires_a_limitation_of_the_isolator_that_set_it() {
    let log = Log::default();
    let writers: Rc<RefCell<Vec<OwnedFd>>> = Rc::default();
    let mut set = Isolators::from_list(vec![
        Recording::boxed("a", &log, None),
        Recording::writing("b", &log, &writers),
    ]);
    let mut lp = Loop::new();
    let (r, sandbox) = (Resources::default(), Path::new("/sandbox"));
    set.isolate(&ctx(&r, sandbox), &mut lp.parts())
        .expect("isolate");
    taken(&log);
    let w = writers.borrow_mut().pop().expect("b watches a pipe");
    crate::sys::fd::write_all(w.as_raw_fd(), b"!").expect("write");
    let got = lp.wait_for(|lp, source| match source {
        Source::Isolator { index, slot, tag } => Some(
            set.on_ready(index, tag, &ctx(&r, sandbox), &mut lp.parts())
                .map(|l| (index, slot, l)),
        ),
        _ => None,
    });
    let (index, slot, l) = got.expect("a limitation");
    assert_eq!((index, slot, l.message.as_str()), (1, 7, "b watched it"));
    assert_eq!(taken(&log), ["b ready 7 tag 5"], "the tag it watched with");
}

#[test]
fn after_a_restart_recover_rebuilds_the_watches() {
    let log = Log::default();
    let writers: Rc<RefCell<Vec<OwnedFd>>> = Rc::default();
    // The set of a restarted agent: nothing was isolated by it.
    let mut set = Isolators::from_list(vec![Recording::writing("a", &log, &writers)]);
    let mut lp = Loop::new();
    let (r, sandbox) = (Resources::default(), Path::new("/sandbox"));
    set.recover(&ctx(&r, sandbox), &mut lp.parts());
    assert_eq!(taken(&log), ["a recover 7"]);
    let w = writers.borrow_mut().pop().expect("a watches again");
    crate::sys::fd::write_all(w.as_raw_fd(), b"!").expect("write");
    let l = lp.wait_for(|lp, source| match source {
        Source::Isolator { index, tag, .. } => {
            set.on_ready(index, tag, &ctx(&r, sandbox), &mut lp.parts())
        }
        _ => None,
    });
    assert_eq!(l.message, "a watched it");
}

#[test]
fn a_timer_runs_a_child_whose_output_and_end_come_back_to_the_isolator() {
    let log = Log::default();
    let mut set = Isolators::from_list(vec![Recording::boxed("a", &log, None)]);
    let mut lp = Loop::new();
    set.start(&mut lp.parts());
    let started = Instant::now();
    let due = loop {
        let due = lp.timers.expired();
        if !due.is_empty() || started.elapsed() > Duration::from_secs(20) {
            break due;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(due, [TimerKind::Isolator(0)]);
    assert!(set.on_timer(0, &[7], &mut lp.parts()).is_empty());
    let limited = lp.wait_for(|lp, source| {
        let events = match source {
            Source::Child(id) => lp.children.on_ready(id, lp.poll.registry()),
            Source::Signals => lp.children.on_sigchld(),
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for e in events {
            let (ChildEvent::Lines { owner, .. } | ChildEvent::Finished { owner, .. }) = &e;
            if let crate::children::Owner::Isolator { index, slot } = *owner {
                out.extend(set.on_child(index, slot, e, &mut lp.parts()).limited);
            }
        }
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].0, 7);
    assert_eq!(limited[0].1.message, "child ended 0");
    assert_eq!(taken(&log), ["a start", "a timer", "a child 7 measured"]);
}
