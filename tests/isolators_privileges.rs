//! Issue 5, acceptance 4 and 5: capabilities, rlimits, hostname, private /dev/shm,
//! no_new_privs and seccomp, against the real kernel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{root_or_skip, Agent};
use mesolite::http::ClientResponse;
use serde_json::{json, Value};

const HELPER_C: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "add_key")) {
        long r = syscall(SYS_add_key, "user", "mltest", "v", 1, -2 /* process keyring */);
        printf("add_key errno=%d\n", r < 0 ? errno : 0);
    } else if (!strcmp(argv[1], "keyctl")) {
        long r = syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -2, 1);
        printf("keyctl errno=%d\n", r < 0 ? errno : 0);
    } else if (!strcmp(argv[1], "openmax")) {
        for (;;) {
            int fd = open("/dev/null", O_RDONLY);
            if (fd < 0) { printf("open failed errno=%d\n", errno); break; }
            printf("fd %d\n", fd);
        }
    }
    return 0;
}
"#;

/// Compiles the helper into `dir`, or says why the test is skipped.
fn helper(dir: &Path, test: &str) -> Option<PathBuf> {
    let src = dir.join("helper.c");
    let bin = dir.join("helper");
    std::fs::write(&src, HELPER_C).unwrap();
    match Command::new("cc").arg("-o").arg(&bin).arg(&src).status() {
        Ok(s) if s.success() => Some(bin),
        other => {
            eprintln!("SKIPPED {test}: cannot compile the C helper with cc: {other:?}");
            None
        }
    }
}

fn launch(
    agent: &Agent,
    id: &str,
    cmd: &str,
    container: Value,
    user: Option<&str>,
) -> ClientResponse {
    let mut command = json!({"value": cmd, "shell": true});
    if let Some(u) = user {
        command["user"] = json!(u);
    }
    agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id}, "command": command, "container": container}}))
}

/// Launches, waits, and returns (exit status, stdout, stderr).
fn run(
    agent: &Agent,
    id: &str,
    cmd: &str,
    container: Value,
    user: Option<&str>,
) -> (i64, String, String) {
    let r = launch(agent, id, cmd, container, user);
    assert_eq!(r.status, 200, "{id}: {}", r.text());
    let w = agent.wait_json(id);
    let read = |f: &str| std::fs::read_to_string(agent.sandbox(id).join(f)).unwrap_or_default();
    (
        w["exit_status"].as_i64().unwrap(),
        read("stdout"),
        read("stderr"),
    )
}

fn caps(effective: &[&str]) -> Value {
    json!({"type": "MESOS", "linux_info": {"effective_capabilities": {"capabilities": effective}}})
}

/// The CapEff line of /proc/self/status as a mask.
fn cap_eff(stdout: &str) -> u64 {
    let hex = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {stdout}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

#[test]
fn dropped_chown_cannot_chown_and_sets_are_exact() {
    if !root_or_skip("dropped_chown") {
        return;
    }
    let agent = Agent::start(&["--isolation=linux/capabilities,namespaces/pid"]);
    let cmd = "touch f && chown 65534 f";
    // As root with every capability: chown works.
    let (status, _, err) = run(&agent, "full", cmd, json!({"type": "MESOS"}), None);
    assert_eq!(status, 0, "{err}");
    // As root without CHOWN: refused.
    let kept = ["DAC_OVERRIDE", "FOWNER", "KILL", "SETUID", "SETGID"];
    let (status, _, err) = run(&agent, "nochown", cmd, caps(&kept), None);
    assert_ne!(status, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    // Root keeps exactly the chosen set, across exec.
    let (status, out, _) = run(
        &agent,
        "rootset",
        "grep Cap /proc/self/status",
        caps(&kept),
        None,
    );
    assert_eq!(status, 0);
    let want = (1 << 1) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7);
    assert_eq!(cap_eff(&out), want, "{out}");
    assert!(out.contains(&format!("CapBnd:\t{want:016x}")), "{out}");
    // So does a task that switches to another user (through the ambient set).
    let (status, out, err) = run(
        &agent,
        "userset",
        "grep Cap /proc/self/status",
        caps(&["NET_BIND_SERVICE"]),
        Some("nobody"),
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(cap_eff(&out), 1 << 10, "{out}");
    // Asking for more than the bounding set is a 400.
    let wider = json!({"linux_info": {
        "effective_capabilities": {"capabilities": ["CHOWN", "NET_RAW"]},
        "bounding_capabilities": {"capabilities": ["CHOWN"]}}});
    let r = launch(&agent, "wider", "true", wider, None);
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn ping_fails_without_net_raw() {
    if !root_or_skip("ping_net_raw") {
        return;
    }
    if Command::new("ping").arg("-V").output().is_err() {
        let installed = Command::new("apt-get")
            .args(["install", "-y", "iputils-ping"])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!("SKIPPED ping_net_raw: ping is missing and could not be installed");
            return;
        }
    }
    let agent = Agent::start(&["--isolation=linux/capabilities,namespaces/pid"]);
    let ping = "ping -c 1 -W 2 127.0.0.1";
    let (status, out, err) = run(&agent, "ping", ping, json!({"type": "MESOS"}), None);
    assert_eq!(status, 0, "ping with every capability: {out}{err}");
    let no_raw = json!({"linux_info": {"bounding_capabilities": {"capabilities":
        ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "NET_BIND_SERVICE"]}}});
    let (status, out, err) = run(&agent, "noping", ping, no_raw, None);
    assert_ne!(status, 0, "ping without NET_RAW: {out}{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

#[test]
fn flag_capabilities_apply_by_default() {
    if !root_or_skip("flag_capabilities") {
        return;
    }
    let agent = Agent::start(&[
        "--isolation=linux/capabilities",
        "--effective_capabilities=KILL",
        "--bounding_capabilities=CAP_KILL,CHOWN",
    ]);
    let (status, out, _) = run(
        &agent,
        "flags",
        "grep Cap /proc/self/status",
        json!({}),
        None,
    );
    assert_eq!(status, 0);
    assert_eq!(cap_eff(&out), 1 << 5, "{out}");
    assert!(
        out.contains(&format!("CapBnd:\t{:016x}", 1u64 | (1 << 5))),
        "{out}"
    );
    // A container cannot widen the agent's bounding set.
    let r = launch(
        &agent,
        "widen",
        "true",
        json!({"linux_info": {"bounding_capabilities": {"capabilities": ["SYS_ADMIN"]}}}),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn rlimit_nofile_64_makes_the_65th_open_fail() {
    if !root_or_skip("rlimit_nofile") {
        return;
    }
    let agent = Agent::start(&["--isolation=posix/rlimits,namespaces/pid"]);
    let limits = json!({"rlimit_info": {"rlimits": [
        {"type": "RLMT_NOFILE", "soft": 64, "hard": 64},
        {"type": "RLMT_CORE"}]}});
    let (status, out, err) = run(
        &agent,
        "ulimit",
        "ulimit -n; ulimit -c",
        limits.clone(),
        None,
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "64\nunlimited\n");
    let Some(bin) = helper(&agent.dir, "rlimit_nofile") else {
        return;
    };
    let cmd = format!("exec {} openmax", bin.display());
    let (status, out, _) = run(&agent, "openmax", &cmd, limits, None);
    assert_eq!(status, 0);
    // fds 0-63 open (64 of them), the 65th fails with EMFILE.
    assert!(out.contains("fd 63\n"), "{out}");
    assert!(!out.contains("fd 64\n"), "{out}");
    assert!(out.ends_with("open failed errno=24\n"), "{out}");
    // Without posix/rlimits the request is refused rather than run unlimited.
    let plain = Agent::start(&["--isolation=namespaces/pid"]);
    let r = launch(
        &plain,
        "x",
        "true",
        json!({"rlimit_info": {"rlimits": [
        {"type": "RLMT_NOFILE", "soft": 64, "hard": 64}]}}),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn hostname_shm_and_nnp() {
    if !root_or_skip("hostname_shm_nnp") {
        return;
    }
    let agent = Agent::start(&[
        "--isolation=namespaces/uts,namespaces/ipc,linux/nnp,namespaces/pid",
        "--default_container_shm_size=1MB",
    ]);
    let cmd = "hostname; grep ' /dev/shm ' /proc/self/mounts; grep NoNewPrivs /proc/self/status; \
               echo x > /dev/shm/mltest-shm && echo wrote";
    let (status, out, err) = run(&agent, "h", cmd, json!({"hostname": "web-1"}), None);
    assert_eq!(status, 0, "{err}");
    assert!(out.starts_with("web-1\n"), "{out}");
    assert!(
        out.contains("tmpfs /dev/shm tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("wrote"), "{out}");
    assert!(!Path::new("/dev/shm/mltest-shm").exists());
}

#[test]
fn seccomp_default_profile_blocks_keyrings_and_unconfined_does_not() {
    if !root_or_skip("seccomp_default") {
        return;
    }
    let agent = Agent::start(&["--isolation=linux/seccomp,namespaces/pid"]);
    let Some(bin) = helper(&agent.dir, "seccomp_default") else {
        return;
    };
    let cmd = format!("{0} add_key; {0} keyctl; echo ordinary", bin.display());
    let (status, out, err) = run(&agent, "filtered", &cmd, json!({}), None);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "add_key errno=1\nkeyctl errno=1\nordinary\n");
    // The same as another user (the filter then needs no_new_privs, which the child sets).
    let (status, out, err) = run(&agent, "filtered-user", &cmd, json!({}), Some("nobody"));
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "add_key errno=1\nkeyctl errno=1\nordinary\n");
    // keyctl(1) from keyutils, if present, fails the same way.
    if Command::new("keyctl").arg("--version").output().is_ok() {
        let (status, _, err) = run(&agent, "keyctl-cli", "keyctl show @s", json!({}), None);
        assert_ne!(status, 0);
        assert!(err.contains("Operation not permitted"), "{err}");
    } else {
        eprintln!(
            "NOTE: keyctl(1) missing (apt-get install keyutils); checked with the C helper only"
        );
    }
    let unconfined = json!({"linux_info": {"seccomp": {"unconfined": true}}});
    let (status, out, err) = run(&agent, "unconfined", &cmd, unconfined, None);
    assert_eq!(status, 0, "{err}");
    assert!(!out.contains("errno=1\n"), "{out}");
    assert!(out.contains("add_key errno=0"), "{out}");
}

#[test]
fn seccomp_profiles_from_the_config_dir() {
    if !root_or_skip("seccomp_profiles") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Docker format: deny mkdir with EACCES, allow the rest.
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]});
    std::fs::write(dir.join("nomkdir.json"), profile.to_string()).unwrap();
    let agent = Agent::start(&[
        "--isolation=linux/seccomp,namespaces/pid",
        &format!("--seccomp_config_dir={}", dir.display()),
    ]);
    let chosen = json!({"linux_info": {"seccomp": {"profile_name": "nomkdir.json"}}});
    let (status, _, err) = run(&agent, "nomkdir", "mkdir d", chosen, None);
    assert_ne!(status, 0);
    assert!(err.contains("Permission denied"), "{err}");
    let (status, _, err) = run(&agent, "default", "mkdir d", json!({}), None);
    assert_eq!(status, 0, "{err}");
    let r = launch(
        &agent,
        "unknown",
        "true",
        json!({"linux_info": {"seccomp": {"profile_name": "nope.json"}}}),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    drop(agent);

    // The same profile as the agent's default.
    let agent = Agent::start(&[
        "--isolation=linux/seccomp",
        &format!("--seccomp_config_dir={}", dir.display()),
        "--seccomp_profile_name=nomkdir.json",
    ]);
    let (status, _, err) = run(&agent, "flagdefault", "mkdir d", json!({}), None);
    assert_ne!(status, 0);
    assert!(err.contains("Permission denied"), "{err}");
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_edited_seccomp_profile_takes_effect_at_sighup_only() {
    if !root_or_skip("seccomp_sighup") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-seccomp-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = |errno: u32| {
        json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno}]})
        .to_string()
    };
    std::fs::write(dir.join("p.json"), profile(13)).unwrap();
    let agent = Agent::start(&[
        "--isolation=linux/seccomp,namespaces/pid",
        &format!("--seccomp_config_dir={}", dir.display()),
    ]);
    let chosen = json!({"linux_info": {"seccomp": {"profile_name": "p.json"}}});
    let (status, _, err) = run(&agent, "first", "mkdir d", chosen.clone(), None);
    assert_ne!(status, 0);
    assert!(err.contains("Permission denied"), "{err}");
    // Edited: the compiled profile is kept until SIGHUP.
    std::fs::write(dir.join("p.json"), profile(1)).unwrap();
    let (_, _, err) = run(&agent, "cached", "mkdir d", chosen.clone(), None);
    assert!(err.contains("Permission denied"), "{err}");
    let pid = agent.child.as_ref().unwrap().id() as i32;
    // SAFETY: kill with our child's pid.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    Agent::eventually(
        "profiles compiled again",
        std::time::Duration::from_secs(10),
        || agent.log_text().contains("seccomp profiles compiled again"),
    );
    let (status, _, err) = run(&agent, "edited", "mkdir d", chosen.clone(), None);
    assert_ne!(status, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    // Removed, then SIGHUP: the next launch naming it is refused, saying why.
    std::fs::remove_file(dir.join("p.json")).unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    Agent::eventually(
        "profile dropped",
        std::time::Duration::from_secs(10),
        || {
            agent
                .log_text()
                .contains("seccomp profile 'p.json' dropped")
        },
    );
    let r = launch(&agent, "gone", "true", chosen, None);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("p.json"), "{}", r.text());
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}
