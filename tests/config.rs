//! Acceptance 5: a conf file, an env var and a flag for the same setting: the flag wins; a bad
//! conf line is reported with its line number. Also SIGHUP reload and `--help`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{root_or_skip, Agent};

fn grace(agent: &Agent) -> String {
    let flags = agent.client().get("/flags").unwrap().json().unwrap();
    flags["flags"]["executor_shutdown_grace_period"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn flag_beats_env_beats_file() {
    if !root_or_skip("precedence") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("agent.conf");
    std::fs::write(&conf, "# test\nexecutor_shutdown_grace_period = 7secs\n").unwrap();
    let conf_flag = format!("--config={}", conf.display());
    let env = [("MESOLITE_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "8secs")];

    let file_only = Agent::start(&[&conf_flag]);
    assert_eq!(grace(&file_only), "7secs");
    drop(file_only);
    let file_and_env = Agent::start_with_env(&[&conf_flag], &env);
    assert_eq!(grace(&file_and_env), "8secs");
    drop(file_and_env);
    let all = Agent::start_with_env(
        &[&conf_flag, "--executor_shutdown_grace_period=9secs"],
        &env,
    );
    assert_eq!(grace(&all), "9secs");
    // GET_FLAGS answers the same.
    let v1 = all
        .call(serde_json::json!({"type": "GET_FLAGS"}))
        .json()
        .unwrap();
    let flags = v1["get_flags"]["flags"].as_array().unwrap();
    assert!(flags
        .iter()
        .any(|f| f["name"] == "executor_shutdown_grace_period" && f["value"] == "9secs"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_conf_line_and_unknown_flag_exit_non_zero_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("mltest-badconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("agent.conf");
    std::fs::write(
        &conf,
        "# fine\nwork_dir = /tmp/x\nthis line has no equals sign\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(["agent", &format!("--config={}", conf.display())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3", conf.display())), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(["agent", "--wrk_dir=/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrk_dir"));
    let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(["agent", "--launcher=lxc"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lxc"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_lists_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(["agent", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "work_dir",
        "runtime_dir",
        "socket",
        "socket_group",
        "isolation",
        "launcher",
        "cgroups_root",
        "cgroups_enable_cfs",
        "executor_shutdown_grace_period",
        "switch_user",
        "resources",
    ] {
        assert!(help.contains(flag), "--help misses {flag}");
    }
}

#[test]
fn sighup_reloads_the_log_level_and_logs_the_change() {
    if !root_or_skip("sighup") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("agent.conf");
    std::fs::write(&conf, "logging_level = INFO\n").unwrap();
    // Not on the command line (the common helper sets DEBUG there, which would win).
    let mut agent = Agent::start(&[&format!("--config={}", conf.display())]);
    let _ = &mut agent;
    std::fs::write(&conf, "logging_level = WARNING\n").unwrap();
    let pid = agent.child.as_ref().unwrap().id() as i32;
    // SAFETY: kill with our child's pid.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    Agent::eventually("reload logged", Duration::from_secs(10), || {
        agent.log_text().contains("logging_level")
    });
    assert_eq!(agent.client().get("/health").unwrap().status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
