//! Issue 11, acceptance 1: what a task puts in its sandbox cannot stall the agent, grow its
//! memory or lead `/files/read` (and `mesolite logs`, which reads through it) out of the
//! sandbox. A task makes a FIFO, a device node, a symlink to /etc/shadow (and others out of
//! its sandbox), a sparse 1 TiB file, and swaps its own stdout/stderr for a link and a FIFO;
//! the test adds a unix socket. Each read answers at once while `/health` stays fast, and the
//! sparse read leaves the agent's peak RSS under 8 MiB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use mesolite::http::{percent_encode, Client};
use serde_json::json;

/// The task: hostile files, then `ready`, then it waits to be killed.
const TASK: &str = "mkfifo pipe; ln -s /etc/shadow shadow; ln -s / slash; \
    ln -s ../other/stdout sibling; truncate -s 1T sparse; ln -s sparse inner; \
    mknod null c 1 3 2>mknod.err || true; \
    rm -f stdout stderr; ln -s /etc/shadow stdout; mkfifo stderr; \
    touch ready; exec sleep 600";

/// Long enough that only a hang reaches it.
const HANG: Duration = Duration::from_secs(20);

fn read_target(path: &Path, query: &str) -> String {
    format!(
        "/files/read?path={}{query}",
        percent_encode(&path.display().to_string())
    )
}

/// Peak resident set of a process, in KiB (`VmHWM`).
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Makes `target` `reads` times from a second thread while this one times `/health`; returns
/// the answers' statuses and bodies and the median `/health` time.
fn read_while_timing_health(
    agent: &Agent,
    target: &str,
    reads: usize,
) -> (Vec<(u16, Vec<u8>)>, Duration) {
    let socket = agent.socket.clone();
    let target = target.to_string();
    let reader = thread::spawn(move || {
        let c = Client::new(&socket).with_timeout(Some(HANG));
        (0..reads)
            .map(|_| {
                let r = c
                    .get(&target)
                    .unwrap_or_else(|e| panic!("{target} did not answer: {e}"));
                (r.status, r.body)
            })
            .collect::<Vec<_>>()
    });
    let health = Client::new(&agent.socket).with_timeout(Some(HANG));
    let mut times = Vec::new();
    while times.len() < 9 || !reader.is_finished() {
        let t = Instant::now();
        let r = health.get("/health").expect("/health did not answer");
        assert_eq!(r.status, 200);
        times.push(t.elapsed());
        thread::sleep(Duration::from_millis(2));
    }
    times.sort();
    (reader.join().unwrap(), times[times.len() / 2])
}

/// Runs the CLI, killing it if it has not finished within [`HANG`].
fn cli(agent: &Agent, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(args)
        .env("MESOLITE_SOCKET", &agent.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + HANG;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mesolite {args:?} did not finish within {HANG:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn hostile_sandbox_files_are_refused_at_once_and_read_in_bounded_memory() {
    if !root_or_skip("hostile_sandbox") {
        return;
    }
    let agent = Agent::start(&[]);
    let pid = agent.child.as_ref().unwrap().id();
    let r = agent.launch_shell("hostile", TASK, json!([]));
    assert_eq!(r.status, 200, "{}", r.text());
    let sandbox = agent.sandbox("hostile");
    Agent::eventually("the task's files", HANG, || sandbox.join("ready").exists());

    // A unix socket: made here, as the task's PATH may have no tool that makes one.
    let _listener = UnixListener::bind(sandbox.join("sock")).unwrap();
    let mut not_regular = vec!["pipe", "sock", ""];
    if sandbox.join("null").exists() {
        not_regular.push("null");
    } else {
        let why = std::fs::read_to_string(sandbox.join("mknod.err")).unwrap_or_default();
        eprintln!(
            "SKIPPED the device node: mknod in the task failed: {}",
            why.trim()
        );
    }

    let baseline_kib = vm_hwm_kib(pid);
    let mut medians = Vec::new();
    for name in &not_regular {
        let target = read_target(&sandbox.join(name), "&offset=0");
        let (answers, median) = read_while_timing_health(&agent, &target, 10);
        for (status, body) in answers {
            let text = String::from_utf8_lossy(&body);
            assert_eq!(status, 400, "{name}: {text}");
            assert!(text.contains("not a regular file"), "{name}: {text}");
        }
        medians.push((name.to_string(), median));
    }
    for name in ["shadow", "slash/etc/shadow", "sibling"] {
        let target = read_target(&sandbox.join(name), "&offset=0");
        let (answers, median) = read_while_timing_health(&agent, &target, 10);
        for (status, body) in answers {
            let text = String::from_utf8_lossy(&body);
            assert_eq!(status, 400, "{name}: {text}");
            assert!(text.contains("leads out of its sandbox"), "{name}: {text}");
            assert!(!text.contains("root:"), "{name}: {text}");
        }
        medians.push((name.to_string(), median));
    }

    // The sparse 1 TiB file: bounded answers (1 MiB of escaped NULs at most), near the end
    // too, and through a link that stays inside the sandbox.
    for (name, query, want_len) in [
        ("sparse", "&offset=0", None),
        ("sparse", "", None),
        ("inner", "&offset=0&length=100", Some(100)),
        ("sparse", "&offset=1099511627766", Some(10)),
    ] {
        let target = read_target(&sandbox.join(name), query);
        let (answers, median) = read_while_timing_health(&agent, &target, 10);
        for (status, body) in answers {
            assert_eq!(
                status,
                200,
                "{name}{query}: {}",
                String::from_utf8_lossy(&body)
            );
            assert!(
                body.len() <= 1024 * 1024 + 64,
                "{name}{query}: {}",
                body.len()
            );
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let data = v["data"].as_str().unwrap();
            assert!(data.bytes().all(|b| b == 0), "{name}{query}");
            match want_len {
                Some(n) => assert_eq!(data.len(), n, "{name}{query}"),
                None => assert!(!data.is_empty(), "{name}{query}"),
            }
        }
        medians.push((format!("{name}{query}"), median));
    }
    let size = agent
        .client()
        .get(&read_target(&sandbox.join("sparse"), "&offset=-1"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(size["offset"], 1u64 << 40);
    let peak_kib = vm_hwm_kib(pid);
    eprintln!("agent VmHWM: {baseline_kib} KiB before the reads, {peak_kib} KiB after");
    eprintln!("/health medians while reading: {medians:?}");
    for (name, median) in &medians {
        assert!(
            *median < Duration::from_millis(100),
            "/health median {median:?} while reading {name}"
        );
    }
    assert!(peak_kib < 8 * 1024, "agent VmHWM {peak_kib} KiB");

    // `mesolite logs` reads through /files/read: a stdout linked to /etc/shadow and a FIFO
    // stderr are clear errors at once, with -f too.
    for (args, want) in [
        (vec!["logs", "hostile"], "leads out of its sandbox"),
        (vec!["logs", "-f", "hostile"], "leads out of its sandbox"),
        (vec!["logs", "hostile", "stderr"], "not a regular file"),
        (
            vec!["logs", "-f", "hostile", "stderr"],
            "not a regular file",
        ),
    ] {
        let o = cli(&agent, &args);
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}: {out}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!out.contains("root:"), "{args:?}: {out}");
    }
}
