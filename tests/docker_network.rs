//! Docker networks of DOCKER containers against a private dockerd on a bridge of the test's own
//! (iptables off: dockerd's userland proxy publishes the ports): Mesos's NC_PortMapping (network
//! BRIDGE, a host port reaches the container's server) and network USER (a named Docker
//! network, the container reachable at its address on it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod dockerd_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::{resources, root_or_skip, Agent};
use dockerd_support::Dockerd;
use serde_json::{json, Value};

const IMAGE: &str = "mesolite-test/busybox:1";

/// busybox httpd on port 8080 serving `text`.
fn server(text: &str) -> Value {
    json!({"value": format!(
        "mkdir /tmp/www && echo {text} > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www")})
}

/// `GET /index.html` from `addr`, retried until the server answers.
fn http_get(addr: &str) -> String {
    let mut body = String::new();
    Agent::eventually(
        &format!("an answer from {addr}"),
        Duration::from_secs(30),
        || {
            let Ok(mut s) = TcpStream::connect(addr) else {
                return false;
            };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            body.clear();
            s.read_to_string(&mut body).is_ok() && body.contains("200 OK")
        },
    );
    body
}

/// A Linux bridge of the test's own, deleted when dropped.
struct Bridge(String);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

#[test]
fn docker_bridge_port_mapping_and_user_network() {
    if !root_or_skip("docker_network") {
        return;
    }
    let pid = std::process::id();
    let Some((_one, dir)) = dockerd_support::scratch("dockernet") else {
        return;
    };
    // Unique names and subnets: other tests and helpers run beside this one.
    let bridge = Bridge(format!("mlbr{}", pid % 100_000));
    let net = pid % 200 + 20;
    ip(&["link", "add", "name", &bridge.0, "type", "bridge"]);
    ip(&[
        "addr",
        "add",
        &format!("10.251.{net}.1/24"),
        "dev",
        &bridge.0,
    ]);
    ip(&["link", "set", &bridge.0, "up"]);
    let bridge_flag = format!("--bridge={}", bridge.0);
    let Some(docker) = Dockerd::start_with(
        &dir.join("docker"),
        &[&bridge_flag, "--ip-forward=false", "--ip-masq=false"],
    ) else {
        return;
    };
    docker.import_busybox(&dir, IMAGE);
    let socket_flag = format!(
        "--docker_socket={}",
        dir.join("docker/docker.sock").display()
    );
    let agent = Agent::start(&["--containerizers=docker", &socket_flag]);
    let host_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    // NC_PortMapping: host_port → container port 8080 over BRIDGE.
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "pm"}, "command": server("hello-bridge"),
        "resources": resources(0.1, 32.0),
        "container": {"type": "DOCKER", "docker": {"image": IMAGE, "network": "BRIDGE",
            "port_mappings": [{"host_port": host_port, "container_port": 8080}]}}}}));
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    let body = http_get(&format!("127.0.0.1:{host_port}"));
    assert!(body.contains("hello-bridge"), "{body}");
    let bound = docker.run(&["port", "mesos-pm"]);
    assert!(bound.contains(&format!(":{host_port}")), "{bound}");

    // USER: a named Docker network; the container answers at its address on it.
    let name = format!("mlnet{pid}");
    docker.run(&[
        "network",
        "create",
        "--driver=bridge",
        &format!("--subnet=10.252.{net}.0/24"),
        &name,
    ]);
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "un"}, "command": server("hello-user"),
        "resources": resources(0.1, 32.0),
        "container": {"type": "DOCKER", "network_infos": [{"name": name}],
            "docker": {"image": IMAGE, "network": "USER"}}}}));
    assert_eq!(r.status, 200, "{}\n{}", r.text(), agent.log_text());
    let template = format!("{{{{(index .NetworkSettings.Networks \"{name}\").IPAddress}}}}");
    let addr = docker.run(&["inspect", "-f", &template, "mesos-un"]);
    let addr = addr.trim();
    assert!(addr.starts_with(&format!("10.252.{net}.")), "{addr}");
    let body = http_get(&format!("{addr}:8080"));
    assert!(body.contains("hello-user"), "{body}");

    for id in ["pm", "un"] {
        assert_eq!(agent.kill(id, Some(9)).status, 200);
        assert_eq!(agent.wait_json(id)["state"], "TASK_KILLED", "{id}");
        assert_eq!(agent.remove(id).status, 200);
    }
    Agent::eventually("the containers removed", Duration::from_secs(30), || {
        docker.run(&["ps", "-aq"]).trim().is_empty()
    });
    docker.run(&["network", "rm", &name]);
    drop(agent);
    drop(docker);
    drop(bridge);
    let _ = std::fs::remove_dir_all(&dir);
}
