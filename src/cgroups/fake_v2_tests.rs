//! The whole API against temporary directories laid out like cgroup v2: plain, under systemd
//! delegation, with and without `cgroup.kill`, and the errors of controller enabling.
//!
//! A fake tree does not populate files on mkdir as the kernel does, so the tests create the
//! files a step needs right after the step that would have made them.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use super::testutil::{cgroup_dir, read, remove_files, sleeper, v2_line, Fake};
use super::*;

const V2_FILES: &[(&str, &str)] = &[
    ("cgroup.procs", ""),
    ("cgroup.threads", ""),
    ("cgroup.events", "populated 0\nfrozen 0\n"),
    ("cgroup.freeze", "0\n"),
    ("cpu.weight", "100\n"),
    ("cpu.max", "max 100000\n"),
    ("cpu.stat", "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 7\nnr_throttled 3\nthrottled_usec 500000\n"),
    ("memory.max", "max\n"),
    ("memory.current", "2097152\n"),
    ("memory.stat", "anon 1024\nfile 2048\nkernel 4\nfile_mapped 256\nunevictable 8\n"),
    ("memory.swap.current", "64\n"),
    ("pids.max", "max\n"),
];

/// A pure v2 tree: the mount with all controllers, `<root>` as the kernel would create it.
fn pure_v2(root_files: &[(&str, &str)]) -> Fake {
    let fake = Fake::new(|h| v2_line(30, h), "0::/\n");
    let mount = fake.cfg.hierarchy.clone();
    cgroup_dir(
        &mount,
        &[
            ("cgroup.controllers", "cpuset cpu io memory pids\n"),
            ("cgroup.subtree_control", "\n"),
        ],
    );
    cgroup_dir(&mount.join("mesolite"), root_files);
    fake
}

const V2_ROOT: &[(&str, &str)] = &[
    ("cgroup.controllers", "cpu memory pids\n"),
    ("cgroup.subtree_control", "\n"),
    ("cgroup.kill", ""),
    ("cgroup.freeze", "0\n"),
];

#[test]
fn test_v2_full_cycle_with_cgroup_kill() {
    let fake = pure_v2(V2_ROOT);
    let cgroups = Cgroups::detect(&fake.cfg, &Controller::CORE).unwrap();
    assert_eq!(cgroups.version(), Version::V2);
    assert_eq!(
        cgroups.features(),
        Features {
            has_cgroup_kill: true,
            has_freezer: true
        }
    );
    let mount = &fake.cfg.hierarchy;
    assert_eq!(read(mount, "cgroup.subtree_control"), "+cpu +memory +pids");
    assert_eq!(
        read(&mount.join("mesolite"), "cgroup.subtree_control"),
        "+cpu +memory +pids"
    );

    let c = cgroups.create("c1").unwrap();
    let dir = mount.join("mesolite/c1");
    assert_eq!(c.dirs(), [dir.as_path()]);
    cgroup_dir(&dir, V2_FILES);
    fs::write(dir.join("cgroup.kill"), "").unwrap();
    assert_eq!(cgroups.list().unwrap(), ["c1"]);

    c.set_cpu(1.0, true).unwrap();
    assert_eq!(read(&dir, "cpu.weight"), "39");
    assert_eq!(read(&dir, "cpu.max"), "100000 100000");
    c.set_cpu(0.0005, true).unwrap();
    assert_eq!(read(&dir, "cpu.weight"), "1");
    assert_eq!(read(&dir, "cpu.max"), "1000 100000");
    c.set_memory(64 << 20).unwrap();
    assert_eq!(read(&dir, "memory.max"), "67108864");
    c.set_pids_max(Some(7)).unwrap();
    assert_eq!(read(&dir, "pids.max"), "7");
    assert!(c.v2_dir_fd().unwrap().is_some());

    c.attach(4242).unwrap();
    assert_eq!(read(&dir, "cgroup.procs"), "4242");
    assert!(c.is_empty().unwrap(), "cgroup.events says populated 0");
    fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    assert!(!c.is_empty().unwrap());

    fs::write(dir.join("cgroup.threads"), "4242\n4243\n4244\n").unwrap();
    let mut stats = crate::stats::ResourceStatistics::default();
    c.usage(&Controller::CORE, &mut Vec::new(), &mut stats)
        .unwrap();
    assert_eq!(stats.cpus_user_time_secs, Some(2.0));
    assert_eq!(stats.cpus_system_time_secs, Some(1.0));
    assert_eq!(stats.cpus_nr_periods, Some(7));
    assert_eq!(stats.cpus_nr_throttled, Some(3));
    assert_eq!(stats.cpus_throttled_time_secs, Some(0.5));
    assert_eq!(stats.mem_total_bytes, Some(2_097_152));
    assert_eq!(stats.mem_anon_bytes, Some(1024));
    assert_eq!(stats.mem_file_bytes, Some(2048));
    assert_eq!(stats.mem_mapped_file_bytes, Some(256));
    assert_eq!(stats.mem_unevictable_bytes, Some(8));
    assert_eq!(stats.mem_swap_bytes, Some(64));
    assert_eq!(stats.processes, Some(1));
    assert_eq!(stats.threads, Some(3));

    // With cgroup.kill nothing is signalled by pid: 4242 is only a number here.
    c.kill_all().unwrap();
    assert_eq!(read(&dir, "cgroup.kill"), "1");

    remove_files(&dir);
    c.destroy().unwrap();
    assert!(!dir.exists());
    c.destroy().unwrap();
    assert!(c.is_empty().unwrap());
}

#[test]
fn test_v2_kill_without_cgroup_kill_freezes_and_kills_each() {
    let root_files: Vec<(&str, &str)> = V2_ROOT
        .iter()
        .copied()
        .filter(|(name, _)| *name != "cgroup.kill")
        .collect();
    let fake = pure_v2(&root_files);
    let cgroups = Cgroups::detect(&fake.cfg, &[Controller::Cpu]).unwrap();
    assert!(!cgroups.features().has_cgroup_kill && cgroups.features().has_freezer);
    assert_eq!(read(&fake.cfg.hierarchy, "cgroup.subtree_control"), "+cpu");
    let c = cgroups.create("c1").unwrap();
    let dir = fake.dir("mesolite/c1");
    cgroup_dir(&dir, V2_FILES);
    let (mut child, pid) = sleeper();
    fs::write(dir.join("cgroup.procs"), format!("{pid}\n")).unwrap();
    c.kill_all().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(read(&dir, "cgroup.freeze"), "0", "thawed again");
    let mut stats = crate::stats::ResourceStatistics::default();
    c.usage(&Controller::CORE, &mut Vec::new(), &mut stats)
        .unwrap();
    assert_eq!(stats.mem_total_bytes, None, "memory not in use");
    assert_eq!(stats.processes, None, "pids not in use");
    assert!(stats.cpus_user_time_secs.is_some());
}

#[test]
fn test_v2_under_systemd_moves_the_agent_and_uses_the_unit_cgroup() {
    let fake = Fake::new(|h| v2_line(30, h), "0::/system.slice/mesolite.service\n");
    let mut cfg = fake.cfg.clone();
    cfg.under_systemd = true;
    let all = ("cgroup.controllers", "cpu memory pids\n");
    cgroup_dir(
        &cfg.hierarchy,
        &[all, ("cgroup.subtree_control", "cpu memory pids\n")],
    );
    let slice = cfg.hierarchy.join("system.slice");
    cgroup_dir(
        &slice,
        &[all, ("cgroup.subtree_control", "cpu memory pids\n")],
    );
    let unit = slice.join("mesolite.service");
    cgroup_dir(&unit, &[all, ("cgroup.subtree_control", "\n")]);
    cgroup_dir(&unit.join("agent"), &[("cgroup.procs", "")]);
    cgroup_dir(&unit.join("mesolite"), V2_ROOT);

    let cgroups = Cgroups::detect(&cfg, &Controller::CORE).unwrap();
    assert_eq!(
        read(&unit.join("agent"), "cgroup.procs"),
        std::process::id().to_string()
    );
    assert_eq!(
        read(&slice, "cgroup.subtree_control"),
        "cpu memory pids",
        "already enabled"
    );
    assert_eq!(read(&unit, "cgroup.subtree_control"), "+cpu +memory +pids");
    let c = cgroups.create("c1").unwrap();
    assert_eq!(c.dirs(), [unit.join("mesolite/c1").as_path()]);
    assert!(
        cgroups.describe().contains("base="),
        "{}",
        cgroups.describe()
    );

    // A second start from inside the agent leaf keeps the same base.
    fs::write(
        &cfg.self_cgroup,
        "0::/system.slice/mesolite.service/agent\n",
    )
    .unwrap();
    let again = Cgroups::detect(&cfg, &Controller::CORE).unwrap();
    assert_eq!(again.open("c1").dirs(), c.dirs());
}

#[test]
fn test_v2_errors_name_the_controller_and_level() {
    // pids not offered by the cgroup2 root at all.
    let fake = Fake::new(|h| v2_line(30, h), "0::/\n");
    cgroup_dir(
        &fake.cfg.hierarchy,
        &[("cgroup.controllers", "cpu memory\n")],
    );
    let err = Cgroups::detect(&fake.cfg, &Controller::CORE).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::ControllerNotMounted { controller: "pids" }
        ),
        "{err}"
    );

    // memory offered by the root but not handed down to <root>.
    let fake = pure_v2(&[
        ("cgroup.controllers", "cpu\n"),
        ("cgroup.subtree_control", ""),
    ]);
    let err = Cgroups::detect(&fake.cfg, &[Controller::Cpu, Controller::Memory]).unwrap_err();
    match &err {
        CgroupError::EnableController {
            controller: "memory",
            path,
            source: None,
        } => assert_eq!(path, &fake.dir("mesolite")),
        other => panic!("{other}"),
    }

    // The kernel's refusal is explained in the message.
    let busy = CgroupError::EnableController {
        controller: "cpu",
        path: PathBuf::from("/sys/fs/cgroup/system.slice/x.service"),
        source: Some(std::io::Error::from_raw_os_error(libc::EBUSY)),
    };
    let text = busy.to_string();
    assert!(
        text.contains("cpu") && text.contains("x.service/cgroup.subtree_control"),
        "{text}"
    );
    assert!(text.contains("processes of its own"), "{text}");
}

#[test]
fn test_v2_observability_io_implicit_perf_event_and_psi_triggers() {
    let fake = pure_v2(&[
        ("cgroup.controllers", "cpu io memory pids\n"),
        ("cgroup.subtree_control", "\n"),
    ]);
    let wanted = [Controller::Memory, Controller::Blkio, Controller::PerfEvent];
    let cgroups = Cgroups::detect(&fake.cfg, &wanted).unwrap();
    assert_eq!(
        cgroups.version(),
        Version::V2,
        "perf_event is implicit on v2"
    );
    let mount = &fake.cfg.hierarchy;
    assert_eq!(
        read(&mount.join("mesolite"), "cgroup.subtree_control"),
        "+memory +io",
        "nothing to enable for perf_event"
    );
    let c = cgroups.create("c1").unwrap();
    let dir = mount.join("mesolite/c1");
    cgroup_dir(
        &dir,
        &[
            ("memory.current", "1\n"),
            ("memory.stat", "anon 1\n"),
            (
                "memory.pressure",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            ),
            (
                "io.stat",
                "254:0 rbytes=0 wbytes=10485760 rios=0 wios=40 dbytes=0 dios=0\n",
            ),
        ],
    );
    let mut stats = crate::stats::ResourceStatistics::default();
    c.usage(&wanted, &mut Vec::new(), &mut stats).unwrap();
    let blkio = stats.blkio_statistics.unwrap();
    assert_eq!(blkio.throttling.len(), 2, "the device, then the total");
    assert_eq!(blkio.throttling[1].io_service_bytes[1].value, 10_485_760);
    assert!(c.perf_event_dir_fd().unwrap().is_some());

    let watches = c.pressure_watches().unwrap();
    let levels: Vec<PressureLevel> = watches.iter().map(|w| w.level).collect();
    assert_eq!(levels, PressureLevel::ALL);
    assert!(watches.iter().all(PressureWatch::is_psi));
    // Each trigger is one write with its NUL (the kernel overwrites a write's last byte with
    // one); a plain file shows the last, written over the start of what was there.
    let written = fs::read(dir.join("memory.pressure")).unwrap();
    assert!(
        written.starts_with(b"full 500000 1000000\0"),
        "{:?}",
        String::from_utf8_lossy(&written)
    );
    drop(watches);
    fs::remove_file(dir.join("memory.pressure")).unwrap();
    assert!(
        c.pressure_watches().unwrap().is_empty(),
        "no PSI: no counters"
    );
}
