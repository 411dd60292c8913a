//! `--container_logger=logrotate`: a task's stdout and stderr through a logger process that
//! rotates them; `logs -f` follows across rotations; an agent restart loses no line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use serde_json::json;

const MIB: u64 = 1 << 20;

/// `<sandbox>/<stream>` and its rotated files, oldest first, as they are now.
fn stream_files(sandbox: &Path, stream: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..100)
        .map(|n| sandbox.join(format!("{stream}.{n}")))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(sandbox.join(stream));
    files
}

fn stream_bytes(sandbox: &Path, stream: &str) -> u64 {
    let Ok(dir) = fs::read_dir(sandbox) else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name == stream || name.starts_with(&format!("{stream}."))
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Checks that `text` is the lines `first..=last`, one number a line, in order.
fn assert_numbered(text: &str, first: u64, last: u64) {
    let mut want = first;
    for (i, line) in text.lines().enumerate() {
        let n: u64 = line
            .parse()
            .unwrap_or_else(|_| panic!("line {i}: not a number: {line:?}"));
        assert_eq!(n, want, "line {i}: a gap or a reorder");
        want += 1;
    }
    assert_eq!(want, last + 1, "lines up to {last}, got up to {}", want - 1);
}

fn launch_env(agent: &Agent, id: &str, cmd: &str, env: &[(&str, &str)]) -> (u16, String) {
    let vars: Vec<_> = env
        .iter()
        .map(|(k, v)| json!({"name": k, "type": "VALUE", "value": v}))
        .collect();
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id},
        "command": {"value": cmd, "shell": true, "environment": {"variables": vars}},
        "resources": common::resources(0.5, 64.0)}}));
    (r.status, r.text())
}

/// 100 MiB of numbered lines through a 1 MB × 3 kept files logger: the sandbox never holds
/// more than 4 MiB of stdout, and `logs -f`, run all along, prints every line in order.
#[test]
fn logs_follow_every_line_across_rotations_within_the_bound() {
    if !root_or_skip("logrotate_follow") {
        return;
    }
    let agent = Agent::start(&[
        "--container_logger=logrotate",
        "--logrotate_max_stdout_size=1MB",
        "--logrotate_rotate=3",
    ]);
    // 13,000,000 lines of 2 to 9 bytes: 101 MiB, in 100 bursts of ~1 MiB, paced so that a
    // follower on a busy machine keeps within the 3 MiB of rotated files.
    let cmd = "i=0; while [ $i -lt 100 ]; do seq $((i*130000+1)) $((i*130000+130000)); \
               sleep 0.15; i=$((i+1)); done";
    let (status, text) = launch_env(&agent, "big", cmd, &[]);
    assert_eq!(status, 200, "{text}");
    let out_path = agent.dir.join("follow.out");
    let err_path = agent.dir.join("follow.err");
    let mut follower = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(["logs", "-f", "big"])
        .env("MESOLITE_SOCKET", &agent.socket)
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let sandbox = agent.sandbox("big");
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut most, mut samples) = (0, 0);
    let status = loop {
        if let Some(status) = follower.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "logs -f did not end");
        let bytes = stream_bytes(&sandbox, "stdout");
        assert!(bytes <= 4 * MIB, "{bytes} bytes of stdout in the sandbox");
        assert!(!sandbox.join("stdout.4").exists());
        most = most.max(bytes);
        samples += 1;
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = fs::read_to_string(&err_path).unwrap();
    assert!(status.success(), "logs -f: {status}: {err}");
    assert!(err.is_empty(), "logs -f said: {err}");
    let w = agent.wait_json("big");
    assert_eq!(w["exit_status"], 0, "{w}");
    // It rotated all along: the kept files are full, far less than what was written.
    assert!(
        samples > 20 && most > 3 * MIB,
        "{samples} samples, at most {most} bytes"
    );
    assert!(stream_bytes(&sandbox, "stdout") <= 4 * MIB);
    assert_eq!(stream_files(&sandbox, "stdout").len(), 4);
    let text = fs::read_to_string(&out_path).unwrap();
    assert!(
        text.len() as u64 > 100 * MIB,
        "{} bytes followed",
        text.len()
    );
    assert_numbered(&text, 1, 13_000_000);
}

/// The agent is killed while a task writes, and started again: the file holds every line the
/// task wrote, those of the time the agent was down included.
#[test]
fn an_agent_restart_loses_no_line() {
    if !root_or_skip("logrotate_restart") {
        return;
    }
    let mut agent = Agent::start(&["--container_logger=logrotate", "--logrotate_rotate=2"]);
    let cmd = "i=0; while [ $i -lt 40 ]; do seq $((i*1000+1)) $((i*1000+1000)); \
               sleep 0.1; i=$((i+1)); done";
    let (status, text) = launch_env(&agent, "steady", cmd, &[]);
    assert_eq!(status, 200, "{text}");
    let out = agent.sandbox("steady").join("stdout");
    Agent::eventually("output before the restart", Duration::from_secs(20), || {
        fs::metadata(&out).is_ok_and(|m| m.len() > 20_000)
    });
    agent.sigkill();
    let before = fs::metadata(&out).unwrap().len();
    std::thread::sleep(Duration::from_millis(800));
    let during = fs::metadata(&out).unwrap().len();
    assert!(
        during > before,
        "the logger wrote nothing while the agent was down"
    );
    let agent = agent.restart();
    let w = agent.wait_json("steady");
    assert_eq!(w["exit_status"], 0, "{w}");
    // The logger ends (shortly after the task) once it has written everything.
    Agent::eventually("the last line", Duration::from_secs(20), || {
        fs::read_to_string(&out).is_ok_and(|t| t.ends_with("\n40000\n"))
    });
    assert_numbered(&fs::read_to_string(&out).unwrap(), 1, 40_000);
    assert!(!agent.sandbox("steady").join("stdout.1").exists());
}

/// Nobody reads: the task still runs to its end; stdout and stderr both rotate, within their
/// own bounds, and a task's CONTAINER_LOGGER_* variables override the agent's flags.
#[test]
fn unread_output_keeps_flowing_and_both_streams_rotate() {
    if !root_or_skip("logrotate_unread") {
        return;
    }
    let agent = Agent::start(&[
        "--container_logger=logrotate",
        "--logrotate_max_stdout_size=1MB",
        "--logrotate_max_stderr_size=1MB",
        "--logrotate_rotate=2",
    ]);
    let cmd = "seq 1 2000000 >&2; seq 1 3000000";
    let env = [
        ("CONTAINER_LOGGER_LOGROTATE_MAX_STDOUT_SIZE", "512KB"),
        ("CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS", "rotate 1"),
    ];
    let (status, text) = launch_env(&agent, "chatty", cmd, &env);
    assert_eq!(status, 200, "{text}");
    let w = agent.wait_json("chatty");
    assert_eq!(w["exit_status"], 0, "{w}");
    let sandbox = agent.sandbox("chatty");
    Agent::eventually("the last lines", Duration::from_secs(20), || {
        let ends = |s: &str, last: u64| {
            fs::read_to_string(sandbox.join(s)).is_ok_and(|t| t.ends_with(&format!("\n{last}\n")))
        };
        ends("stdout", 3_000_000) && ends("stderr", 2_000_000)
    });
    for (stream, size, kept, last) in [
        ("stdout", 512 * 1024, 2, 3_000_000),
        ("stderr", MIB, 1, 2_000_000),
    ] {
        let files = stream_files(&sandbox, stream);
        assert_eq!(files.len(), kept + 1, "{stream}: {files:?}");
        let mut text = String::new();
        for f in &files {
            let len = fs::metadata(f).unwrap().len();
            assert!(len <= size, "{}: {len} bytes", f.display());
            text.push_str(&fs::read_to_string(f).unwrap());
        }
        // What is kept is the end of the stream, whole lines, in order.
        let first: u64 = text.lines().next().unwrap().parse().unwrap();
        assert!(first > 1, "{stream} was not rotated");
        assert_numbered(&text, first, last);
    }
    // Bad values are the launch's error.
    let (status, text) = launch_env(
        &agent,
        "bad",
        "true",
        &[("CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS", "compress")],
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("only 'rotate N'"), "{text}");
}
