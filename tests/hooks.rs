//! Issue 13: `--hooks_dir`. A `prelaunch` hook adds to the task's environment; one that fails
//! fails the launch with its stderr; one that hangs is killed at `--hooks_timeout`; a `remove`
//! hook runs at REMOVE_CONTAINER with the container's ID and sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use serde_json::json;

/// A fresh directory of hooks, each `(name, shell script body)`.
fn hooks_dir(test: &str, hooks: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mltest-hooks-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in hooks {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// Whether a process whose command line holds `marker` runs.
fn runs(marker: &str) -> bool {
    let out = std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .unwrap();
    !out.stdout.is_empty()
}

/// The task (`echo ran`) printed nothing: it never started.
fn assert_never_ran(agent: &Agent, id: &str) {
    let out = std::fs::read_to_string(agent.sandbox(id).join("stdout")).unwrap_or_default();
    assert!(!out.contains("ran"), "{id}: {out:?}");
}

fn start(dir: &Path, extra: &[&str]) -> Agent {
    let mut flags = vec![format!("--hooks_dir={}", dir.display())];
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Agent::start(&flags)
}

#[test]
fn a_prelaunch_hook_adds_to_the_tasks_environment_and_sees_the_request() {
    if !root_or_skip("prelaunch_env") {
        return;
    }
    // The hook checks what it is given: the request on stdin, the ID and sandbox in its env.
    let dir = hooks_dir(
        "env",
        &[(
            "prelaunch",
            r#"req=$(cat)
case "$req" in *'"value":"hooked"'*) ;; *) echo "no request on stdin: $req" >&2; exit 1;; esac
[ "$MESOS_CONTAINER_ID" = hooked ] || { echo "MESOS_CONTAINER_ID=$MESOS_CONTAINER_ID" >&2; exit 1; }
[ -d "$MESOS_SANDBOX" ] || { echo "no sandbox $MESOS_SANDBOX" >&2; exit 1; }
echo '{"environment": {"variables": [{"name": "HOOKED", "value": "by-the-hook"}]},'
echo ' "labels": {"labels": [{"key": "k", "value": "v"}]}}'"#,
        )],
    );
    let agent = start(&dir, &[]);
    let r = agent.launch_shell("hooked", "echo \"HOOKED=$HOOKED\"", json!([]));
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    let w = agent.wait_json("hooked");
    assert_eq!(w["exit_status"], 0, "{w}");
    let out = std::fs::read_to_string(agent.sandbox("hooked").join("stdout")).unwrap();
    assert!(out.contains("HOOKED=by-the-hook"), "stdout: {out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_prelaunch_hook_fails_the_launch_with_its_stderr() {
    if !root_or_skip("prelaunch_fails") {
        return;
    }
    let dir = hooks_dir(
        "fails",
        &[(
            "prelaunch",
            "echo 'the policy forbids this task' >&2\nexit 1",
        )],
    );
    let agent = start(&dir, &[]);
    let r = agent.launch_shell("refused", "echo ran", json!([]));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("the policy forbids this task"),
        "{}",
        r.text()
    );
    // No task ever ran.
    assert_never_ran(&agent, "refused");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hanging_prelaunch_hook_is_killed_at_its_timeout() {
    if !root_or_skip("prelaunch_hangs") {
        return;
    }
    let marker = format!("sleep 6{}", std::process::id() % 1000 + 1000);
    let dir = hooks_dir("hangs", &[("prelaunch", &marker)]);
    let agent = start(&dir, &["--hooks_timeout=1secs"]);
    let t = Instant::now();
    let r = agent.launch_shell("hung", "echo ran", json!([]));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("timed out"), "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    // What the hook started was killed with it.
    Agent::eventually("the hook's sleep is gone", Duration::from_secs(10), || {
        !runs(&marker)
    });
    // The agent goes on.
    assert_eq!(agent.client().get("/health").unwrap().status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_remove_hook_runs_at_remove_with_the_id_and_sandbox() {
    if !root_or_skip("remove_hook") {
        return;
    }
    let dir = hooks_dir(
        "remove",
        &[(
            "remove",
            r#"echo "$MESOS_CONTAINER_ID $MESOS_SANDBOX" > "$(dirname "$0")/removed.$MESOS_CONTAINER_ID""#,
        )],
    );
    let agent = start(&dir, &[]);
    let r = agent.launch_shell("gone", "true", json!([]));
    assert_eq!(r.status, 200, "{}", r.text());
    agent.wait_json("gone");
    let record = dir.join("removed.gone");
    assert!(!record.exists(), "the remove hook ran before REMOVE");
    let sandbox = agent.sandbox("gone");
    assert_eq!(agent.remove("gone").status, 200);
    Agent::eventually("the remove hook ran", Duration::from_secs(20), || {
        record.exists()
    });
    let text = std::fs::read_to_string(&record).unwrap();
    assert_eq!(text.trim(), format!("gone {}", sandbox.display()));
    let _ = std::fs::remove_dir_all(&dir);
}

fn launch_with_uri(agent: &Agent, id: &str, cmd: &str, src: &Path) -> (u16, String) {
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id},
        "command": {"value": cmd, "shell": true,
                    "uris": [{"value": format!("file://{}", src.display())}]}}}));
    (r.status, r.text())
}

#[test]
fn a_postfetch_hook_runs_after_the_fetch_and_before_the_task() {
    if !root_or_skip("postfetch") {
        return;
    }
    // It sees the fetched file in the sandbox and leaves a file the task then reads.
    let dir = hooks_dir(
        "postfetch",
        &[(
            "postfetch",
            r#"[ -f "$MESOS_SANDBOX/data.txt" ] || { echo "data.txt is not fetched yet" >&2; exit 1; }
echo checked > "$MESOS_SANDBOX/hooked.txt""#,
        )],
    );
    let src = dir.join("data.txt");
    std::fs::write(&src, "payload\n").unwrap();
    let agent = start(&dir, &[]);
    let (status, text) = launch_with_uri(&agent, "fetched", "cat data.txt hooked.txt", &src);
    assert_eq!(status, 200, "{text}\n{}", agent.log_text());
    let w = agent.wait_json("fetched");
    assert_eq!(w["exit_status"], 0, "{w}");
    let out = std::fs::read_to_string(agent.sandbox("fetched").join("stdout")).unwrap();
    assert_eq!(out, "payload\nchecked\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_postfetch_hook_fails_the_launch_and_the_task_never_runs() {
    if !root_or_skip("postfetch_fails") {
        return;
    }
    let dir = hooks_dir(
        "postfetch_fails",
        &[(
            "postfetch",
            "echo 'the fetched file is not signed' >&2\nexit 3",
        )],
    );
    let src = dir.join("data.txt");
    std::fs::write(&src, "payload\n").unwrap();
    let agent = start(&dir, &[]);
    let (status, text) = launch_with_uri(&agent, "unsigned", "echo ran", &src);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("the fetched file is not signed"), "{text}");
    let w = agent.wait_json("unsigned");
    assert_ne!(w["state"], "TASK_FINISHED", "{w}");
    assert_never_ran(&agent, "unsigned");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_kill_during_the_prelaunch_hook_kills_it_and_ends_the_launch() {
    if !root_or_skip("prelaunch_killed") {
        return;
    }
    let marker = format!("sleep 7{}", std::process::id() % 1000 + 1000);
    let dir = hooks_dir("killed", &[("prelaunch", &marker)]);
    let agent = start(&dir, &[]);
    let client = agent.client();
    let body = json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "killed"}, "command": {"value": "echo ran", "shell": true}}});
    let launch = std::thread::spawn(move || {
        let r = client.post_json("/api/v1", &body).unwrap();
        (r.status, r.text())
    });
    Agent::eventually("the hook runs", Duration::from_secs(20), || runs(&marker));
    assert_eq!(agent.kill("killed", None).status, 200);
    let (status, text) = launch.join().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("destroyed while a hook ran"), "{text}");
    let w = agent.wait_json("killed");
    assert_eq!(w["state"], "TASK_KILLED", "{w}");
    Agent::eventually("the hook is killed", Duration::from_secs(10), || {
        !runs(&marker)
    });
    let _ = std::fs::remove_dir_all(&dir);
}
