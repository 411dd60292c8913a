//! `/monitor/statistics` streamed in slices: many containers arrive complete in chunks, other
//! requests are answered while a big answer is still being written, a client that goes away
//! mid-stream costs the agent nothing, and HEAD, HTTP/1.0 and pipelined requests keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{resources, root_or_skip, Agent};
use mesolite::http::{parse_response_with, ParseResponse, ResponseContext};
use serde_json::Value;

/// A generous hang catcher, never a latency figure.
const HANG: Duration = Duration::from_secs(20);

const STATS: &[u8] = b"GET /monitor/statistics HTTP/1.1\r\nHost: x\r\n\r\n";

/// One response's headers and body.
type Answer = (Vec<(String, String)>, Vec<u8>);

fn connect(agent: &Agent) -> UnixStream {
    let s = UnixStream::connect(&agent.socket).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    s.set_write_timeout(Some(HANG)).unwrap();
    s
}

/// Reads responses from `s` until `n` are complete (or the peer closes: then what is left
/// is a close-delimited body); `head` says the requests were HEAD.
fn read_responses(s: &mut UnixStream, n: usize, head: bool) -> Vec<Answer> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut at_eof = false;
    let deadline = Instant::now() + HANG;
    while out.len() < n {
        assert!(Instant::now() < deadline, "responses did not arrive");
        let ctx = ResponseContext {
            request_was_head: head,
            at_eof,
        };
        match parse_response_with(&buf, 64 << 20, ctx) {
            ParseResponse::Complete {
                status,
                headers,
                body,
                consumed,
            } => {
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                buf.drain(..consumed);
                out.push((headers, body));
                continue;
            }
            ParseResponse::Error(e) => panic!("bad response: {e:?}"),
            ParseResponse::Incomplete => {}
        }
        assert!(!at_eof, "closed before {n} responses");
        let got = s.read(&mut chunk).unwrap();
        at_eof = got == 0;
        buf.extend_from_slice(&chunk[..got]);
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The entries of a statistics body, each checked for the fields every container has.
fn entries(body: &[u8]) -> Vec<Value> {
    let list: Vec<Value> = serde_json::from_slice(body).unwrap();
    for e in &list {
        let id = e["container_id"].as_str().unwrap();
        assert_eq!(e["executor_id"], id);
        assert_eq!(e["source"], id);
        assert_eq!(e["framework_id"], "");
        let s = &e["statistics"];
        assert!(s["timestamp"].as_f64().unwrap() > 0.0, "{e}");
        assert!(s["mem_total_bytes"].as_u64().unwrap() > 0, "{e}");
        assert_eq!(s["mem_limit_bytes"], 16 << 20, "{e}");
        assert!(s["processes"].as_u64().unwrap() >= 1, "{e}");
        assert!(s["threads"].as_u64().unwrap() >= s["processes"].as_u64().unwrap());
        assert!(s["cpus_user_time_secs"].as_f64().is_some(), "{e}");
    }
    list
}

fn launch_sleepers(agent: &Agent, n: usize) {
    for i in 0..n {
        let r = agent.launch_shell(&format!("s{i}"), "sleep 1000", resources(0.01, 16.0));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

#[test]
fn statistics_of_many_containers_stream_while_other_requests_are_served() {
    if !root_or_skip("statistics_stream") {
        return;
    }
    const N: usize = 60;
    let agent = Agent::start(&[]);
    launch_sleepers(&agent, N);

    // Chunked, complete, one entry per container; the keep-alive connection then serves more.
    let mut s = connect(&agent);
    s.write_all(STATS).unwrap();
    let (headers, body) = read_responses(&mut s, 1, false).remove(0);
    assert_eq!(header(&headers, "transfer-encoding"), Some("chunked"));
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(entries(&body).len(), N);
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_responses(&mut s, 1, false);

    // A client that reads nothing has pipelined far more statistics than the socket holds, so
    // its answers are still being made; /health on another connection is answered meanwhile.
    const PIPELINED: usize = 30;
    let mut slow = connect(&agent);
    slow.write_all(&STATS.repeat(PIPELINED)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let mut h = connect(&agent);
    h.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_responses(&mut h, 1, false);
    eprintln!(
        "/health while {PIPELINED} statistics answers wait: {:?}",
        t0.elapsed()
    );
    // Every one of them then arrives whole, in order, each with every container.
    let answers = read_responses(&mut slow, PIPELINED, false);
    for (_, body) in &answers {
        assert_eq!(entries(body).len(), N);
    }

    // A client that goes away in the middle of its answers costs nothing.
    let mut gone = connect(&agent);
    gone.write_all(&STATS.repeat(PIPELINED)).unwrap();
    let mut some = [0u8; 4096];
    assert!(gone.read(&mut some).unwrap() > 0);
    drop(gone);
    let c = agent.client();
    assert_eq!(c.get("/health").unwrap().status, 200);
    let body = c.get("/monitor/statistics").unwrap().body;
    assert_eq!(entries(&body).len(), N);

    // HEAD: the head alone, and the connection goes on; HTTP/1.0: the body ends at the close.
    let mut s = connect(&agent);
    s.write_all(b"HEAD /monitor/statistics HTTP/1.1\r\nHost: x\r\n\r\nHEAD /version HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let heads = read_responses(&mut s, 2, true);
    assert_eq!(header(&heads[0].0, "transfer-encoding"), Some("chunked"));
    assert!(header(&heads[1].0, "content-length").is_some());
    s.write_all(STATS).unwrap();
    let (_, body) = read_responses(&mut s, 1, false).remove(0);
    assert_eq!(entries(&body).len(), N, "HEAD left no body behind");
    let mut old = connect(&agent);
    old.write_all(b"GET /monitor/statistics HTTP/1.0\r\n\r\n")
        .unwrap();
    let (headers, body) = read_responses(&mut old, 1, false).remove(0);
    assert_eq!(header(&headers, "transfer-encoding"), None);
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert_eq!(entries(&body).len(), N);

    // The agent is still the one it was.
    let log = agent.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(agent.containers().len(), N);
}

#[test]
fn posix_measured_containers_share_one_proc_walk_and_each_get_their_own_tree() {
    if !root_or_skip("statistics_posix") {
        return;
    }
    let agent = Agent::start(&["--launcher=posix", "--isolation=posix/cpu,posix/mem"]);
    // Trees of 1, 2 and 3 processes under their shells.
    for (id, cmd) in [
        ("one", "exec sleep 1000"),
        ("two", "sleep 1000"),
        ("three", "sleep 1000 & sleep 1000"),
    ] {
        assert_eq!(
            agent.launch_shell(id, cmd, serde_json::json!([])).status,
            200
        );
    }
    Agent::eventually("every tree started", HANG, || {
        let body = agent.client().get("/monitor/statistics").unwrap().body;
        let list: Vec<Value> = serde_json::from_slice(&body).unwrap();
        let processes = |id: &str| {
            list.iter()
                .find(|e| e["container_id"] == id)
                .and_then(|e| e["statistics"]["processes"].as_u64())
        };
        list.iter()
            .all(|e| e["statistics"]["mem_rss_bytes"].as_u64() > Some(0))
            && list.len() == 3
            // The init's own process is in each tree.
            && processes("one") == Some(2)
            && processes("two") == Some(3)
            && processes("three") == Some(4)
    });
}
