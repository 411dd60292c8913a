//! Issue 15's statistics against the real kernel (cgroup v1 here): memory pressure counters
//! (cgroups/mem), perf counters (cgroups/perf_event) and I/O counters (cgroups/blkio) in
//! `/monitor/statistics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{resources, root_or_skip, Agent};
use serde_json::{json, Value};

fn counter(stats: &Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} missing: {stats}"))
}

#[test]
fn memory_pressure_past_the_limit_counts_and_counts_again_after_a_restart() {
    if !root_or_skip("memory_pressure") {
        return;
    }
    let agent = Agent::start(&["--isolation=cgroups/cpu,cgroups/mem,cgroups/pids"]);
    // Page cache written without end into 32 MB: the cgroup reclaims all the time.
    let cmd = "while :; do dd if=/dev/zero of=big bs=1048576 count=100 2>/dev/null; done";
    let r = agent.launch_shell("hog", cmd, resources(0.5, 32.0));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut stats = Value::Null;
    Agent::eventually("low pressure counted", Duration::from_secs(30), || {
        stats = agent.statistics("hog");
        stats["mem_low_pressure_counter"].as_u64().unwrap_or(0) > 0
    });
    let low = counter(&stats, "mem_low_pressure_counter");
    assert!(
        counter(&stats, "mem_medium_pressure_counter") <= low,
        "{stats}"
    );
    assert!(
        counter(&stats, "mem_critical_pressure_counter") <= low,
        "{stats}"
    );
    assert_eq!(stats["mem_soft_limit_bytes"], 32 * 1024 * 1024);

    // A re-adopted container is listened to again, from zero (as Mesos's counters restart).
    let mut agent = agent;
    agent.stop();
    let agent = agent.restart();
    Agent::eventually(
        "counting again after recovery",
        Duration::from_secs(30),
        || {
            let s = agent.statistics("hog");
            s["mem_low_pressure_counter"].as_u64().unwrap_or(0) > 0
        },
    );
    assert!(
        agent.log_text().contains("Recover") || agent.log_text().contains("recover"),
        "the container was recovered"
    );
    assert_eq!(agent.kill("hog", None).status, 200);
}

#[test]
fn perf_counts_a_busy_task_and_next_to_nothing_for_a_sleeping_one() {
    if !root_or_skip("perf") {
        return;
    }
    let agent = Agent::start(&[
        "--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,cgroups/perf_event",
        "--perf_events=task-clock,context-switches,page-faults",
        "--perf_interval=2secs",
        "--perf_duration=1secs",
    ]);
    // Forks and execs in a loop: CPU time, page faults and context switches all the time.
    let busy = "while :; do /bin/true; done";
    assert_eq!(agent.launch_shell("busy", busy, json!([])).status, 200);
    assert_eq!(
        agent.launch_shell("idle", "sleep 1000", json!([])).status,
        200
    );
    let (mut b, mut i) = (Value::Null, Value::Null);
    Agent::eventually("a perf sample of both", Duration::from_secs(30), || {
        b = agent.statistics("busy")["perf"].clone();
        i = agent.statistics("idle")["perf"].clone();
        b.is_object() && i.is_object()
    });
    for p in [&b, &i] {
        assert_eq!(p["duration"], 1.0, "{p}");
        assert!(p["timestamp"].as_f64().unwrap() > 1.7e9, "{p}");
        assert!(p["cycles"].is_null(), "only what was asked: {p}");
    }
    // task_clock is in milliseconds, as perf stat and Mesos report it: a busy second is
    // hundreds of them (the machine is shared, so only a generous floor).
    assert!(b["task_clock"].as_f64().unwrap() > 100.0, "{b}");
    assert!(b["page_faults"].as_u64().unwrap() > 100, "{b}");
    assert!(b["context_switches"].as_u64().unwrap() > 0, "{b}");
    assert!(i["task_clock"].as_f64().unwrap() < 5.0, "{i}");
    assert!(i["page_faults"].as_u64().unwrap() < 10, "{i}");
    assert!(i["context_switches"].as_u64().unwrap() < 10, "{i}");
    // Re-adopted containers are sampled again after an agent restart.
    let mut agent = agent;
    agent.stop();
    let agent = agent.restart();
    let before = b["timestamp"].as_f64().unwrap();
    Agent::eventually("a sample after recovery", Duration::from_secs(30), || {
        let p = agent.statistics("busy")["perf"].clone();
        p["timestamp"].as_f64().is_some_and(|t| t > before)
            && p["task_clock"].as_f64().unwrap_or(0.0) > 100.0
    });
    for id in ["busy", "idle"] {
        assert_eq!(agent.kill(id, None).status, 200);
    }
}

#[test]
fn perf_refuses_unknown_events_and_a_duration_over_the_interval() {
    if !root_or_skip("perf_flags") {
        return;
    }
    for (flags, says) in [
        (
            ["--perf_events=task-clock,bogus", "--perf_duration=1secs"],
            "bogus",
        ),
        (
            ["--perf_events=task-clock", "--perf_duration=90secs"],
            "interval",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
            .args([
                "agent",
                "--isolation=cgroups/perf_event",
                "--socket=/nonexistent/x.sock",
            ])
            .args(flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?} accepted");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}

/// A loop device made for the test (a new one, so its request queue has never had a throttle
/// rule: what a fresh machine's disks look like), with ext4 on it mounted at `mnt`.
struct LoopDisk {
    number: i32,
    mnt: PathBuf,
    image: PathBuf,
}

const LOOP_CTL_ADD: libc::c_ulong = 0x4C80;
const LOOP_CTL_REMOVE: libc::c_ulong = 0x4C81;

impl LoopDisk {
    fn make(dir: &Path) -> Option<LoopDisk> {
        let ctl = std::fs::File::open("/dev/loop-control").ok()?;
        let number = 100 + i32::try_from(std::process::id() % 800).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: an ioctl on an open fd with an integer argument.
        let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_ADD, number) };
        if n < 0 {
            return None;
        }
        let disk = LoopDisk {
            number,
            mnt: dir.join("mnt"),
            image: dir.join("disk.img"),
        };
        let dev = format!("/dev/loop{number}");
        let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        std::fs::create_dir_all(&disk.mnt).unwrap();
        assert!(ok(Command::new("truncate")
            .args(["-s", "64M"])
            .arg(&disk.image)));
        assert!(ok(Command::new("mkfs.ext4").arg("-q").arg(&disk.image)));
        assert!(ok(Command::new("losetup").arg(&dev).arg(&disk.image)));
        assert!(ok(Command::new("mount").arg(&dev).arg(&disk.mnt)));
        Some(disk)
    }

    fn dev(&self) -> String {
        std::fs::read_to_string(format!("/sys/block/loop{}/dev", self.number))
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        let _ = Command::new("losetup")
            .args(["-d", &format!("/dev/loop{}", self.number)])
            .status();
        if let Ok(ctl) = std::fs::File::open("/dev/loop-control") {
            use std::os::fd::AsRawFd;
            // SAFETY: an ioctl on an open fd with an integer argument.
            unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_REMOVE, self.number) };
        }
        let _ = std::fs::remove_file(&self.image);
    }
}

/// The Write and Total bytes of device `dev` in a statistics' `blkio_statistics.throttling`.
fn written(stats: &Value, dev: &str) -> Option<(u64, u64)> {
    let (major, minor) = dev.split_once(':')?;
    let (major, minor): (u64, u64) = (major.parse().ok()?, minor.parse().ok()?);
    let entry = stats["blkio_statistics"]["throttling"]
        .as_array()?
        .iter()
        .find(|e| e["device"]["major_number"] == major && e["device"]["minor_number"] == minor)?
        .clone();
    let op = |name: &str| {
        entry["io_service_bytes"]
            .as_array()?
            .iter()
            .find(|v| v["op"] == name)?["value"]
            .as_u64()
    };
    Some((op("WRITE")?, op("TOTAL")?))
}

#[test]
fn blkio_counts_ten_synced_mebibytes_on_a_disk_no_rule_ever_touched() {
    if !root_or_skip("blkio") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-blkio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some(disk) = LoopDisk::make(&dir) else {
        println!("SKIP: no loop devices (/dev/loop-control)");
        return;
    };
    let dev = disk.dev();
    let root_stats =
        std::fs::read_to_string("/sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes").unwrap();
    assert!(
        !root_stats.contains(&format!("{dev} ")),
        "a new disk has no throttle accounting yet: {root_stats}"
    );
    let agent = Agent::start(&["--isolation=cgroups/cpu,cgroups/mem,cgroups/blkio"]);
    let target = disk.mnt.join("out");
    // O_DIRECT as well as the fsync: on v1 what the kernel's flusher writes back of a buffered
    // write is charged to the root cgroup, and with other tests dirtying memory it takes some.
    let cmd = format!(
        "while [ ! -e go ]; do sleep 0.1; done; \
         dd if=/dev/zero of={} bs=1048576 count=10 oflag=direct conv=fsync && touch done && sleep 1000",
        target.display()
    );
    assert_eq!(agent.launch_shell("io", &cmd, json!([])).status, 200);
    let before = agent.statistics("io");
    assert!(
        before["blkio_statistics"]["throttling"].is_array(),
        "{before}"
    );
    let (w0, _) = written(&before, &dev).unwrap_or((0, 0));
    std::fs::write(agent.sandbox("io").join("go"), "").unwrap();
    Agent::eventually("dd done", Duration::from_secs(60), || {
        agent.sandbox("io").join("done").exists()
    });
    let after = agent.statistics("io");
    let (w1, t1) = written(&after, &dev).unwrap_or_else(|| panic!("{dev} missing: {after}"));
    assert!(w1 >= w0 + 10 * 1024 * 1024, "{w0} -> {w1}: {after}");
    assert!(t1 >= w1);
    // The device total (the entry without `device`) comes last and covers it.
    let list = after["blkio_statistics"]["throttling"].as_array().unwrap();
    let total = list.last().unwrap();
    assert!(total["device"].is_null(), "{after}");
    assert!(
        total["io_service_bytes"][0]["value"].as_u64().unwrap() >= w1,
        "{after}"
    );
    // No rule was left behind: nothing is limited.
    let rules = std::fs::read_to_string(
        Path::new("/sys/fs/cgroup/blkio")
            .join(&agent.cgroups_root)
            .join("blkio.throttle.read_bps_device"),
    )
    .unwrap();
    assert!(rules.trim().is_empty(), "{rules}");
    assert_eq!(agent.kill("io", None).status, 200);
    drop(agent);
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}
