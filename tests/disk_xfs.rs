//! disk/xfs on this host: the agent refuses to start where project quotas cannot work. The
//! quotas themselves are tested in a guest whose kernel has XFS quota support
//! (tests/guest/xfs.sh, run by scripts/test.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::root_or_skip;

/// Starts an agent that must fail at start-up; returns its stderr.
fn start_failing(dir: &Path, work_dir: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .arg("agent")
        .arg(format!("--work_dir={}", work_dir.display()))
        .arg(format!("--runtime_dir={}", dir.join("run").display()))
        .arg(format!("--socket={}", dir.join("agent.sock").display()))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "the agent exited 0");
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the agent started with {extra:?} on {}", work_dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    err
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(format!("/var/tmp/mltest-xfs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn refuses_a_work_dir_not_on_xfs() {
    if !root_or_skip("xfs_not_xfs") {
        return;
    }
    let dir = scratch("plain");
    let err = start_failing(&dir, &dir.join("work"), &["--isolation=disk/xfs"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains("disk/xfs needs --work_dir on XFS"), "{err}");
}

#[test]
fn refuses_xfs_without_project_quotas() {
    if !root_or_skip("xfs_no_quota") {
        return;
    }
    let mkfs = Command::new("mkfs.xfs").arg("-V").output();
    if !mkfs.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED xfs_no_quota: mkfs.xfs missing (apt-get install xfsprogs)");
        return;
    }
    let dir = scratch("noquota");
    let img = dir.join("xfs.img");
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::File::create(&img)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    assert!(ok(Command::new("mkfs.xfs").args(["-q", "-f"]).arg(&img)));
    // Mounted without prjquota (on this host's kernel, which has no XFS quotas, that is the
    // only way it mounts at all).
    if !ok(Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(&mnt))
    {
        eprintln!("SKIPPED xfs_no_quota: cannot loop-mount XFS here");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let err = start_failing(&dir, &mnt.join("work"), &["--isolation=disk/xfs"]);
    let _ = Command::new("umount").arg(&mnt).status();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains("project quotas are not enabled"), "{err}");
}

#[test]
fn refuses_a_bad_project_range_and_disk_du_with_disk_xfs() {
    let dir = scratch("flags");
    let err = start_failing(
        &dir,
        &dir.join("work"),
        &["--isolation=disk/xfs", "--xfs_project_range=[10-5]"],
    );
    assert!(err.contains("xfs_project_range"), "{err}");
    let err = start_failing(&dir, &dir.join("work"), &["--isolation=disk/xfs,disk/du"]);
    assert!(err.contains("exclusive"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
