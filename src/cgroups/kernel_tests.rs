//! Tests against the real kernel at /sys/fs/cgroup, under a root named `mesolite-test-<pid>`.
//! They need root and a memory controller, and skip (saying why) otherwise. They share the
//! kernel's cgroups, so a static mutex runs them one at a time.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::*;
use crate::stats::ResourceStatistics;

static KERNEL: Mutex<()> = Mutex::new(());

/// The detected host layout plus a cleanup of everything the test created, even on panic.
struct Host {
    cgroups: Cgroups,
    ids: Vec<String>,
    _lock: MutexGuard<'static, ()>,
}

impl Host {
    fn new(test: &str) -> Option<Self> {
        let lock = KERNEL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if crate::sys::user::euid() != 0 {
            eprintln!("skipping {test}: not root");
            return None;
        }
        let v1_memory = Path::new("/sys/fs/cgroup/memory/memory.stat").exists();
        let v2_memory = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|text| text.split_whitespace().any(|c| c == "memory"));
        if !v1_memory && !v2_memory {
            eprintln!("skipping {test}: /sys/fs/cgroup has no memory controller");
            return None;
        }
        let cfg = CgroupsConfig {
            root: format!("mesolite-test-{}", std::process::id()),
            ..CgroupsConfig::default()
        };
        let cgroups = Cgroups::detect(&cfg, &Controller::CORE).unwrap();
        eprintln!("{test}: {}", cgroups.describe());
        Some(Self {
            cgroups,
            ids: Vec::new(),
            _lock: lock,
        })
    }

    fn create(&mut self, id: &str) -> ContainerCgroup {
        self.ids.push(id.to_owned());
        self.cgroups.create(id).unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for id in &self.ids {
            let c = self.cgroups.open(id);
            let _ = kill_until_empty(&c);
            let _ = c.destroy();
        }
        for dir in self.cgroups.root_dirs() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// What the agent does on destroy: kill, re-check on a timer, kill again.
fn kill_until_empty(c: &ContainerCgroup) -> Result<Duration, String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        c.kill_all().map_err(|err| err.to_string())?;
        if c.is_empty().map_err(|err| err.to_string())? {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("still not empty after 10 s: {:?}", c.pids()))
}

/// `sh -c script` that waits for a line on stdin first, so it can be attached before it acts.
fn gated_shell(script: &str) -> (Child, i32) {
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("read _go; {script}"))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    (child, pid)
}

fn release(child: &mut Child) {
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"go\n").unwrap();
    stdin.flush().unwrap();
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap()
        .trim()
        .to_owned()
}

fn dir_with(c: &ContainerCgroup, file: &str) -> PathBuf {
    c.dirs()
        .into_iter()
        .find(|dir| dir.join(file).exists())
        .unwrap_or_else(|| panic!("no dir of {:?} has {file}", c.dirs()))
        .to_path_buf()
}

#[test]
fn test_kernel_limits_attach_usage_kill_destroy() {
    let Some(mut host) = Host::new("test_kernel_limits_attach_usage_kill_destroy") else {
        return;
    };
    let c = host.create("c1");
    assert!(host.cgroups.list().unwrap().contains(&"c1".to_owned()));

    c.set_cpu(0.5, true).unwrap();
    c.set_memory(64 << 20).unwrap();
    c.set_pids_max(Some(64)).unwrap();
    match host.cgroups.version() {
        Version::V1 => {
            let cpu = dir_with(&c, "cpu.shares");
            assert_eq!(read(&cpu, "cpu.shares"), "512");
            assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
            assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
            let memory = dir_with(&c, "memory.limit_in_bytes");
            assert_eq!(read(&memory, "memory.limit_in_bytes"), "67108864");
            assert_eq!(read(&memory, "memory.soft_limit_in_bytes"), "67108864");
            assert_eq!(read(&dir_with(&c, "pids.max"), "pids.max"), "64");
        }
        Version::V2 => {
            let dir = c.dirs()[0].to_path_buf();
            assert_eq!(read(&dir, "cpu.weight"), "20");
            assert_eq!(read(&dir, "cpu.max"), "50000 100000");
            assert_eq!(read(&dir, "memory.max"), "67108864");
            assert_eq!(read(&dir, "pids.max"), "64");
        }
    }
    c.set_pids_max(None).unwrap();
    assert_eq!(read(&dir_with(&c, "pids.max"), "pids.max"), "max");

    // The shell execs sleep only after the attach, so the new image is charged to the cgroup.
    let (mut child, pid) = gated_shell("exec sleep 1000");
    assert!(c.is_empty().unwrap());
    c.attach(pid).unwrap();
    release(&mut child);
    assert_eq!(c.pids().unwrap(), [pid]);
    assert!(!c.is_empty().unwrap());

    let mut buf = Vec::new();
    let mut stats = ResourceStatistics::default();
    wait_for("memory to be charged", || {
        stats = ResourceStatistics::default();
        c.usage(&Controller::CORE, &mut buf, &mut stats).unwrap();
        stats.mem_total_bytes.unwrap_or(0) > 0
    });
    assert!(stats.processes >= Some(1), "{stats:?}");
    assert!(stats.threads >= Some(1), "{stats:?}");
    assert!(stats.cpus_user_time_secs.is_some() && stats.cpus_nr_periods.is_some());
    assert!(stats.mem_rss_bytes.is_some() && stats.mem_cache_bytes.is_some());

    // The statistics endpoint budget is 5 ms for 100 containers.
    let start = Instant::now();
    for _ in 0..100 {
        let mut sample = ResourceStatistics::default();
        c.usage(&Controller::CORE, &mut buf, &mut sample).unwrap();
    }
    let elapsed = start.elapsed();
    eprintln!("usage() x100: {elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(50),
        "usage() x100 took {elapsed:?}"
    );

    // Recovery: a fresh detection opens the same cgroup.
    let cfg = CgroupsConfig {
        root: format!("mesolite-test-{}", std::process::id()),
        ..CgroupsConfig::default()
    };
    let again = Cgroups::detect(&cfg, &Controller::CORE).unwrap();
    assert_eq!(again.open("c1").pids().unwrap(), [pid]);

    let busy = c.destroy().unwrap_err();
    assert!(busy.is_busy(), "{busy}");
    kill_until_empty(&c).unwrap();
    assert!(child.wait().unwrap().code().is_none(), "killed by a signal");
    c.destroy().unwrap();
    assert!(c.dirs().iter().all(|dir| !dir.exists()));
    c.destroy().unwrap();
    assert!(!host.cgroups.list().unwrap().contains(&"c1".to_owned()));
}

#[test]
fn test_kernel_kill_all_reaches_double_forked_processes() {
    let Some(mut host) = Host::new("test_kernel_kill_all_reaches_double_forked_processes") else {
        return;
    };
    let c = host.create("forker");
    // `( sleep & )` leaves a sleep whose parent exits: it is reparented away from the shell.
    let (mut child, pid) = gated_shell("(sleep 1000 &); sleep 1000 & sleep 1000");
    c.attach(pid).unwrap();
    release(&mut child);
    wait_for("three sleeps and the shell", || {
        c.pids().unwrap().len() >= 3
    });
    let pids = c.pids().unwrap();
    let escaped: Vec<i32> = pids
        .iter()
        .copied()
        .filter(|p| *p != pid && parent_of(*p) != Some(pid))
        .collect();
    assert!(
        !escaped.is_empty(),
        "no double-forked process among {pids:?}"
    );

    let took = kill_until_empty(&c).unwrap();
    eprintln!("cgroup empty after {took:?}");
    assert!(child.wait().unwrap().code().is_none(), "killed by a signal");
    for p in escaped {
        assert_ne!(state_of(p), Some('S'), "pid {p} still sleeping");
    }
    c.destroy().unwrap();
}

fn proc_stat(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
}

/// The state letter of /proc/<pid>/stat (the field after the parenthesised command).
fn state_of(pid: i32) -> Option<char> {
    let stat = proc_stat(pid)?;
    stat.rsplit_once(") ")?.1.chars().next()
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = proc_stat(pid)?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// The v2 code against the real kernel: this hybrid host's cgroup2 mount has no controllers,
/// but cgroup.procs, cgroup.events, cgroup.kill and cgroup.freeze are core files.
#[test]
fn test_kernel_v2_core_files_on_the_unified_mount() {
    let test = "test_kernel_v2_core_files_on_the_unified_mount";
    let _lock = KERNEL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if crate::sys::user::euid() != 0 {
        eprintln!("skipping {test}: not root");
        return;
    }
    let unified = Path::new("/sys/fs/cgroup/unified");
    if !unified.join("cgroup.procs").exists() {
        eprintln!("skipping {test}: no cgroup2 at {}", unified.display());
        return;
    }
    let cfg = CgroupsConfig {
        hierarchy: unified.to_path_buf(),
        root: format!("mesolite-test-v2-{}", std::process::id()),
        ..CgroupsConfig::default()
    };
    let cgroups = Cgroups::detect(&cfg, &[]).unwrap();
    eprintln!("{test}: {}", cgroups.describe());
    assert_eq!(cgroups.version(), Version::V2);
    let features = cgroups.features();
    let c = cgroups.create("c1").unwrap();
    assert!(c.v2_dir_fd().unwrap().is_some());

    // cgroup.kill if the kernel has it, then the freeze + kill-each fallback on the same kernel.
    let fallback = ContainerCgroup::new(
        "c1",
        // cpu.stat's times and the process lists are core files: readable without controllers.
        ControllerSet::of(&[Controller::Cpu, Controller::Pids]),
        Features {
            has_cgroup_kill: false,
            has_freezer: true,
        },
        container::Kind::V2(c.dirs()[0].to_path_buf()),
    );
    for (name, cgroup) in [("detected", &c), ("freeze fallback", &fallback)] {
        let (mut child, pid) = gated_shell("(sleep 1000 &); sleep 1000 & sleep 1000");
        cgroup.attach(pid).unwrap();
        release(&mut child);
        wait_for("three sleeps and the shell", || {
            cgroup.pids().unwrap().len() >= 3
        });
        assert!(!cgroup.is_empty().unwrap());
        let mut stats = ResourceStatistics::default();
        fallback
            .usage(&Controller::CORE, &mut Vec::new(), &mut stats)
            .unwrap();
        assert!(
            stats.processes >= Some(3) && stats.threads >= Some(3),
            "{stats:?}"
        );
        assert!(stats.cpus_user_time_secs.is_some() && stats.mem_total_bytes.is_none());
        let took = kill_until_empty(cgroup).unwrap();
        eprintln!("{name} ({features:?}): empty after {took:?}");
        assert!(child.wait().unwrap().code().is_none(), "killed by a signal");
        assert_eq!(read(c.dirs()[0], "cgroup.freeze"), "0", "thawed");
    }
    assert_eq!(cgroups.list().unwrap(), ["c1"]);
    c.destroy().unwrap();
    assert!(!c.dirs()[0].exists());
    for dir in cgroups.root_dirs() {
        std::fs::remove_dir(dir).unwrap();
    }
}
