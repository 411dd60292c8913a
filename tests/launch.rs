//! Acceptance 1, 2 and 4 of the core agent, against the real kernel: exit statuses, KILL,
//! idempotent LAUNCH, launch failures, pid namespace, killing double-forked processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{resources, root_or_skip, Agent};
use serde_json::json;

#[test]
fn exit_42_gives_raw_status_10752_and_task_failed() {
    if !root_or_skip("exit_42") {
        return;
    }
    let agent = Agent::start(&[]);
    let r = agent.launch_shell("exit42", "exit 42", resources(0.1, 32.0));
    assert_eq!(r.status, 200, "{}", r.text());
    let w = agent.wait_json("exit42");
    assert_eq!(w["exit_status"], 10752);
    assert_eq!(w["state"], "TASK_FAILED");
    let ok = agent.launch_shell("exit0", "true", json!([]));
    assert_eq!(ok.status, 200);
    let w = agent.wait_json("exit0");
    assert_eq!(w["exit_status"], 0);
    assert_eq!(w["state"], "TASK_FINISHED");
}

#[test]
fn kill_gives_9_and_task_killed_and_second_launch_gives_202() {
    if !root_or_skip("kill") {
        return;
    }
    let agent = Agent::start(&[]);
    assert_eq!(
        agent
            .launch_shell("sleeper", "sleep 1000", resources(0.1, 32.0))
            .status,
        200
    );
    let again = agent.launch_shell("sleeper", "sleep 1000", resources(0.1, 32.0));
    assert_eq!(again.status, 202, "{}", again.text());
    let c = agent.container("sleeper").unwrap();
    assert_eq!(c["state"], "RUNNING");
    let init = c["container_status"]["executor_pid"].as_i64().unwrap();
    assert!(init > 1);
    // The init is not listed as another `mesolite agent` (pkill -f would catch it).
    let cmdline = std::fs::read(format!("/proc/{init}/cmdline")).unwrap();
    let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(shown.starts_with("mesolite-init sleeper"), "{shown:?}");
    let rm = agent.remove("sleeper");
    assert_eq!(
        rm.status,
        500,
        "REMOVE of a running container: {}",
        rm.text()
    );
    assert_eq!(agent.kill("sleeper", None).status, 200);
    let w = agent.wait_json("sleeper");
    assert_eq!(w["exit_status"], 9);
    assert_eq!(w["state"], "TASK_KILLED");
    assert_eq!(agent.container("sleeper").unwrap()["state"], "TERMINATED");
    assert_eq!(agent.remove("sleeper").status, 200);
    assert!(agent.container("sleeper").is_none());
    assert!(!agent.sandbox("sleeper").exists());
}

#[test]
fn sigterm_through_kill_reaches_the_task() {
    if !root_or_skip("sigterm") {
        return;
    }
    let agent = Agent::start(&[]);
    let cmd = "trap 'echo got-term; exit 3' TERM; while true; do sleep 0.05; done";
    assert_eq!(agent.launch_shell("trapper", cmd, json!([])).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(agent.kill("trapper", Some(15)).status, 200);
    let w = agent.wait_json("trapper");
    assert_eq!(w["exit_status"], 3 << 8);
    assert_eq!(w["state"], "TASK_KILLED");
    let out = std::fs::read_to_string(agent.sandbox("trapper").join("stdout")).unwrap();
    assert!(out.contains("got-term"), "{out}");
}

#[test]
fn missing_binary_is_400_and_a_terminated_container_with_the_reason() {
    if !root_or_skip("missing_binary") {
        return;
    }
    let agent = Agent::start(&[]);
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "nobin"},
        "command": {"value": "/nonexistent/binary", "shell": false}}}));
    assert_eq!(r.status, 400);
    assert!(
        r.text()
            .contains("Failed to execute '/nonexistent/binary': No such file or directory"),
        "{}",
        r.text()
    );
    let w = agent.wait_json("nobin");
    assert_eq!(w["state"], "TASK_FAILED");
    assert_eq!(w["reason"], "REASON_CONTAINER_LAUNCH_FAILED");
    assert!(w["message"]
        .as_str()
        .unwrap()
        .contains("No such file or directory"));
    assert_eq!(agent.container("nobin").unwrap()["state"], "TERMINATED");
    assert!(
        agent.sandbox("nobin").join("stdout").exists(),
        "the sandbox is kept until REMOVE"
    );
    // A bare name is searched in PATH; one that is nowhere fails the same way.
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "nobin2"}, "command": {"value": "no-such-program-xyz", "shell": false}}}));
    assert_eq!(r.status, 400);
    assert_eq!(agent.remove("nobin").status, 200);
}

#[test]
fn arguments_environment_sandbox_and_stdio() {
    if !root_or_skip("arguments") {
        return;
    }
    let agent = Agent::start(&[]);
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "args"},
        "command": {"value": "/bin/sh", "shell": false,
                    "arguments": ["sh", "-c", "echo \"$0 $MODE $MESOS_SANDBOX $(pwd)\"; echo err >&2", "zero"],
                    "environment": {"variables": [{"name": "MODE", "type": "VALUE", "value": "prod"}]}}}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("args")["exit_status"], 0);
    let sb = agent.sandbox("args");
    let out = std::fs::read_to_string(sb.join("stdout")).unwrap();
    assert_eq!(
        out.trim(),
        format!("zero prod {} {}", sb.display(), sb.display())
    );
    assert_eq!(
        std::fs::read_to_string(sb.join("stderr")).unwrap().trim(),
        "err"
    );
}

#[test]
fn unknown_ids_give_404_on_every_call() {
    if !root_or_skip("unknown_ids") {
        return;
    }
    let agent = Agent::start(&[]);
    assert_eq!(agent.wait("ghost").status, 404);
    assert_eq!(agent.kill("ghost", None).status, 404);
    assert_eq!(agent.remove("ghost").status, 404);
}

#[test]
fn pid_namespace_hides_host_processes() {
    if !root_or_skip("pid_namespace") {
        return;
    }
    let agent = Agent::start(&["--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid"]);
    let r = agent.launch_shell(
        "ps",
        "ls /proc | grep -c '^[0-9]'; ps -e -o pid= | wc -l; echo pid=$$",
        json!([]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("ps")["exit_status"], 0);
    let out = std::fs::read_to_string(agent.sandbox("ps").join("stdout")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let in_proc: usize = lines[0].trim().parse().unwrap();
    let in_ps: usize = lines[1].trim().parse().unwrap();
    // init + sh + (ls|grep) or (ps|wc): never the host's dozens of processes.
    assert!(in_proc <= 5, "processes visible in /proc: {in_proc}\n{out}");
    assert!(in_ps <= 5, "processes listed by ps: {in_ps}\n{out}");
    assert_eq!(lines[2], "pid=2", "the task is pid 2 under our init: {out}");
    let host = std::fs::read_dir("/proc").unwrap().filter(|e| {
        e.as_ref()
            .map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .chars()
                    .all(|c| c.is_ascii_digit())
            })
            .unwrap_or(false)
    });
    assert!(host.count() > in_proc);
}

#[test]
fn kill_leaves_no_double_forked_process() {
    if !root_or_skip("double_fork") {
        return;
    }
    let agent = Agent::start(&[]);
    let marker = format!("sleep 7{}", std::process::id() % 1000 + 1000);
    let cmd = format!("(setsid sh -c '{marker}' &) ; ( ( {marker} & ) & ) ; {marker}");
    assert_eq!(
        agent
            .launch_shell("forker", &cmd, resources(0.1, 32.0))
            .status,
        200
    );
    let count = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    Agent::eventually("3 background sleeps", Duration::from_secs(10), || {
        count() >= 3
    });
    assert_eq!(agent.kill("forker", None).status, 200);
    let w = agent.wait_json("forker");
    assert_eq!(w["exit_status"], 9);
    assert_eq!(count(), 0, "processes left after KILL");
    // The deleter removes the cgroup right after the WAIT is answered.
    let cg = agent.v1_cgroup("memory", "forker");
    Agent::eventually("cgroup removed", Duration::from_secs(10), || !cg.exists());
}

#[test]
fn posix_launcher_runs_and_kills_without_namespaces() {
    if !root_or_skip("posix_launcher") {
        return;
    }
    let agent = Agent::start(&["--launcher=posix", "--isolation=posix/cpu,posix/mem"]);
    assert_eq!(agent.launch_shell("p", "sleep 1000", json!([])).status, 200);
    let stats = agent
        .client()
        .get("/monitor/statistics")
        .unwrap()
        .json()
        .unwrap();
    let s = &stats[0]["statistics"];
    assert!(s["mem_rss_bytes"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(agent.kill("p", None).status, 200);
    assert_eq!(agent.wait_json("p")["exit_status"], 9);
}

#[test]
fn command_user_runs_the_task_as_that_user_and_unknown_users_are_400() {
    if !root_or_skip("command_user") {
        return;
    }
    let agent = Agent::start(&[]);
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "asnobody"},
        "command": {"value": "id -u; id -g; touch mine", "shell": true, "user": "nobody"}}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("asnobody")["exit_status"], 0);
    let sb = agent.sandbox("asnobody");
    let out = std::fs::read_to_string(sb.join("stdout")).unwrap();
    assert_eq!(out.lines().next(), Some("65534"), "{out}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(sb.join("stdout")).unwrap().uid(), 65534);
    assert_eq!(std::fs::metadata(sb.join("mine")).unwrap().uid(), 65534);
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "ghostuser"},
        "command": {"value": "true", "user": "no-such-user-xyz"}}}));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("no-such-user-xyz"), "{}", r.text());
    assert!(agent.container("ghostuser").is_none());
}

#[test]
fn the_agent_lowers_its_oom_score_and_containers_get_the_default() {
    if !root_or_skip("oom_score_adj") {
        return;
    }
    let agent = Agent::start(&[]);
    let pid = agent.child.as_ref().unwrap().id();
    let own: i32 = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if own != -500 {
        // Some sandboxes forbid negative values even to root: then the agent says so.
        assert!(
            agent
                .log_text()
                .contains("Failed to lower the agent's oom_score_adj"),
            "{own}"
        );
        eprintln!("NOTE oom_score_adj: this kernel refused -500 to the agent ({own})");
    }
    assert_eq!(
        agent
            .launch_shell("oom", "cat /proc/self/oom_score_adj", json!([]))
            .status,
        200
    );
    assert_eq!(agent.wait_json("oom")["exit_status"], 0);
    assert_eq!(
        std::fs::read_to_string(agent.sandbox("oom").join("stdout"))
            .unwrap()
            .trim(),
        "0"
    );
}

/// An agent run above the default CPU priority (the systemd unit's `Nice=-5`): its tasks get
/// the default back (nice 0), as they get the default oom_score_adj.
#[test]
fn containers_of_an_agent_above_the_default_priority_get_the_default() {
    if !root_or_skip("nice") {
        return;
    }
    let agent = Agent::start(&[]);
    let pid = agent.child.as_ref().unwrap().id();
    let renice = std::process::Command::new("renice")
        .args(["-n", "-5", "-p", &pid.to_string()])
        .output()
        .unwrap();
    assert!(renice.status.success(), "{renice:?}");
    assert_eq!(common::nice_of(pid as i32), -5);
    let r = agent.launch_shell("nice", "cat /proc/self/stat", json!([]));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("nice")["exit_status"], 0);
    let task = std::fs::read_to_string(agent.sandbox("nice").join("stdout")).unwrap();
    assert_eq!(common::nice_in_stat(&task), 0, "{task}");
}

/// The agent blocks every signal around the clone (so that none of its handlers runs in the
/// child) and the child resets them: a task starts with nothing blocked or ignored, under both
/// launchers, and the agent's own mask is back as it was.
#[test]
fn tasks_start_with_no_blocked_or_ignored_signals() {
    if !root_or_skip("signal_state") {
        return;
    }
    for flags in [
        &["--launcher=linux"][..],
        &["--launcher=posix", "--isolation=posix/cpu,posix/mem"],
    ] {
        let launcher = flags[0];
        let agent = Agent::start(flags);
        let pid = agent.child.as_ref().unwrap().id();
        let agent_mask = || {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap()
                .lines()
                .find(|l| l.starts_with("SigBlk:"))
                .map(str::to_string)
                .unwrap()
        };
        let before = agent_mask();
        let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": "sigs"},
            "command": {"value": "/bin/grep", "shell": false,
                        "arguments": ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]}}}));
        assert_eq!(r.status, 200, "{launcher}: {}", r.text());
        assert_eq!(agent.wait_json("sigs")["exit_status"], 0, "{launcher}");
        let out = std::fs::read_to_string(agent.sandbox("sigs").join("stdout")).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"],
            "{launcher}: {out}"
        );
        assert_eq!(agent_mask(), before, "{launcher}");
    }
}
