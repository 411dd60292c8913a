//! Acceptance 6: bad input never crashes the agent and never disturbs running containers; each
//! gets a status code and a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use serde_json::json;

fn raw(agent: &Agent, request: &[u8]) -> String {
    let mut s = UnixStream::connect(&agent.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn bad_requests_get_a_status_and_a_message_and_disturb_nothing() {
    if !root_or_skip("bad_requests") {
        return;
    }
    let agent = Agent::start(&[]);
    assert_eq!(
        agent.launch_shell("steady", "sleep 1000", json!([])).status,
        200
    );
    let c = agent.client();
    let post = |ct: Option<&str>, body: &[u8]| {
        let mut h = vec![];
        if let Some(ct) = ct {
            h.push(("Content-Type", ct));
        }
        c.request("POST", "/api/v1", &h, body).unwrap()
    };
    let cases: Vec<(u16, mesolite::http::ClientResponse)> = vec![
        (400, post(Some("application/json"), b"{not json")),
        (400, post(Some("application/json"), br#"{"type": "FLY_TO_THE_MOON"}"#)),
        (400, post(Some("application/json"), br#"{"no_type": 1}"#)),
        (400, post(None, br#"{"type": "GET_HEALTH"}"#)),
        (415, post(Some("text/plain"), br#"{"type": "GET_HEALTH"}"#)),
        (415, post(Some("application/x-protobuf"), b"\x08\x01")),
        (413, post(Some("application/json"), &vec![b' '; 2 * 1024 * 1024])),
        (400, post(Some("application/json"), br#"{"type":"LAUNCH_CONTAINER","launch_container":{"container_id":{"value":"bad/id"},"command":{"value":"true"}}}"#)),
        (400, post(Some("application/json"), br#"{"type":"LAUNCH_CONTAINER","launch_container":{"container_id":{"value":"x"},"command":{"value":"true"},"resources":[{"name":"bogus","type":"SCALAR","scalar":{"value":1}}]}}"#)),
        (400, post(Some("application/json"), br#"{"type":"KILL_CONTAINER","kill_container":{"container_id":{"value":"steady"},"signal":999}}"#)),
        (405, c.request("GET", "/api/v1", &[], b"").unwrap()),
        (404, c.get("/no/such/endpoint").unwrap()),
        (406, c.request("POST", "/api/v1", &[("Content-Type", "application/json"), ("Accept", "application/x-protobuf")], br#"{"type":"GET_HEALTH"}"#).unwrap()),
    ];
    for (want, got) in cases {
        assert_eq!(got.status, want, "body: {}", got.text());
        assert!(
            !got.text().trim().is_empty(),
            "status {want} must say what was wrong"
        );
    }
    // Malformed HTTP itself.
    assert_eq!(status_of(&raw(&agent, b"GARBAGE\r\n\r\n")), 400);
    assert_eq!(
        status_of(&raw(
            &agent,
            b"POST /api/v1 HTTP/1.1\r\nContent-Length: abc\r\n\r\n"
        )),
        400
    );
    let huge_header = format!(
        "GET /health HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(status_of(&raw(&agent, huge_header.as_bytes())), 431);
    // The agent is alive and the container undisturbed.
    assert_eq!(agent.container("steady").unwrap()["state"], "RUNNING");
    assert_eq!(c.get("/health").unwrap().status, 200);
}

#[test]
fn a_stalled_client_does_not_stop_others_and_is_dropped() {
    if !root_or_skip("stalled_client") {
        return;
    }
    let agent = Agent::start(&["--http_request_timeout=2secs"]);
    let mut stalled = UnixStream::connect(&agent.socket).unwrap();
    stalled.write_all(b"POST /api/v1 HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ty").unwrap();
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(UnixStream::connect(&agent.socket).unwrap());
    }
    let t0 = Instant::now();
    for _ in 0..20 {
        assert_eq!(agent.client().get("/health").unwrap().status, 200);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "others were held up: {:?}",
        t0.elapsed()
    );
    // After the request timeout the stalled client is answered 408 and closed.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let _ = stalled.read_to_end(&mut out);
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn keep_alive_and_pipelining_work() {
    if !root_or_skip("keep_alive") {
        return;
    }
    let agent = Agent::start(&[]);
    let mut s = UnixStream::connect(&agent.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = br#"{"type":"GET_HEALTH"}"#;
    let one = format!(
        "POST /api/v1 HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        String::from_utf8_lossy(body)
    );
    s.write_all(format!("{one}{one}GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(out.matches("HTTP/1.1 200").count(), 3, "{out}");
    assert_eq!(out.matches("\"healthy\":true").count(), 2, "{out}");
}

#[test]
fn files_read_serves_sandbox_files_only() {
    if !root_or_skip("files_read") {
        return;
    }
    let agent = Agent::start(&[]);
    assert_eq!(
        agent
            .launch_shell("f", "echo hello-files", json!([]))
            .status,
        200
    );
    agent.wait_json("f");
    let path = agent.sandbox("f").join("stdout");
    let c = agent.client();
    let r = c
        .get(&format!("/files/read?path={}&offset=0", path.display()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["data"], "hello-files\n");
    let r = c
        .get(&format!("/files/read?path={}&offset=-1", path.display()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["offset"], 12);
    let r = c
        .get(&format!(
            "/files/read?path={}&offset=6&length=5",
            path.display()
        ))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["data"], "files");
    assert_eq!(c.get("/files/read?path=/etc/passwd").unwrap().status, 404);
    let escape = format!(
        "/files/read?path={}/../../../../etc/passwd",
        agent.sandbox("f").display()
    );
    assert_eq!(c.get(&escape).unwrap().status, 404);
    assert_eq!(c.get("/files/read").unwrap().status, 400);
}

#[test]
fn network_infos_are_checked_and_need_a_network_isolator() {
    if !root_or_skip("network_infos") {
        return;
    }
    let agent = Agent::start(&[]);
    let c = agent.client();
    let launch = |id: &str, networks: serde_json::Value| {
        c.post_json(
            "/api/v1",
            &json!({"type": "LAUNCH_CONTAINER", "launch_container": {
                "container_id": {"value": id}, "command": {"value": "true"},
                "container": {"type": "MESOS", "network_infos": networks}}}),
        )
        .unwrap()
    };
    // The API example's network: well formed, but no enabled isolator gives containers a network.
    let r = launch(
        "net",
        json!([{"name": "bridge-net", "ip_addresses": [{"protocol": "IPv4"}],
                "port_mappings": [{"host_port": 31000, "container_port": 8080, "protocol": "tcp"}]}]),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.text().trim_end(),
        "'network_infos' needs the 'network/cni' isolator, which is not in --isolation"
    );
    // Malformed ones are refused with the field named.
    let r = launch(
        "bad-port",
        json!([{"name": "n", "port_mappings": [{"host_port": 0, "container_port": 80}]}]),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text()
            .contains("'container.network_infos[0].port_mappings[0].host_port'"),
        "{}",
        r.text()
    );
    let r = launch(
        "bad-ip",
        json!([{"name": "n", "ip_addresses": [{"protocol": "IPv4", "ip_address": "fd00::1"}]}]),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("is not an IPv4 address"), "{}", r.text());
    // The host's network (no name) is what every container has: it launches.
    let r = launch(
        "host-net",
        json!([{"ip_addresses": [{"protocol": "IPv4"}]}]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        agent.container("net").is_none(),
        "a refused launch keeps nothing"
    );
}
