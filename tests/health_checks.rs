//! The app health checker in a real mio loop: HTTP against a server on 127.0.0.1 that answers
//! 200 then 500, TCP against an open and a closed port, an HTTP probe that gets no answer, and
//! COMMAND checks run by the release binary's `health-exec` verb inside a process's own pid,
//! mount and UTS namespaces (made with util-linux's `unshare`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mesolite::apps::health::{Change, CheckResult, Checker, HealthCheck, Target};
use mesolite::event::Source;
use mesolite::timer::Timers;
use mio::{Events, Poll};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn check(json: &str) -> HealthCheck {
    serde_json::from_str(json).unwrap()
}

fn target(ports: Vec<u16>) -> Target {
    Target {
        ip: LOCALHOST,
        ports,
        pid: None,
        env: Vec::new(),
    }
}

/// The loop as the agent runs it, with only the checker in it.
struct Loop {
    poll: Poll,
    timers: Timers,
    checker: Checker,
    changes: Vec<Change>,
}

impl Loop {
    fn new() -> Loop {
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_mesolite"));
        Loop {
            poll: Poll::new().unwrap(),
            timers: Timers::default(),
            checker: Checker::new(1 << 29, binary),
            changes: Vec::new(),
        }
    }

    fn watch(&mut self, task: &str, checks: &[HealthCheck], target: Target) {
        self.checker.watch(task, checks, target, &mut self.timers);
    }

    /// One iteration: readiness, SIGCHLD (polled: the test has no signal pipe), timers.
    fn turn(&mut self) {
        let mut events = Events::with_capacity(16);
        let wait = self
            .timers
            .next_timeout()
            .map_or(Duration::from_millis(50), |t| {
                t.min(Duration::from_millis(50))
            });
        self.poll.poll(&mut events, Some(wait)).unwrap();
        self.timers.tick();
        let registry = self.poll.registry();
        for e in events.iter() {
            let source = Source::from_token(e.token()).unwrap();
            assert!(self.checker.owns(source), "{source:?}");
            let c = self.checker.on_event(source, registry, &mut self.timers);
            self.changes.extend(c);
        }
        let c = self.checker.on_sigchld(registry, &mut self.timers);
        self.changes.extend(c);
        for kind in self.timers.expired() {
            let c = self.checker.on_timer(&kind, registry, &mut self.timers);
            self.changes.extend(c);
        }
    }

    /// Turns until `done` holds (at most 60 s: a hang fails the test).
    fn until(&mut self, what: &str, mut done: impl FnMut(&Loop) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{what}: hung; changes {:?}",
                self.changes
            );
            self.turn();
        }
    }

    fn changes_of(&self, task: &str) -> Vec<&Change> {
        self.changes.iter().filter(|c| c.task == task).collect()
    }

    fn failed_out(&self, task: &str) -> bool {
        self.changes_of(task).iter().any(|c| c.failed_out)
    }

    fn result(&self, task: &str) -> CheckResult {
        self.checker.results(task).remove(0)
    }
}

fn change(task: &str, alive: bool, consecutive_failures: u32, failed_out: bool) -> Change {
    Change {
        task: task.into(),
        alive,
        consecutive_failures,
        failed_out,
    }
}

/// A server that answers its first request 200 and every later one 500, passing each
/// request's head on.
fn http_server() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let answer: &[u8] = if n == 0 {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            } else {
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
            };
            let _ = stream.write_all(answer);
        }
    });
    (port, rx)
}

#[test]
fn http_checks_follow_the_answers_status() {
    let (port, requests) = http_server();
    let mut lp = Loop::new();
    let hc = check(
        r#"{"protocol": "HTTP", "path": "/health", "portIndex": 1, "gracePeriodSeconds": 0,
            "intervalSeconds": 1, "timeoutSeconds": 10, "maxConsecutiveFailures": 2,
            "delaySeconds": 0}"#,
    );
    lp.watch("web.1", &[hc], target(vec![1, port]));
    lp.until("two failures after a success", |lp| lp.failed_out("web.1"));
    assert_eq!(
        lp.changes,
        [
            change("web.1", true, 0, false),
            change("web.1", false, 1, false),
            change("web.1", false, 2, true),
        ]
    );
    let r = lp.result("web.1");
    assert!(!r.alive);
    assert_eq!(r.consecutive_failures, 2);
    assert!(r.first_success.is_some() && r.first_success == r.last_success);
    assert!(r.last_failure > r.last_success);
    assert_eq!(
        r.last_failure_cause.as_deref(),
        Some("500 Internal Server Error")
    );
    let first = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(first.starts_with("GET /health HTTP/1.1\r\n"), "{first}");
    assert!(
        first.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")),
        "{first}"
    );

    lp.checker.unwatch("web.1", lp.poll.registry());
    assert!(lp.checker.results("web.1").is_empty());
    let seen = lp.changes.len();
    let quiet = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < quiet {
        lp.turn();
    }
    assert_eq!(lp.changes.len(), seen, "nothing after unwatch");
}

#[test]
fn tcp_checks_connect_and_failures_in_the_grace_period_do_not_count() {
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tcp = |grace: u32, max: u32| {
        check(&format!(
            r#"{{"protocol": "TCP", "gracePeriodSeconds": {grace}, "intervalSeconds": 1,
                "timeoutSeconds": 5, "maxConsecutiveFailures": {max}, "delaySeconds": 0}}"#
        ))
    };
    let mut lp = Loop::new();
    lp.watch("open.1", &[tcp(0, 1)], target(vec![open_port]));
    lp.watch("closed.1", &[tcp(0, 2)], target(vec![closed_port]));
    lp.watch("graced.1", &[tcp(300, 1)], target(vec![closed_port]));
    lp.watch("noport.1", &[tcp(0, 1)], target(Vec::new()));
    lp.until("the closed port fails out", |lp| lp.failed_out("closed.1"));
    assert_eq!(lp.changes_of("open.1"), [&change("open.1", true, 0, false)]);
    assert_eq!(
        lp.changes_of("closed.1"),
        [
            &change("closed.1", false, 1, false),
            &change("closed.1", false, 2, true)
        ]
    );
    let cause = lp.result("closed.1").last_failure_cause.unwrap();
    assert!(cause.contains("refused"), "{cause}");
    assert!(lp.changes_of("graced.1").is_empty());
    assert_eq!(lp.result("graced.1"), CheckResult::default());
    assert_eq!(
        lp.result("noport.1").last_failure_cause.as_deref(),
        Some("the task has no host port at portIndex 0")
    );
    drop(open);
}

#[test]
fn an_http_probe_without_an_answer_times_out() {
    // Connections complete in the listen backlog; nothing ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut lp = Loop::new();
    let hc = check(
        r#"{"protocol": "MESOS_HTTP", "gracePeriodSeconds": 0, "intervalSeconds": 5,
            "timeoutSeconds": 1, "maxConsecutiveFailures": 1, "delaySeconds": 0}"#,
    );
    lp.watch("mute.1", &[hc], target(vec![port]));
    lp.until("a timeout", |lp| lp.failed_out("mute.1"));
    assert_eq!(
        lp.result("mute.1").last_failure_cause.as_deref(),
        Some("timed out after 1s")
    );
    drop(silent);
}

/// A process in new pid, mount and UTS namespaces (`unshare`, killed with the test):
/// `sleep` as its pid 1, the hostname `name`, the namespace's own /proc.
struct Namespaced {
    unshare: Child,
    /// The namespaced process, as seen from here.
    pid: i32,
}

impl Namespaced {
    fn start(name: &str) -> Namespaced {
        let unshare = Command::new("unshare")
            .args([
                "--pid",
                "--mount",
                "--uts",
                "--fork",
                "--kill-child",
                "--mount-proc",
            ])
            .args(["sh", "-c", &format!("hostname {name} && exec sleep 600")])
            .spawn()
            .expect("unshare");
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        let mut ns = Namespaced { unshare, pid: 0 };
        let start = Instant::now();
        while ns.pid == 0 {
            let text = std::fs::read_to_string(&children).unwrap_or_default();
            match text.split_whitespace().next() {
                Some(pid) => ns.pid = pid.parse().unwrap(),
                None => std::thread::sleep(Duration::from_millis(20)),
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no child of unshare"
            );
        }
        ns
    }
}

impl Drop for Namespaced {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// Whether a process whose command line is `cmdline` (NULs as spaces) runs (zombies have
/// none).
fn running(cmdline: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim_end() == cmdline)
    })
}

#[test]
fn command_checks_run_inside_the_container_s_namespaces() {
    if !common::root_or_skip("command_checks_run_inside_the_container_s_namespaces") {
        return;
    }
    let name = format!("hc-{}", std::process::id());
    let ns = Namespaced::start(&name);
    // Every second, but for a check whose one run is looked at.
    let command = |cmd: &str, grace: u32, timeout: u32, max: u32| {
        let interval = if timeout == 1 { 600 } else { 1 };
        let body = serde_json::json!({
            "protocol": "COMMAND", "command": {"value": cmd}, "gracePeriodSeconds": grace,
            "intervalSeconds": interval, "timeoutSeconds": timeout,
            "maxConsecutiveFailures": max, "delaySeconds": 0
        });
        serde_json::from_value::<HealthCheck>(body).unwrap()
    };
    let inside = Target {
        pid: Some(ns.pid),
        env: vec![("HC_NAME".into(), name.clone())],
        ..target(Vec::new())
    };
    // Its own hostname, its pid namespace's /proc (where the shell finds itself), `/` as
    // the directory, the task's environment. Until `sleep` is the namespace's pid 1 the
    // check fails, within the grace period.
    let probe = r#"test "$(hostname)" = "$HC_NAME" && test "$(cat /proc/1/comm)" = sleep &&
        test -r /proc/self/stat && test "$(pwd)" = / && test -n "$PATH""#;
    let mut lp = Loop::new();
    lp.watch("inside.1", &[command(probe, 60, 10, 3)], inside.clone());
    lp.watch(
        "false.1",
        &[command("echo no; false", 0, 10, 2)],
        inside.clone(),
    );
    lp.watch(
        "hung.1",
        &[command("exec sleep 987.6", 0, 1, 1)],
        inside.clone(),
    );
    lp.watch("nopid.1", &[command("true", 0, 10, 1)], target(Vec::new()));
    lp.until("every check's verdict", |lp| {
        lp.changes_of("inside.1").iter().any(|c| c.alive)
            && lp.failed_out("false.1")
            && lp.failed_out("hung.1")
            && lp.failed_out("nopid.1")
    });
    assert_eq!(
        lp.changes_of("inside.1"),
        [&change("inside.1", true, 0, false)]
    );
    assert_eq!(
        lp.result("false.1").last_failure_cause.as_deref(),
        Some("command exited with status 1: no")
    );
    assert_eq!(
        lp.result("hung.1").last_failure_cause.as_deref(),
        Some("timed out after 1s")
    );
    assert_eq!(
        lp.result("nopid.1").last_failure_cause.as_deref(),
        Some("no process to run the command in")
    );
    lp.until("the timed-out command ends", |_| !running("sleep 987.6"));

    // Unwatching a check whose command runs kills it.
    lp.watch("long.1", &[command("exec sleep 876.5", 0, 60, 1)], inside);
    lp.until("the long command runs", |_| running("sleep 876.5"));
    lp.checker.unwatch("long.1", lp.poll.registry());
    lp.until("the unwatched command ends", |_| !running("sleep 876.5"));
    assert!(lp.changes_of("long.1").is_empty());
    assert!(Path::new(&format!("/proc/{}", ns.pid)).exists());
}
