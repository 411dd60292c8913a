//! `sys::netlink` and `stats::net` against the real kernel: each test makes its own network
//! namespace (`mlnl-<pid>-<n>`, with `ip netns add`) and veth pairs, removed when it ends.
//! `ip` and `tc` (iproute2) only set the scene and cross-check; what is tested reads and
//! writes through netlink. The last test launches a container init in a new network
//! namespace with `loopback_up`.
//!
//! The tests take one lock: they fork (`ip`, `ping`, the launcher's clone) and switch network
//! namespaces, which is simplest to reason about one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::root_or_skip;
use mesolite::launcher::{self, ChildSetup, LaunchSpec};
use mesolite::stats::{net, ResourceStatistics};
use mesolite::sys::netlink::{LinkStats, Netlink, NetlinkError};
use mesolite::sys::process::{self, CStringArray, CLONE_NEWNET};

static LOCK: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(0);

fn serial() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap()
}

fn ok(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The inode of this thread's network namespace.
fn own_netns() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

/// A named network namespace with host-side veth peers, all removed on drop.
struct Ns {
    name: String,
    n: u32,
    veths: Vec<String>,
}

impl Ns {
    fn new() -> Ns {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("mlnl-{}-{n}", std::process::id());
        let _ = run(&["ip", "netns", "del", &name]);
        ok(&["ip", "netns", "add", &name]);
        Ns {
            name,
            n,
            veths: Vec::new(),
        }
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// A veth pair: `inner` in the namespace, the returned host-side name outside, both up,
    /// with the addresses 10.251.<x>.<y+1> (host) and .<y+2> (inside) on a /30. Returns the
    /// host name and the inside address.
    fn veth(&mut self, inner: &str) -> (String, String) {
        let i = self.veths.len() as u32;
        let host = format!("nlh{}x{}x{i}", std::process::id() % 100_000, self.n);
        let x = (std::process::id() % 250) as u8;
        let y = ((self.n * 8 + i * 4) % 252) as u8;
        let host_ip = format!("10.251.{x}.{}", y + 1);
        let inner_ip = format!("10.251.{x}.{}", y + 2);
        let _ = run(&["ip", "link", "del", &host]);
        ok(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", inner, "netns", &self.name,
        ]);
        self.veths.push(host.clone());
        ok(&["ip", "addr", "add", &format!("{host_ip}/30"), "dev", &host]);
        ok(&["ip", "link", "set", &host, "up"]);
        let out = self.exec(&["ip", "addr", "add", &format!("{inner_ip}/30"), "dev", inner]);
        assert!(out.status.success());
        assert!(self
            .exec(&["ip", "link", "set", inner, "up"])
            .status
            .success());
        (host, inner_ip)
    }

    fn ping_works(&self, ip: &str) -> bool {
        self.exec(&["ping", "-c3", "-i0.2", "-W2", ip])
            .status
            .success()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        for v in &self.veths {
            let _ = run(&["ip", "link", "del", v]);
        }
        let _ = run(&["ip", "netns", "del", &self.name]);
    }
}

/// `count` pings of `size` bytes of payload from the host to `ip`, all answered.
fn ping_from_host(ip: &str, count: u32, size: u32) {
    ok(&[
        "ping",
        "-q",
        &format!("-c{count}"),
        "-i0.2",
        "-W2",
        &format!("-s{size}"),
        ip,
    ]);
}

fn link<'a>(links: &'a [LinkStats], name: &str) -> &'a LinkStats {
    links.iter().find(|l| l.name == name).expect(name)
}

#[test]
fn set_link_up_brings_up_the_loopback_of_a_namespace() {
    if !root_or_skip("set_link_up_brings_up_the_loopback_of_a_namespace") {
        return;
    }
    let _g = serial();
    let ns = Ns::new();
    let before = own_netns();
    assert!(
        !ns.ping_works("127.0.0.1"),
        "a fresh namespace's lo is down"
    );
    let mut nl = Netlink::open_in(&ns.path()).unwrap();
    assert_eq!(own_netns(), before, "open_in returned to our own namespace");
    assert_eq!(nl.netns(), Some(ns.path().as_path()));
    nl.set_link_up("lo").unwrap();
    assert!(ns.ping_works("127.0.0.1"));
    // The socket reads the namespace it was made in, not ours.
    let links = nl.links().unwrap();
    assert_eq!(
        links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["lo"]
    );
    assert!(link(&links, "lo").rx_packets >= 3, "{links:?}");
    let err = nl.set_link_up("nosuch0").unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENODEV), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("'nosuch0'") && text.contains(&ns.name),
        "{text}"
    );
}

#[test]
fn link_counters_rise_by_the_bytes_sent() {
    if !root_or_skip("link_counters_rise_by_the_bytes_sent") {
        return;
    }
    let _g = serial();
    let mut ns = Ns::new();
    let (host, inner_ip) = ns.veth("eth0");
    let mut inside = Netlink::open_in(&ns.path()).unwrap();
    let mut here = Netlink::open().unwrap();
    let before = link(&inside.links().unwrap(), "eth0").clone();
    let host_before = link(&here.links().unwrap(), &host).clone();
    assert!(host_before.ifindex > 0);
    let (count, size) = (5u64, 1000u64);
    ping_from_host(&inner_ip, count as u32, size as u32);
    let after = link(&inside.links().unwrap(), "eth0").clone();
    // Each echo carries `size` bytes of payload (plus headers) each way.
    assert!(
        after.rx_bytes - before.rx_bytes >= count * size,
        "{before:?} {after:?}"
    );
    assert!(
        after.tx_bytes - before.tx_bytes >= count * size,
        "{before:?} {after:?}"
    );
    assert!(after.rx_packets - before.rx_packets >= count);
    assert!(after.tx_packets - before.tx_packets >= count);
    let host_after = link(&here.links().unwrap(), &host).clone();
    assert!(host_after.tx_bytes - host_before.tx_bytes >= count * size);
}

#[test]
fn qdisc_statistics_follow_a_tbf() {
    if !root_or_skip("qdisc_statistics_follow_a_tbf") {
        return;
    }
    let _g = serial();
    let mut ns = Ns::new();
    let (host, inner_ip) = ns.veth("eth0");
    let tbf = [
        "tbf", "rate", "100mbit", "burst", "32kbit", "latency", "400ms",
    ];
    let mut add = vec!["tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:"];
    add.extend_from_slice(&tbf);
    assert!(ns.exec(&add).status.success());
    let mut add_host = vec!["tc", "qdisc", "add", "dev", &host, "root", "handle", "2:"];
    add_host.extend_from_slice(&tbf);
    ok(&add_host);

    let mut inside = Netlink::open_in(&ns.path()).unwrap();
    let eth0 = link(&inside.links().unwrap(), "eth0").ifindex;
    let find = |nl: &mut Netlink| {
        nl.qdiscs()
            .unwrap()
            .into_iter()
            .find(|q| q.ifindex == eth0 && q.kind == "tbf")
            .expect("the tbf on eth0")
    };
    let before = find(&mut inside);
    assert_eq!((before.handle, before.parent), (0x1_0000, u32::MAX));
    let (count, size) = (6u64, 1200u64);
    ping_from_host(&inner_ip, count as u32, size as u32);
    // The replies leave the namespace through eth0's tbf.
    let after = find(&mut inside);
    assert!(
        after.bytes - before.bytes >= count * size,
        "{before:?} {after:?}"
    );
    assert!(
        after.packets - before.packets >= count,
        "{before:?} {after:?}"
    );

    let here = net::HostLinks::read(&mut Netlink::open().unwrap()).unwrap();
    let mut st = ResourceStatistics::default();
    net::fill(
        &mut inside,
        &["eth0"],
        Some((&here, &[host.as_str()])),
        &mut st,
    )
    .unwrap();
    let tc = &st.net_traffic_control_statistics;
    let ids: Vec<&str> = tc.iter().map(|t| t.id.as_str()).collect();
    assert!(ids.contains(&"eth0:1:0"), "{ids:?}");
    let host_id = format!("{host}:2:0");
    assert!(ids.contains(&host_id.as_str()), "{ids:?}");
    let ours = tc.iter().find(|t| t.id == "eth0:1:0").unwrap();
    assert!(ours.bytes.unwrap() >= after.bytes && ours.packets.unwrap() >= after.packets);
    // The echo requests left the host through its tbf.
    let theirs = tc.iter().find(|t| t.id == host_id).unwrap();
    assert!(theirs.bytes.unwrap() >= count * size, "{theirs:?}");
    assert!(st.net_rx_bytes.unwrap() >= count * size);
}

#[test]
fn fill_sums_two_interfaces() {
    if !root_or_skip("fill_sums_two_interfaces") {
        return;
    }
    let _g = serial();
    let mut ns = Ns::new();
    let (_, ip0) = ns.veth("eth0");
    let (_, ip1) = ns.veth("eth1");
    ping_from_host(&ip0, 4, 800);
    ping_from_host(&ip1, 3, 900);
    let mut inside = Netlink::open_in(&ns.path()).unwrap();
    let sum = |links: &[LinkStats], f: fn(&LinkStats) -> u64| {
        f(link(links, "eth0")) + f(link(links, "eth1"))
    };
    let low = inside.links().unwrap();
    let mut st = ResourceStatistics::default();
    net::fill(&mut inside, &["eth0", "eth1"], None, &mut st).unwrap();
    let high = inside.links().unwrap();
    // Something (IPv6 neighbour discovery) may count in between: the sum lies within.
    let within = |v: Option<u64>, f: fn(&LinkStats) -> u64| {
        let v = v.unwrap();
        assert!(
            sum(&low, f) <= v && v <= sum(&high, f),
            "{v} {low:?} {high:?}"
        );
    };
    within(st.net_rx_bytes, |l| l.rx_bytes);
    within(st.net_rx_packets, |l| l.rx_packets);
    within(st.net_tx_bytes, |l| l.tx_bytes);
    within(st.net_tx_packets, |l| l.tx_packets);
    within(st.net_rx_dropped, |l| l.rx_dropped);
    within(st.net_tx_errors, |l| l.tx_errors);
    assert!(st.net_rx_bytes.unwrap() >= 4 * 800 + 3 * 900);
    assert!(
        link(&high, "eth0").rx_bytes < st.net_rx_bytes.unwrap(),
        "both counted"
    );
    // veths have noqueue qdiscs, which are left out.
    assert!(st.net_traffic_control_statistics.is_empty());

    // A figure for the report, not a bound: 100 samples (two dumps each) on one socket.
    let start = Instant::now();
    for _ in 0..100 {
        net::fill(&mut inside, &["eth0", "eth1"], None, &mut st).unwrap();
    }
    let took = start.elapsed();
    eprintln!("100 net::fill samples of 2 interfaces: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");

    let err = net::fill(&mut inside, &["eth0", "eth9"], None, &mut st).unwrap_err();
    assert!(matches!(&err, NetlinkError::NoSuchLink { ifname, .. } if ifname == "eth9"));
    assert!(err.to_string().contains(&ns.name), "{err}");
}

#[test]
fn open_in_a_bad_namespace_is_a_clear_error_and_we_stay_home() {
    if !root_or_skip("open_in_a_bad_namespace_is_a_clear_error_and_we_stay_home") {
        return;
    }
    let _g = serial();
    let before = own_netns();
    let missing = format!("/run/netns/mlnl-{}-missing", std::process::id());
    let err = Netlink::open_in(Path::new(&missing)).unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENOENT));
    let text = err.to_string();
    assert!(
        text.contains(&missing) && text.contains("No such file or directory"),
        "{text}"
    );
    assert_eq!(own_netns(), before);
    // A namespace file of another kind: setns refuses it.
    let err = Netlink::open_in(Path::new("/proc/self/ns/uts")).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
    assert!(err.to_string().contains("setns"), "{err}");
    assert_eq!(own_netns(), before);
    // And after a good one too.
    let ns = Ns::new();
    let nl = Netlink::open_in(&ns.path()).unwrap();
    assert_eq!(own_netns(), before);
    drop(nl);
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn file(path: &Path) -> OwnedFd {
    std::fs::File::create(path).unwrap().into()
}

/// Launches `ping -c1 127.0.0.1` as a container task in a new network namespace; its exit
/// code and what the launch reported.
fn launch_ping(dir: &Path, loopback_up: bool) -> (Option<i32>, String) {
    let ping = "/usr/bin/ping";
    let spec = LaunchSpec {
        namespaces: CLONE_NEWNET,
        mount_proc: false,
        hostname: None,
        program: cstr(ping),
        search_path: Vec::new(),
        argv: CStringArray::new(vec![
            cstr(ping),
            cstr("-c1"),
            cstr("-W2"),
            cstr("127.0.0.1"),
        ]),
        envp: CStringArray::new(vec![cstr("PATH=/usr/bin:/bin")]),
        cwd: cstr(dir.to_str().unwrap()),
        stdout: file(&dir.join("stdout")),
        stderr: file(&dir.join("stderr")),
        user: None,
        cgroup_fd: None,
        cgroup_procs: Vec::new(),
        runtime_dir: std::fs::File::open(dir).unwrap().into(),
        child: ChildSetup {
            loopback_up,
            ..ChildSetup::default()
        },
        title: "mesolite-init netlink-test".into(),
    };
    let mut spawned = launcher::spawn(spec, Path::new("/proc")).unwrap();
    launcher::release(&mut spawned).unwrap();
    let mut report = Vec::new();
    let mut buf = [0u8; 512];
    // The agent's end is non-blocking: poll it until EOF (the task exec'd or the init gave up).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match mesolite::sys::fd::read(spawned.exec_report.as_raw_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => report.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no exec report");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("exec report: {e}"),
        }
    }
    let status = process::wait_blocking(spawned.pid).unwrap();
    (
        process::decode_status(status).0,
        String::from_utf8_lossy(&report).into_owned(),
    )
}

#[test]
fn a_container_init_brings_up_its_loopback() {
    if !root_or_skip("a_container_init_brings_up_its_loopback") {
        return;
    }
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("mlnl-launch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (code, report) = launch_ping(&dir, true);
    let out = std::fs::read_to_string(dir.join("stdout")).unwrap();
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert_eq!(code, Some(0), "{report} / {out} / {err}");
    assert!(out.contains("1 received"), "{out}");
    // Without it the new namespace's loopback is down and the ping fails.
    let (code, report) = launch_ping(&dir, false);
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert_ne!(code, Some(0), "{report}");
    assert!(report.is_empty(), "the task ran: {report}");
    assert!(err.contains("unreachable"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
