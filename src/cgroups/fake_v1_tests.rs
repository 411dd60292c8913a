//! The whole API against temporary directories laid out like cgroup v1: separate and
//! co-mounted cpu/cpuacct, and the choice between v1 and v2 on a hybrid host.
//!
//! A fake tree does not populate files on mkdir as the kernel does, so the tests create the
//! files a step needs right after the step that would have made them.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::Duration;

use super::testutil::{cgroup_dir, read, remove_files, sleeper, v1_line, v2_line, Fake};
use super::*;

const V1_FILES: &[(&str, &str)] = &[
    ("cgroup.procs", ""),
    ("tasks", ""),
    ("cpu.shares", "1024\n"),
    ("cpu.cfs_period_us", "100000\n"),
    ("cpu.cfs_quota_us", "-1\n"),
    ("cpu.stat", "nr_periods 5\nnr_throttled 1\nthrottled_time 2500000000\n"),
    ("cpuacct.stat", "user 250\nsystem 50\n"),
    ("memory.limit_in_bytes", "9223372036854771712\n"),
    ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
    ("memory.usage_in_bytes", "1048576\n"),
    ("memory.max_usage_in_bytes", "3145728\n"),
    ("memory.stat", "rss 1\ntotal_rss 4096\ntotal_cache 8192\ntotal_mapped_file 512\ntotal_swap 0\ntotal_unevictable 0\ntotal_inactive_file 2048\n"),
    ("pids.max", "max\n"),
    ("freezer.state", "THAWED\n"),
];

/// v1 with each subsystem on its own mount, and an empty cgroup2 beside (this host).
fn hybrid_v1() -> Fake {
    let fake = Fake::new(
        |h| {
            ["cpu", "cpuacct", "memory", "pids", "freezer"]
                .iter()
                .enumerate()
                .map(|(i, s)| v1_line(40 + i as u32, &h.join(s), s))
                .collect::<String>()
                + &v2_line(50, &h.join("unified"))
        },
        "1:cpu:/\n0::/\n",
    );
    cgroup_dir(&fake.dir("unified"), &[("cgroup.controllers", "")]);
    fake
}
#[test]
fn test_v1_separate_mounts_full_cycle() {
    let fake = hybrid_v1();
    let cgroups = Cgroups::detect(&fake.cfg, &Controller::CORE).unwrap();
    assert_eq!(cgroups.version(), Version::V1);
    assert_eq!(
        cgroups.features(),
        Features {
            has_cgroup_kill: false,
            has_freezer: true
        }
    );
    assert!(cgroups
        .describe()
        .starts_with("cgroup v1 (hybrid host): cpu="));
    for s in ["cpu", "cpuacct", "memory", "pids", "freezer"] {
        assert!(fake.dir(s).join("mesolite").is_dir(), "{s} root");
    }

    let c = cgroups.create("c1").unwrap();
    let dirs: Vec<PathBuf> = c.dirs().iter().map(|d| d.to_path_buf()).collect();
    assert_eq!(dirs.len(), 5);
    for dir in &dirs {
        assert!(dir.is_dir());
        cgroup_dir(dir, V1_FILES);
    }
    assert_eq!(cgroups.list().unwrap(), ["c1"]);
    assert!(matches!(
        cgroups.create("../x"),
        Err(CgroupError::InvalidId { .. })
    ));

    c.set_cpu(0.5, true).unwrap();
    let cpu = fake.dir("cpu/mesolite/c1");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    c.set_memory(64 << 20).unwrap();
    let memory = fake.dir("memory/mesolite/c1");
    assert_eq!(read(&memory, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&memory, "memory.soft_limit_in_bytes"), "67108864");
    c.set_pids_max(Some(100)).unwrap();
    assert_eq!(read(&fake.dir("pids/mesolite/c1"), "pids.max"), "100");
    c.set_pids_max(None).unwrap();
    assert_eq!(read(&fake.dir("pids/mesolite/c1"), "pids.max"), "max");
    assert!(c.v2_dir_fd().unwrap().is_none());

    let (mut child, pid) = sleeper();
    c.attach(pid).unwrap();
    for dir in &dirs {
        assert_eq!(
            read(dir, "cgroup.procs"),
            pid.to_string(),
            "{}",
            dir.display()
        );
    }
    fs::write(
        fake.dir("pids/mesolite/c1/tasks"),
        format!("{pid}\n{}\n", pid + 1),
    )
    .unwrap();
    assert_eq!(c.pids().unwrap(), [pid]);
    assert!(!c.is_empty().unwrap());

    let mut stats = crate::stats::ResourceStatistics::default();
    let mut buf = Vec::new();
    c.usage(&Controller::CORE, &mut buf, &mut stats).unwrap();
    let ticks = clock_ticks() as f64;
    assert_eq!(stats.cpus_user_time_secs, Some(250.0 / ticks));
    assert_eq!(stats.cpus_system_time_secs, Some(50.0 / ticks));
    assert_eq!(stats.cpus_nr_periods, Some(5));
    assert_eq!(stats.cpus_nr_throttled, Some(1));
    assert_eq!(stats.cpus_throttled_time_secs, Some(2.5));
    assert_eq!(stats.mem_total_bytes, Some(1_048_576));
    assert_eq!(stats.mem_rss_bytes, Some(4096));
    assert_eq!(stats.mem_cache_bytes, Some(8192));
    assert_eq!(
        stats.mem_max_usage_bytes, None,
        "not a Mesos field: read for /metrics only"
    );
    let mut peak = crate::stats::ResourceStatistics::default();
    let metrics = crate::cgroups::Figures::WithPeakMemory;
    c.usage_of(&[Controller::Memory], metrics, &mut buf, &mut peak)
        .unwrap();
    assert_eq!(peak.mem_max_usage_bytes, Some(3_145_728));
    assert_eq!(stats.mem_inactive_file_bytes, Some(2048));
    assert_eq!(stats.mem_mapped_file_bytes, Some(512));
    assert_eq!(stats.processes, Some(1));
    assert_eq!(
        stats.threads,
        Some(2),
        "counted from tasks without pids.current"
    );
    // With the pids controller's own count, that is what threads are.
    fs::write(fake.dir("pids/mesolite/c1/pids.current"), "5\n").unwrap();
    let mut counted = crate::stats::ResourceStatistics::default();
    c.usage(&[Controller::Pids], &mut buf, &mut counted)
        .unwrap();
    assert_eq!((counted.processes, counted.threads), (Some(1), Some(5)));
    let mut only_memory = crate::stats::ResourceStatistics::default();
    c.usage(&[Controller::Memory], &mut buf, &mut only_memory)
        .unwrap();
    assert_eq!(only_memory.cpus_user_time_secs, None);
    assert_eq!(only_memory.processes, None, "counted for Pids only");
    assert_eq!(only_memory.mem_total_bytes, Some(1_048_576));

    // kill_all freezes, kills what the freezer lists, thaws.
    c.kill_all().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(
        read(&fake.dir("freezer/mesolite/c1"), "freezer.state"),
        "THAWED"
    );

    for dir in &dirs {
        remove_files(dir);
    }
    c.destroy().unwrap();
    assert!(dirs.iter().all(|d| !d.exists()));
    c.destroy().unwrap();
    assert!(c.is_empty().unwrap(), "a removed cgroup is empty");
    c.kill_all().unwrap();
    assert!(cgroups.list().unwrap().is_empty());
}

#[test]
fn test_v1_recreates_a_vanished_root() {
    let fake = hybrid_v1();
    let cgroups = Cgroups::detect(&fake.cfg, &[Controller::Memory]).unwrap();
    fs::remove_dir(fake.dir("memory/mesolite")).unwrap();
    fs::remove_dir(fake.dir("freezer/mesolite")).unwrap();
    let c = cgroups.create("c2").unwrap();
    assert!(fake.dir("memory/mesolite/c2").is_dir());
    assert!(fake.dir("freezer/mesolite/c2").is_dir());
    assert!(!fake.dir("cpu/mesolite").exists(), "cpu not wanted");
    assert!(matches!(
        c.set_cpu(1.0, false),
        Err(CgroupError::ControllerNotInUse { controller: "cpu" })
    ));
}

#[test]
fn test_v1_comounted_cpu_cpuacct() {
    let fake = Fake::new(
        |h| {
            v1_line(40, &h.join("cpu,cpuacct"), "cpu,cpuacct")
                + &v1_line(41, &h.join("memory"), "memory")
                + &v1_line(42, &h.join("freezer"), "freezer")
        },
        "0::/\n",
    );
    let cgroups = Cgroups::detect(&fake.cfg, &[Controller::Cpu, Controller::Memory]).unwrap();
    assert_eq!(cgroups.version(), Version::V1);
    assert!(
        cgroups.describe().starts_with("cgroup v1: "),
        "{}",
        cgroups.describe()
    );
    let c = cgroups.create("c1").unwrap();
    assert_eq!(c.dirs().len(), 3);
    let cpu = fake.dir("cpu,cpuacct/mesolite/c1");
    for dir in c.dirs() {
        cgroup_dir(dir, V1_FILES);
    }
    c.set_cpu(2.0, false).unwrap();
    assert_eq!(read(&cpu, "cpu.shares"), "2048");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "-1", "no cfs asked");
    let mut stats = crate::stats::ResourceStatistics::default();
    c.usage(&[Controller::Cpu], &mut Vec::new(), &mut stats)
        .unwrap();
    assert!(stats.cpus_user_time_secs.is_some() && stats.cpus_nr_periods == Some(5));
    assert!(matches!(
        c.set_pids_max(None),
        Err(CgroupError::ControllerNotInUse { controller: "pids" })
    ));
    assert!(matches!(
        Cgroups::detect(&fake.cfg, &[Controller::Pids]),
        Err(CgroupError::ControllerNotMounted { controller: "pids" })
    ));
}

#[test]
fn test_hybrid_prefers_v2_only_when_it_has_the_controllers() {
    let fake = hybrid_v1();
    assert_eq!(
        Cgroups::detect(&fake.cfg, &[]).unwrap().version(),
        Version::V1,
        "empty cgroup2 + v1 freezer: v1"
    );
    let unified = fake.dir("unified");
    cgroup_dir(
        &unified,
        &[
            ("cgroup.controllers", "cpu memory pids"),
            ("cgroup.subtree_control", ""),
        ],
    );
    cgroup_dir(
        &unified.join("mesolite"),
        &[
            ("cgroup.controllers", "cpu memory pids"),
            ("cgroup.subtree_control", ""),
        ],
    );
    let cgroups = Cgroups::detect(&fake.cfg, &[Controller::Memory]).unwrap();
    assert_eq!(cgroups.version(), Version::V2);
    assert!(cgroups.describe().starts_with("cgroup v2 (hybrid host): "));
    assert_eq!(read(&unified, "cgroup.subtree_control"), "+memory");
}

#[test]
fn test_v1_sweeps_orphans_of_the_hierarchies_not_in_use() {
    let fake = Fake::new(
        |h| {
            ["memory", "freezer", "blkio", "devices"]
                .iter()
                .enumerate()
                .map(|(i, s)| v1_line(40 + i as u32, &h.join(s), s))
                .collect::<String>()
        },
        "1:memory:/\n",
    );
    let cgroups = Cgroups::detect(&fake.cfg, &[Controller::Memory]).unwrap();
    // An orphan with a nested cgroup in blkio, a kept container and an orphan in devices,
    // and one in memory (in use: destroyed as a container instead).
    cgroup_dir(&fake.dir("blkio/mesolite/orphan/nested/deeper"), &[]);
    cgroup_dir(&fake.dir("devices/mesolite/kept"), &[]);
    cgroup_dir(&fake.dir("devices/mesolite/orphan"), &[]);
    cgroup_dir(&fake.dir("memory/mesolite/orphan"), &[]);
    let swept = cgroups.sweep_unused(|id| id == "kept", Duration::from_secs(1));
    let mut ids: Vec<&str> = swept.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["orphan", "orphan"]);
    assert!(swept.iter().all(|s| s.result.is_ok()), "{swept:?}");
    assert!(!fake.dir("blkio/mesolite/orphan").exists());
    assert!(!fake.dir("devices/mesolite/orphan").exists());
    assert!(fake.dir("devices/mesolite/kept").is_dir());
    assert!(fake.dir("memory/mesolite/orphan").is_dir());

    // Its processes are killed; one that will not go (a fake tree keeps its files) is
    // reported once the budget is spent.
    let (mut child, pid) = sleeper();
    let dir = fake.dir("blkio/mesolite/busy");
    cgroup_dir(&dir, &[("cgroup.procs", &format!("{pid}\n"))]);
    let t0 = std::time::Instant::now();
    let swept = cgroups.sweep_unused(|_| false, Duration::from_millis(100));
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    let busy: Vec<&Swept> = swept.iter().filter(|s| s.id == "busy").collect();
    assert_eq!(busy.len(), 1);
    assert!(busy[0].result.is_err());
    assert_eq!(busy[0].dir, dir);
}

#[test]
fn test_v1_pressure_listeners_register_each_level() {
    let fake = hybrid_v1();
    let cgroups = Cgroups::detect(&fake.cfg, &[Controller::Memory]).unwrap();
    let c = cgroups.create("c1").unwrap();
    let dir = fake.dir("memory/mesolite/c1");
    cgroup_dir(
        &dir,
        &[("memory.pressure_level", ""), ("cgroup.event_control", "")],
    );
    let watches = c.pressure_watches().unwrap();
    assert_eq!(watches.len(), 3);
    assert!(!watches.iter().any(PressureWatch::is_psi));
    // Three writes into one open of the file (cgroupfs takes each on its own; a plain file
    // holds them one after the other): "<eventfd> <pressure_level fd> <level>" each, with the
    // same pressure_level fd.
    let written = read(&dir, "cgroup.event_control");
    let pressure_fd = written.split(' ').nth(1).unwrap().to_string();
    let expected: String = watches
        .iter()
        .zip(["low", "medium", "critical"])
        .map(|(w, level)| format!("{} {pressure_fd} {level}", w.fd()))
        .collect();
    assert_eq!(written, expected);
    assert!(
        watches.iter().all(|w| w.events_when_ready() == 0),
        "nothing signalled"
    );
}
