use std::process::Command;
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::*;
use crate::event::Source;

/// Drives the runner the way the loop does (readiness, SIGCHLD, deadlines) until `owner`'s
/// child finishes; returns every event it got. Bounded, so a hang fails the test.
fn run_until_finished(
    children: &mut Children,
    poll: &mut Poll,
    timers: &mut Timers,
) -> Vec<ChildEvent> {
    let mut events = Events::with_capacity(8);
    let mut got = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let _ = poll.poll(&mut events, Some(Duration::from_millis(20)));
        for e in events.iter() {
            if let Some(Source::Child(id)) = Source::from_token(e.token()) {
                got.extend(children.on_ready(id, poll.registry()));
            }
        }
        for t in timers.expired() {
            if let TimerKind::ChildDeadline(id) = t {
                children.on_deadline(id);
            }
        }
        got.extend(children.on_sigchld());
        if got.iter().any(|e| matches!(e, ChildEvent::Finished { .. })) {
            return got;
        }
    }
    panic!("the child did not finish: {got:?}");
}

fn sh(script: &str) -> Program {
    let mut c = Command::new("/bin/sh");
    c.args(["-c", script]);
    Program::Exec(c)
}

#[test]
fn a_program_s_lines_come_before_its_status_once() {
    let mut poll = Poll::new().expect("poll");
    let mut timers = Timers::default();
    let mut children = Children::default();
    let owner = Owner::Fetch(7);
    children
        .spawn(owner, sh("echo one; echo two; exit 3"), poll.registry())
        .expect("spawn");
    let got = run_until_finished(&mut children, &mut poll, &mut timers);
    let lines: Vec<String> = got
        .iter()
        .filter_map(|e| match e {
            ChildEvent::Lines { lines, .. } => Some(lines.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(lines, ["one", "two"]);
    assert_eq!(
        got.last(),
        Some(&ChildEvent::Finished {
            owner,
            status: 3 << 8,
            timed_out: false
        })
    );
    assert!(children.is_empty());
}

#[test]
fn a_forked_function_s_result_is_its_status() {
    let mut poll = Poll::new().expect("poll");
    let mut timers = Timers::default();
    let mut children = Children::default();
    let owner = Owner::Isolator { index: 2, slot: 5 };
    children
        .spawn(owner, Program::Fork(Box::new(|| 4)), poll.registry())
        .expect("fork");
    let got = run_until_finished(&mut children, &mut poll, &mut timers);
    assert_eq!(
        got,
        [ChildEvent::Finished {
            owner,
            status: 4 << 8,
            timed_out: false
        }]
    );
}

#[test]
fn a_child_past_its_deadline_is_killed_and_its_owner_told() {
    let mut poll = Poll::new().expect("poll");
    let mut timers = Timers::default();
    let mut children = Children::default();
    let owner = Owner::Pull(1);
    let id = children
        .spawn(owner, sh("exec sleep 30"), poll.registry())
        .expect("spawn");
    children.set_deadline(id, Duration::from_millis(50), &mut timers);
    let got = run_until_finished(&mut children, &mut poll, &mut timers);
    assert_eq!(
        got.last(),
        Some(&ChildEvent::Finished {
            owner,
            status: libc::SIGKILL,
            timed_out: true
        })
    );
}

#[test]
fn a_killed_child_is_reaped_silently() {
    let poll = Poll::new().expect("poll");
    let mut children = Children::default();
    let id = children
        .spawn(Owner::Rootfs(3), sh("exec sleep 30"), poll.registry())
        .expect("spawn");
    assert!(children.is_running(id));
    children.kill(id, poll.registry());
    assert!(!children.is_running(id));
    let start = Instant::now();
    while !children.is_empty() && start.elapsed() < Duration::from_secs(20) {
        assert_eq!(children.on_sigchld(), []);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(children.is_empty(), "the killed child was not reaped");
}

#[test]
fn a_program_that_cannot_start_is_an_error() {
    let poll = Poll::new().expect("poll");
    let mut children = Children::default();
    let err = children
        .spawn(
            Owner::Fetch(1),
            Program::Exec(Command::new("/nonexistent/helper")),
            poll.registry(),
        )
        .expect_err("spawned a missing program");
    assert!(
        err.to_string().starts_with("/nonexistent/helper: "),
        "{err}"
    );
}
