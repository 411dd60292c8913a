//! Issue 11: files the agent reads whole (conf files, checkpoints, store manifests) are opened
//! without blocking and without following links out of their directory, checked to be regular
//! files and read with a bound: a FIFO, a link to `/dev/zero` or a huge file is refused with
//! a clear error, never hangs the agent or grows it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use serde_json::json;

fn mkfifo(path: &std::path::Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
}

#[test]
fn a_conf_file_that_is_a_fifo_fails_the_start_at_once() {
    let dir = std::env::temp_dir().join(format!("mltest-conffifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("agent.conf");
    mkfifo(&conf);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args([
            "agent".to_string(),
            format!("--config={}", conf.display()),
            format!("--work_dir={}", dir.join("work").display()),
            format!("--socket={}", dir.join("s.sock").display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Generous: it only has to not hang (before, it blocked in open(2) for a writer).
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent hangs on a FIFO conf file");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success());
    assert!(err.contains(&conf.display().to_string()), "{err}");
    assert!(err.contains("not a regular file (a FIFO)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hostile_checkpoints_neither_hang_nor_grow_recovery() {
    if !root_or_skip("hostile_checkpoints") {
        return;
    }
    let mut agent = Agent::start(&[]);
    for id in ["fifo", "shadow", "huge"] {
        let r = agent.launch_shell(id, "sleep 600", json!(null));
        assert_eq!(r.status, 200, "{id}: {}", r.text());
    }
    agent.sigkill();
    let meta = agent.work_dir.join("meta/containers");
    let launch = |id: &str| meta.join(id).join("launch.json");
    std::fs::remove_file(launch("fifo")).unwrap();
    mkfifo(&launch("fifo"));
    std::fs::remove_file(launch("shadow")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", launch("shadow")).unwrap();
    // A sparse 1 TiB pid record.
    let pid = agent.runtime_dir.join("containers/huge/pid.json");
    let f = std::fs::OpenOptions::new().write(true).open(&pid).unwrap();
    f.set_len(1 << 40).unwrap();
    drop(f);
    // `restart` itself fails the test if /health does not answer within 20 s.
    let agent = agent.restart();
    let log = agent.log_text();
    assert!(log.contains("not a regular file (a FIFO)"), "{log}");
    assert!(log.contains("leads out of its directory"), "{log}");
    assert!(log.contains("larger than"), "{log}");
    // Each was destroyed as a broken checkpoint (their tasks killed), the agent serves on.
    for id in ["fifo", "shadow", "huge"] {
        let w = agent.wait_json(id);
        assert_eq!(w["state"], "TASK_FAILED", "{id}: {w}");
    }
    let rss = std::fs::read_to_string(format!(
        "/proc/{}/status",
        agent.child.as_ref().unwrap().id()
    ))
    .unwrap();
    let hwm: u64 = rss
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(hwm < 64 * 1024, "peak RSS {hwm} kB");
}

#[test]
fn a_store_manifest_linking_to_dev_zero_is_refused() {
    if !root_or_skip("manifest_dev_zero") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-appczero-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let id = mesolite::provisioner::appc::ImageId::of_bytes(b"zero").to_string();
    let image = dir.join("images").join(&id);
    std::fs::create_dir_all(image.join("rootfs")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", image.join("manifest")).unwrap();
    let agent = Agent::start(&[
        "--image_providers=docker,appc",
        &format!("--appc_store_dir={}", dir.display()),
    ]);
    let log = agent.log_text();
    assert!(
        log.contains(&format!("image {id} left out")) && log.contains("leads out of its directory"),
        "{log}"
    );
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}
