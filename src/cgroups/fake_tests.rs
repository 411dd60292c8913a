//! The whole API against temporary directories laid out like cgroupfs: v1 with separate cpu and
//! cpuacct, v1 co-mounted, hybrid choice, v2 plain and under systemd.
//!
//! A fake tree does not populate files on mkdir as the kernel does, so the tests create the
//! files a step needs right after the step that would have made them.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::testutil::{cgroup_dir, read, v1_line, v2_line, TempDir};
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
    ("memory.stat", "rss 1\ntotal_rss 4096\ntotal_cache 8192\ntotal_mapped_file 512\ntotal_swap 0\ntotal_unevictable 0\n"),
    ("pids.max", "max\n"),
    ("freezer.state", "THAWED\n"),
];

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

/// A fake cgroupfs under a tempdir, with its mountinfo and /proc/self/cgroup files.
struct Fake {
    /// Owns the tree; removed on drop.
    _tmp: TempDir,
    cfg: CgroupsConfig,
}

impl Fake {
    fn new(mountinfo: impl Fn(&Path) -> String, self_cgroup: &str) -> Self {
        let tmp = TempDir::new();
        let hierarchy = tmp.path().join("cg");
        fs::create_dir_all(&hierarchy).unwrap();
        let cfg = CgroupsConfig {
            hierarchy: hierarchy.clone(),
            root: "mesolite".to_owned(),
            mountinfo: tmp.path().join("mountinfo"),
            self_cgroup: tmp.path().join("self_cgroup"),
            under_systemd: false,
        };
        fs::write(&cfg.mountinfo, mountinfo(&hierarchy)).unwrap();
        fs::write(&cfg.self_cgroup, self_cgroup).unwrap();
        Self { _tmp: tmp, cfg }
    }

    fn dir(&self, relative: &str) -> PathBuf {
        self.cfg.hierarchy.join(relative)
    }
}

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

fn sleeper() -> (Child, i32) {
    let child = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    (child, pid)
}

fn remove_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn test_v1_separate_mounts_full_cycle() {
    let fake = hybrid_v1();
    let cgroups = Cgroups::detect(&fake.cfg, &Controller::ALL).unwrap();
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
    c.usage(&Controller::ALL, &mut buf, &mut stats).unwrap();
    let ticks = clock_ticks() as f64;
    assert_eq!(stats.cpus_user_time_secs, Some(250.0 / ticks));
    assert_eq!(stats.cpus_system_time_secs, Some(50.0 / ticks));
    assert_eq!(stats.cpus_nr_periods, Some(5));
    assert_eq!(stats.cpus_nr_throttled, Some(1));
    assert_eq!(stats.cpus_throttled_time_secs, Some(2.5));
    assert_eq!(stats.mem_total_bytes, Some(1_048_576));
    assert_eq!(stats.mem_rss_bytes, Some(4096));
    assert_eq!(stats.mem_cache_bytes, Some(8192));
    assert_eq!(stats.mem_mapped_file_bytes, Some(512));
    assert_eq!(stats.processes, Some(1));
    assert_eq!(stats.threads, Some(2));
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
    let cgroups = Cgroups::detect(&fake.cfg, &Controller::ALL).unwrap();
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
    c.usage(&Controller::ALL, &mut Vec::new(), &mut stats)
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
    c.usage(&Controller::ALL, &mut Vec::new(), &mut stats)
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

    let cgroups = Cgroups::detect(&cfg, &Controller::ALL).unwrap();
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
    let again = Cgroups::detect(&cfg, &Controller::ALL).unwrap();
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
    let err = Cgroups::detect(&fake.cfg, &Controller::ALL).unwrap_err();
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
