//! Issue 14: the network/cni isolator against Debian's containernetworking-plugins: bridge +
//! host-local networks, portmap, bandwidth, fake plugins that fail, hang or answer garbage,
//! recovery, and the container's /etc files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cni_support;
mod common;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use cni_support::{bridge_ports, cni_root, nat_rules_with, plugins_or_skip, Cni};
use common::{root_or_skip, Agent};
use serde_json::{json, Value};

fn skip(test: &str) -> bool {
    !root_or_skip(test) || !plugins_or_skip(test)
}

fn start(cni: &Cni, extra: &[&str]) -> Agent {
    let mut flags = cni.flags();
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Agent::start(&flags)
}

/// LAUNCH_CONTAINER of `cmd` on `networks` (NetworkInfo JSON), with more `container` fields.
fn launch(
    agent: &Agent,
    id: &str,
    cmd: &str,
    networks: Value,
    more: Value,
) -> mesolite::http::ClientResponse {
    let mut container = json!({"type": "MESOS", "network_infos": networks});
    if let Some(m) = more.as_object() {
        for (k, v) in m {
            container[k] = v.clone();
        }
    }
    agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id},
        "command": {"value": cmd, "shell": true},
        "container": container}}))
}

/// The addresses GET_CONTAINERS shows for `id`, per network.
fn addresses(agent: &Agent, id: &str) -> Vec<(String, Vec<String>)> {
    let c = agent.container(id).expect("listed");
    c["container_status"]["network_infos"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| {
            let ips = n["ip_addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|a| a["ip_address"].as_str().unwrap_or("").to_string())
                .collect();
            (n["name"].as_str().unwrap_or("").to_string(), ips)
        })
        .collect()
}

fn stdout(agent: &Agent, id: &str) -> String {
    std::fs::read_to_string(agent.sandbox(id).join("stdout")).unwrap_or_default()
}

/// Kills `id`, waits for it, and waits until its networks are detached (checkpoint gone).
fn destroy(agent: &Agent, id: &str) {
    agent.kill(id, None);
    agent.wait_json(id);
    let dir = cni_root(&agent.runtime_dir).join(id);
    Agent::eventually(&format!("{id} detached"), Duration::from_secs(60), || {
        !dir.exists()
    });
}

fn finish(mut agent: Agent) {
    agent.stop();
    cni_support::unmount_root(&agent.runtime_dir);
}

#[test]
fn two_containers_on_a_bridge_reach_each_other_with_static_ipv6_and_two_networks() {
    if skip("cni_reach") {
        return;
    }
    let mut cni = Cni::new("reach", 1);
    let v6 = cni_support::ipv6_enabled();
    if !v6 {
        eprintln!("SKIP: cni_reach IPv6 part: IPv6 is disabled in this kernel");
    }
    cni.bridge_network("netA", 0, v6, vec![]);
    cni.bridge_network("netB", 1, false, vec![]);
    let agent = start(&cni, &[]);
    let fixed = format!("{}.77", cni.prefix(0));
    let r = launch(
        &agent,
        "server",
        "sleep 60",
        json!([{"name": "netA", "ip_addresses": [{"protocol": "IPv4", "ip_address": fixed}]}]),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    let ips = addresses(&agent, "server");
    assert_eq!(ips[0].0, "netA");
    assert!(
        ips[0].1.contains(&fixed),
        "static address honoured: {ips:?}"
    );
    if v6 {
        assert!(
            ips[0].1.iter().any(|a| a.contains(':')),
            "an IPv6 address: {ips:?}"
        );
    }
    // The second container pings the first, and shows eth0 and eth1.
    let r = launch(
        &agent,
        "client",
        &format!("busybox ping -c1 -W5 {fixed} && busybox ip -o addr show"),
        json!([{"name": "netA"}, {"name": "netB"}]),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    let w = agent.wait_json("client");
    let out = stdout(&agent, "client");
    assert_eq!(w["exit_status"], 0, "{w}\n{out}");
    assert!(out.contains("eth0") && out.contains("eth1"), "{out}");
    assert!(out.contains(&format!("{}.", cni.prefix(1))), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    destroy(&agent, "server");
    destroy(&agent, "client");
    finish(agent);
}

#[test]
fn a_port_mapping_answers_on_the_host_port() {
    if skip("cni_portmap") {
        return;
    }
    let mut cni = Cni::new("portmap", 2);
    cni.bridge_network(
        "pm",
        0,
        false,
        vec![json!({"type": "portmap", "capabilities": {"portMappings": true}, "snat": true})],
    );
    let agent = start(&cni, &[]);
    let host_port = 20000 + (std::process::id() % 10000) as u16;
    let r = launch(
        &agent,
        "web",
        "while true; do echo hello-from-container | busybox nc -l -p 8080; done",
        json!([{"name": "pm", "port_mappings": [{"host_port": host_port, "container_port": 8080, "protocol": "tcp"}]}]),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    assert!(
        !nat_rules_with("web").is_empty(),
        "portmap rules for the container"
    );
    // The bridge's gateway address is the host's: locally originated traffic goes through
    // portmap's OUTPUT DNAT.
    let gateway = format!("{}.1", cni.prefix(0));
    let mut got = String::new();
    Agent::eventually("the server answers", Duration::from_secs(20), || {
        match std::net::TcpStream::connect((gateway.as_str(), host_port)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                got.clear();
                let _ = s.read_to_string(&mut got);
                got.contains("hello-from-container")
            }
            Err(_) => false,
        }
    });
    destroy(&agent, "web");
    assert!(
        nat_rules_with("web").is_empty(),
        "{:?}",
        nat_rules_with("web")
    );
    finish(agent);
}

#[test]
fn destroy_releases_the_ip_veth_and_rules_also_after_a_restart() {
    if skip("cni_release") {
        return;
    }
    let mut cni = Cni::new("release", 3);
    cni.single_address_network(
        "rel",
        0,
        vec![json!({"type": "portmap", "capabilities": {"portMappings": true}})],
    );
    let bridge = cni.bridge_name(0);
    let agent = start(&cni, &[]);
    let pm = |port: u16| json!([{"name": "rel", "port_mappings": [{"host_port": port, "container_port": 80}]}]);
    let port = 30000 + (std::process::id() % 5000) as u16;
    assert_eq!(
        launch(&agent, "first", "sleep 60", pm(port), json!({})).status,
        200
    );
    let ip = addresses(&agent, "first")[0].1[0].clone();
    assert_eq!(bridge_ports(&bridge).len(), 1);
    assert_eq!(cni.leases("rel"), std::slice::from_ref(&ip));
    destroy(&agent, "first");
    assert!(bridge_ports(&bridge).is_empty(), "veth removed");
    assert!(cni.leases("rel").is_empty(), "lease released");
    assert!(nat_rules_with("first").is_empty());
    assert_eq!(
        launch(&agent, "second", "sleep 60", pm(port), json!({})).status,
        200
    );
    assert_eq!(
        addresses(&agent, "second")[0].1[0],
        ip,
        "the same address again"
    );
    // Across an agent restart: the container keeps its network and is detached on destroy.
    let mut agent = agent;
    agent.stop();
    let agent = agent.restart();
    assert_eq!(
        addresses(&agent, "second")[0].1[0],
        ip,
        "{}",
        agent.log_text()
    );
    assert_eq!(bridge_ports(&bridge).len(), 1);
    destroy(&agent, "second");
    assert!(bridge_ports(&bridge).is_empty());
    assert!(cni.leases("rel").is_empty());
    assert!(nat_rules_with("second").is_empty());
    finish(agent);
}

#[test]
fn slave_recovery_detaches_orphans_at_start() {
    if skip("cni_orphans") {
        return;
    }
    let mut cni = Cni::new("orphans", 4);
    cni.bridge_network("orph", 0, false, vec![]);
    let bridge = cni.bridge_name(0);
    let mut agent = start(&cni, &[]);
    assert_eq!(
        launch(
            &agent,
            "orphan",
            "sleep 120",
            json!([{"name": "orph"}]),
            json!({})
        )
        .status,
        200
    );
    assert_eq!(bridge_ports(&bridge).len(), 1);
    // The agent dies and its container checkpoint goes: the network is an orphan's.
    agent.sigkill();
    let pid: Value = serde_json::from_slice(
        &std::fs::read(agent.runtime_dir.join("containers/orphan/pid")).unwrap_or_default(),
    )
    .unwrap_or(Value::Null);
    if let Some(p) = pid["pid"].as_i64() {
        // SAFETY: kill of a pid we read from our own agent's checkpoint.
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    let _ = std::fs::remove_dir_all(agent.work_dir.join("meta"));
    let _ = std::fs::remove_dir_all(agent.runtime_dir.join("containers"));
    let agent = agent.restart();
    let dir = cni_root(&agent.runtime_dir).join("orphan");
    Agent::eventually("the orphan detached", Duration::from_secs(60), || {
        !dir.exists()
    });
    Agent::eventually("veth gone", Duration::from_secs(10), || {
        bridge_ports(&bridge).is_empty()
    });
    assert!(cni.leases("orph").is_empty());
    finish(agent);
}

/// A launch that fails in a plugin: 400 with the message, nothing attached afterwards.
fn assert_fails_clean(agent: &Agent, cni: &Cni, id: &str, network: &str, message: &str) {
    let r = launch(agent, id, "echo ran", json!([{"name": network}]), json!({}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains(message), "{}", r.text());
    let w = agent.wait_json(id);
    assert_eq!(w["reason"], "REASON_CONTAINER_LAUNCH_FAILED", "{w}");
    let dir = cni_root(&agent.runtime_dir).join(id);
    Agent::eventually("detached", Duration::from_secs(30), || !dir.exists());
    assert!(cni.leases(network).is_empty(), "{:?}", cni.leases(network));
    assert!(bridge_ports(&cni.bridge_name(0)).is_empty());
    assert!(!stdout(agent, id).contains("ran"));
}

#[test]
fn failed_hanging_and_garbage_plugins_fail_the_launch_and_leave_nothing() {
    if skip("cni_failures") {
        return;
    }
    let mut cni = Cni::new("failures", 5);
    cni.fake_plugin(
        "fails",
        r#"[ "$CNI_COMMAND" = DEL ] && exit 0
echo '{"cniVersion": "1.0.0", "code": 11, "msg": "the fake plugin refuses", "details": "on purpose"}'; exit 1"#,
    );
    cni.fake_plugin(
        "hangs",
        r#"[ "$CNI_COMMAND" = DEL ] && exit 0
exec sleep 600"#,
    );
    cni.fake_plugin(
        "garbage",
        r#"cat >/dev/null; [ "$CNI_COMMAND" = DEL ] && exit 0
echo 'this is not json'"#,
    );
    // Each after a real bridge, so that there is something to undo.
    for (name, kind) in [("f1", "fails"), ("f2", "hangs"), ("f3", "garbage")] {
        cni.bridge_network(name, 0, false, vec![json!({"type": kind})]);
    }
    let agent = start(&cni, &["--network_cni_plugin_timeout=2secs"]);
    assert_fails_clean(
        &agent,
        &cni,
        "failed-plugin",
        "f1",
        "the fake plugin refuses: on purpose",
    );
    assert_fails_clean(&agent, &cni, "hung-plugin", "f2", "timed out");
    assert_fails_clean(&agent, &cni, "garbage-plugin", "f3", "not a JSON object");
    finish(agent);
}

#[test]
fn destroy_while_preparing() {
    if skip("cni_destroy_preparing") {
        return;
    }
    let mut cni = Cni::new("preparing", 6);
    cni.fake_plugin(
        "slow",
        r#"[ "$CNI_COMMAND" = DEL ] && exit 0
sleep 600"#,
    );
    cni.bridge_network("slow", 0, false, vec![json!({"type": "slow"})]);
    let agent = start(&cni, &[]);
    let socket = agent.socket.clone();
    let launcher = std::thread::spawn(move || {
        let client =
            mesolite::http::Client::new(&socket).with_timeout(Some(Duration::from_secs(60)));
        let body = json!({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": "slowpoke"},
            "command": {"value": "echo ran", "shell": true},
            "container": {"type": "MESOS", "network_infos": [{"name": "slow"}]}}});
        let r = client.post_json("/api/v1", &body).unwrap();
        (r.status, r.text())
    });
    Agent::eventually("the slow plugin runs", Duration::from_secs(20), || {
        agent
            .container("slowpoke")
            .is_some_and(|c| c["state"] == "ISOLATING")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(agent.kill("slowpoke", None).status, 200);
    let (status, text) = launcher.join().unwrap();
    assert_eq!(status, 400, "{text}");
    let w = agent.wait_json("slowpoke");
    assert_eq!(w["state"], "TASK_KILLED", "{w}");
    let dir = cni_root(&agent.runtime_dir).join("slowpoke");
    Agent::eventually("detached", Duration::from_secs(30), || !dir.exists());
    assert!(cni.leases("slow").is_empty());
    assert!(bridge_ports(&cni.bridge_name(0)).is_empty());
    finish(agent);
}

#[test]
fn dynamic_add_and_delete_of_cni_config() {
    if skip("cni_dynamic") {
        return;
    }
    let mut cni = Cni::new("dynamic", 7);
    let agent = start(&cni, &[]);
    let r = launch(
        &agent,
        "early",
        "sleep 60",
        json!([{"name": "later"}]),
        json!({}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("unknown CNI network 'later'"),
        "{}",
        r.text()
    );
    let conf = cni.bridge_network("later", 0, false, vec![]);
    let r = launch(
        &agent,
        "late",
        "sleep 60",
        json!([{"name": "later"}]),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    assert_eq!(cni.leases("later").len(), 1);
    // Gone from the directory: DEL still works from the checkpointed configuration.
    std::fs::remove_file(conf).unwrap();
    destroy(&agent, "late");
    assert!(cni.leases("later").is_empty());
    assert!(bridge_ports(&cni.bridge_name(0)).is_empty());
    finish(agent);
}

#[test]
fn override_hostname_and_resolver_config() {
    if skip("cni_etc") {
        return;
    }
    let mut cni = Cni::new("etc", 8);
    cni.bridge_network("etcnet", 0, false, vec![]);
    let agent = start(
        &cni,
        &["--default_container_dns=nameserver 192.0.2.53; search example.test"],
    );
    let r = launch(
        &agent,
        "named",
        "busybox hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf",
        json!([{"name": "etcnet"}]),
        json!({"hostname": "custom-host"}),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    let w = agent.wait_json("named");
    let out = stdout(&agent, "named");
    assert_eq!(w["exit_status"], 0, "{w}\n{out}");
    assert!(out.starts_with("custom-host\ncustom-host\n"), "{out}");
    assert!(out.contains("127.0.0.1 localhost"), "{out}");
    assert!(
        out.contains(&format!("{}.", cni.prefix(0))) && out.contains(" custom-host"),
        "{out}"
    );
    assert!(
        out.contains("nameserver 192.0.2.53\nsearch example.test"),
        "{out}"
    );
    // The host's files are untouched.
    assert!(!std::fs::read_to_string("/etc/hosts")
        .unwrap()
        .contains("custom-host"));
    // Without a hostname: the container ID.
    let r = launch(
        &agent,
        "unnamed",
        "busybox hostname",
        json!([{"name": "etcnet"}]),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    agent.wait_json("unnamed");
    assert_eq!(stdout(&agent, "unnamed").trim(), "unnamed");
    destroy(&agent, "named");
    destroy(&agent, "unnamed");
    finish(agent);
}

/// The statistics of `id` from /monitor/statistics.
fn statistics(agent: &Agent, id: &str) -> Value {
    let r = agent.client().get("/monitor/statistics").unwrap();
    let all: Value = r.json().unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|e| e["container_id"] == id)
        .map(|e| e["statistics"].clone())
        .unwrap_or(Value::Null)
}

// Needs the netlink layer (branch i14netlink): fails until it is merged.
#[test]
fn verify_resource_statistics_and_bandwidth_qdisc() {
    if skip("cni_statistics") {
        return;
    }
    let mut cni = Cni::new("stats", 9);
    cni.bridge_network(
        "bw",
        0,
        false,
        vec![json!({"type": "bandwidth", "capabilities": {"bandwidth": true}})],
    );
    let agent = start(&cni, &[]);
    let gateway = format!("{}.1", cni.prefix(0));
    let ifbs = || {
        let out = std::process::Command::new("ip")
            .args(["-o", "link", "show", "type", "ifb"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("bwp"))
            .count()
    };
    let ifbs_before = ifbs();
    let r = launch(
        &agent,
        "talker",
        &format!("busybox ping -c 20 -i 0.05 -s 1000 {gateway} >/dev/null; sleep 60"),
        json!([{"name": "bw", "labels": {"labels": [
            {"key": "bandwidth.egressRate", "value": "10000000"},
            {"key": "bandwidth.egressBurst", "value": "1000000"},
            {"key": "bandwidth.ingressRate", "value": "10000000"},
            {"key": "bandwidth.ingressBurst", "value": "1000000"}]}}]),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    let mut last = Value::Null;
    let counted = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        last = statistics(&agent, "talker");
        last["net_tx_bytes"].as_u64().unwrap_or(0) >= 20 * 1000
    });
    destroy(&agent, "talker");
    // The bandwidth plugin's ifb went with the DEL.
    assert_eq!(ifbs(), ifbs_before);
    finish(agent);
    assert!(counted, "net_tx_bytes after 20 KB sent: {last}");
    assert!(last["net_rx_packets"].as_u64().unwrap_or(0) > 0, "{last}");
    let tc = last["net_traffic_control_statistics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !tc.is_empty(),
        "tc statistics of the bandwidth qdisc: {last}"
    );
    assert!(
        tc.iter().any(|q| q["bytes"].as_u64().unwrap_or(0) > 0),
        "{tc:?}"
    );
}

#[test]
fn containers_without_networks_stay_on_the_host_network() {
    if skip("cni_host") {
        return;
    }
    let cni = Cni::new("host", 10);
    let agent = start(&cni, &[]);
    let r = agent.launch_shell("onhost", "readlink /proc/self/ns/net", json!([]));
    assert_eq!(r.status, 200, "{}", r.text());
    agent.wait_json("onhost");
    let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(stdout(&agent, "onhost").trim(), mine.to_string_lossy());
    assert!(!Path::new(&cni_root(&agent.runtime_dir).join("onhost")).exists());
    finish(agent);
}

#[test]
fn a_failed_del_keeps_the_namespace_and_checkpoint_and_remove_retries_it() {
    if skip("cni_del_retry") {
        return;
    }
    let mut cni = Cni::new("delretry", 6);
    let (count, failed) = (cni.dir.join("dels"), cni.dir.join("failed-once"));
    // Chained after the bridge: ADD passes the bridge's result on, the first DEL fails.
    cni.fake_plugin(
        "delonce",
        &format!(
            r#"if [ "$CNI_COMMAND" = DEL ]; then
  cat >/dev/null; echo DEL >> {count}
  [ -e {failed} ] && exit 0
  touch {failed}; echo '{{"code": 11, "msg": "DEL fails once"}}'; exit 1
fi
exec python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["prevResult"]))'"#,
            count = count.display(),
            failed = failed.display()
        ),
    );
    cni.bridge_network("dr", 0, false, vec![json!({"type": "delonce"})]);
    let agent = start(&cni, &[]);
    let r = launch(
        &agent,
        "flaky",
        "echo LIBPROCESS_IP=$LIBPROCESS_IP; sleep 60",
        json!([{"name": "dr"}]),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    Agent::eventually("the task's output", Duration::from_secs(10), || {
        stdout(&agent, "flaky").contains("LIBPROCESS_IP=")
    });
    assert!(
        stdout(&agent, "flaky").contains("LIBPROCESS_IP=0.0.0.0\n"),
        "{}",
        stdout(&agent, "flaky")
    );
    // The host network's containers get no LIBPROCESS_IP.
    let host = agent.launch_shell(
        "hostnet",
        "echo LIBPROCESS_IP=$LIBPROCESS_IP",
        common::resources(0.1, 32.0),
    );
    assert_eq!(host.status, 200, "{}", host.text());
    agent.wait_json("hostnet");
    assert!(stdout(&agent, "hostnet").contains("LIBPROCESS_IP=\n"));

    let dir = cni_root(&agent.runtime_dir).join("flaky");
    let ns = dir.join("ns");
    agent.kill("flaky", None);
    agent.wait_json("flaky");
    Agent::eventually("the failed DEL noted", Duration::from_secs(60), || {
        agent.log_text().contains("kept for a retry")
    });
    assert!(failed.exists());
    let mounted = || {
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(1) == Some(ns.to_str().unwrap()))
    };
    assert!(dir.join("dr/network.conf").exists(), "the checkpoint stays");
    assert!(mounted(), "the namespace stays bound for the retry");
    // REMOVE runs the owed DELs again, from the checkpoint, in the kept namespace.
    agent.remove("flaky");
    Agent::eventually("the DEL retried", Duration::from_secs(60), || !dir.exists());
    assert!(!mounted());
    let dels = std::fs::read_to_string(&count).unwrap();
    assert_eq!(dels.lines().count(), 2, "{dels}");
    assert!(bridge_ports(&cni.bridge_name(0)).is_empty());
    assert!(cni.leases("dr").is_empty(), "{:?}", cni.leases("dr"));
    finish(agent);
}
