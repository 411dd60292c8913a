//! The JSON both ways (bodies as etcd 3.4's gateway sends them, captured from a real member),
//! and the client in a real mio loop against members that refuse, stall or answer.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use serde_json::json;

use super::response::{error_answer, parse};
use super::watch::{parse_message, Message, WatchState};
use super::*;
use crate::event::Source;
use crate::timer::TimerKind;

const HEADER: &str =
    r#""header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"2"}"#;

fn ep() -> Endpoint {
    Endpoint::new(SocketAddr::from(([127, 0, 0, 1], 2379)))
}

#[test]
fn requests_encode_as_the_gateway_reads_them() {
    assert_eq!(
        Request::put("foo", "bar", Some(42)).body(),
        json!({"key": "Zm9v", "value": "YmFy", "lease": "42"})
    );
    assert_eq!(
        Request::put("k", "", None).body(),
        json!({"key": "aw==", "value": ""})
    );
    assert_eq!(Request::get("foo").body(), json!({"key": "Zm9v"}));
    assert_eq!(
        Request::range_prefix("/a/").body(),
        json!({"key": "L2Ev", "range_end": "L2Ew"})
    );
    let mut range = Range::new(KeyRange::key("foo"));
    range.revision = Some(5);
    range.limit = Some(1);
    assert_eq!(
        Request::Op(Op::Range(range)).body(),
        json!({"key": "Zm9v", "revision": "5", "limit": "1"})
    );
    assert_eq!(Request::delete("foo").path(), "/v3/kv/deleterange");
    let txn = Request::txn(
        vec![
            Compare::absent("foo"),
            Compare::mod_revision("foo", 9),
            Compare::new("foo", Target::Version(2), CompareResult::Greater),
            Compare::new("foo", Target::Value(b"v".to_vec()), CompareResult::NotEqual),
            Compare::new("foo", Target::Lease(3), CompareResult::Less),
        ],
        vec![Op::put("foo", "bar", None), Op::delete("foo")],
        vec![Op::get("foo")],
    );
    assert_eq!(txn.path(), "/v3/kv/txn");
    assert_eq!(
        txn.body(),
        json!({
            "compare": [
                {"key": "Zm9v", "target": "CREATE", "result": "EQUAL", "create_revision": "0"},
                {"key": "Zm9v", "target": "MOD", "result": "EQUAL", "mod_revision": "9"},
                {"key": "Zm9v", "target": "VERSION", "result": "GREATER", "version": "2"},
                {"key": "Zm9v", "target": "VALUE", "result": "NOT_EQUAL", "value": "dg=="},
                {"key": "Zm9v", "target": "LEASE", "result": "LESS", "lease": "3"},
            ],
            "success": [
                {"request_put": {"key": "Zm9v", "value": "YmFy"}},
                {"request_delete_range": {"key": "Zm9v"}},
            ],
            "failure": [{"request_range": {"key": "Zm9v"}}],
        })
    );
    assert_eq!(Request::LeaseGrant { ttl: 10 }.body(), json!({"TTL": "10"}));
    assert_eq!(Request::LeaseKeepAlive(-7).body(), json!({"ID": "-7"}));
    assert_eq!(Request::LeaseRevoke(7).path(), "/v3/lease/revoke");
    assert_eq!(
        request::watch_body(&KeyRange::prefix("/w/"), 12),
        json!({"create_request": {"key": "L3cv", "range_end": "L3cw", "start_revision": "12"}})
    );
    assert_eq!(
        request::watch_body(&KeyRange::key("k"), 0),
        json!({"create_request": {"key": "aw=="}})
    );
}

#[test]
fn prefixes_end_after_their_last_key() {
    let end = |p: &[u8]| KeyRange::prefix(p.to_vec()).range_end;
    assert_eq!(end(b"/a/"), b"/a0");
    assert_eq!(end(&[b'a', 0xff]), b"b");
    assert_eq!(end(&[0xff, 0xff]), [0]);
    assert_eq!(end(b""), [0], "every key");
    assert!(KeyRange::key("x").range_end.is_empty());
}

#[test]
fn answers_parse_into_typed_responses() {
    let put = format!("{{{HEADER}}}");
    assert_eq!(
        parse(&Request::put("a", "b", None), ep(), put.as_bytes()),
        Ok(Response::Put { revision: 7 })
    );
    let range = format!(
        r#"{{{HEADER},"kvs":[{{"key":"Zm9v","create_revision":"2","mod_revision":"5","version":"4","value":"YmFy","lease":"12"}}],"count":"1"}}"#
    );
    let Ok(Response::Range {
        revision,
        kvs,
        count,
        more,
    }) = parse(&Request::get("foo"), ep(), range.as_bytes())
    else {
        panic!()
    };
    assert_eq!((revision, count, more), (7, 1, false));
    assert_eq!(
        kvs,
        [Kv {
            key: b"foo".to_vec(),
            value: b"bar".to_vec(),
            create_revision: 2,
            mod_revision: 5,
            version: 4,
            lease: 12,
        }]
    );
    // proto3 leaves out what is empty: no kvs, no count.
    assert_eq!(
        parse(&Request::get("none"), ep(), put.as_bytes()),
        Ok(Response::Range {
            revision: 7,
            kvs: vec![],
            count: 0,
            more: false
        })
    );
    let deleted = format!(r#"{{{HEADER},"deleted":"1"}}"#);
    assert_eq!(
        parse(&Request::delete("a"), ep(), deleted.as_bytes()),
        Ok(Response::Delete {
            revision: 7,
            deleted: 1
        })
    );
    let grant = format!(r#"{{{HEADER},"ID":"4111120417433179912","TTL":"5"}}"#);
    assert_eq!(
        parse(&Request::LeaseGrant { ttl: 5 }, ep(), grant.as_bytes()),
        Ok(Response::LeaseGrant {
            revision: 7,
            id: 4111120417433179912,
            ttl: 5
        })
    );
    assert_eq!(
        parse(&Request::LeaseRevoke(1), ep(), put.as_bytes()),
        Ok(Response::LeaseRevoke { revision: 7 })
    );
    assert!(matches!(
        parse(&Request::get("a"), ep(), b"{\"kvs\":[{\"key\":\"!!\"}]}"),
        Err(EtcdError::BadAnswer { .. })
    ));
    assert!(matches!(
        parse(&Request::get("a"), ep(), b"not json"),
        Err(EtcdError::BadAnswer { .. })
    ));
}

#[test]
fn transactions_answer_for_the_branch_that_ran() {
    let txn = Request::txn(
        vec![Compare::absent("foo")],
        vec![Op::put("foo", "x", None)],
        vec![Op::get("foo")],
    );
    let won = format!(
        r#"{{{HEADER},"succeeded":true,"responses":[{{"response_put":{{"header":{{"revision":"7"}}}}}}]}}"#
    );
    assert_eq!(
        parse(&txn, ep(), won.as_bytes()),
        Ok(Response::Txn {
            revision: 7,
            succeeded: true,
            responses: vec![Response::Put { revision: 7 }]
        })
    );
    let lost = format!(
        r#"{{{HEADER},"responses":[{{"response_range":{{"header":{{"revision":"7"}},"kvs":[{{"key":"Zm9v","value":"eA==","mod_revision":"3"}}],"count":"1"}}}}]}}"#
    );
    let Ok(Response::Txn {
        succeeded: false,
        responses,
        ..
    }) = parse(&txn, ep(), lost.as_bytes())
    else {
        panic!()
    };
    let [Response::Range { kvs, .. }] = &responses[..] else {
        panic!("{responses:?}")
    };
    assert_eq!(kvs[0].value_str(), "x");
    // A branch without ops answers without responses; a mismatch is an error.
    let bare = Request::txn(vec![Compare::absent("foo")], vec![], vec![]);
    assert!(matches!(
        parse(&bare, ep(), format!("{{{HEADER}}}").as_bytes()),
        Ok(Response::Txn { succeeded: false, ref responses, .. }) if responses.is_empty()
    ));
    assert!(matches!(
        parse(
            &txn,
            ep(),
            format!("{{{HEADER},\"succeeded\":true}}").as_bytes()
        ),
        Err(EtcdError::BadAnswer { .. })
    ));
}

#[test]
fn keep_alive_answers_are_a_stream_of_one() {
    let body = format!("{{\"result\":{{{HEADER},\"ID\":\"9\",\"TTL\":\"5\"}}}}\n");
    assert_eq!(
        parse(&Request::LeaseKeepAlive(9), ep(), body.as_bytes()),
        Ok(Response::LeaseKeepAlive { id: 9, ttl: 5 })
    );
    // etcd answers an unknown lease without a TTL.
    let unknown = format!("{{\"result\":{{{HEADER},\"ID\":\"9\"}}}}\n");
    assert_eq!(
        parse(&Request::LeaseKeepAlive(9), ep(), unknown.as_bytes()),
        Err(EtcdError::LeaseNotFound {
            endpoint: ep(),
            lease: 9
        })
    );
    let refused = br#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}
"#;
    let err = parse(&Request::LeaseKeepAlive(9), ep(), refused).unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}

#[test]
fn error_answers_carry_code_message_and_member() {
    let unary = br#"{"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14}"#;
    let err = error_answer(503, unary, ep(), None);
    assert_eq!(
        err,
        EtcdError::Server {
            endpoint: ep(),
            status: 503,
            code: Some(14),
            message: "etcdserver: request timed out".into()
        }
    );
    assert!(err.is_unavailable());
    assert_eq!(
        err.to_string(),
        "etcd at http://127.0.0.1:2379: etcdserver: request timed out (HTTP 503, code 14)"
    );
    let stream = br#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}"#;
    assert!(matches!(
        error_answer(503, stream, ep(), None),
        EtcdError::Server { code: Some(14), ref message, .. } if message == "etcdserver: no leader"
    ));
    let bad = br#"{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}"#;
    let err = error_answer(400, bad, ep(), Some(&Request::put("", "", None)));
    assert!(!err.is_unavailable(), "the request is at fault: {err}");
    let lease = br#"{"error":"etcdserver: requested lease not found","code":5}"#;
    assert_eq!(
        error_answer(404, lease, ep(), Some(&Request::LeaseRevoke(3))),
        EtcdError::LeaseNotFound {
            endpoint: ep(),
            lease: 3
        }
    );
    assert_eq!(
        error_answer(404, lease, ep(), Some(&Request::put("k", "v", Some(4)))),
        EtcdError::LeaseNotFound {
            endpoint: ep(),
            lease: 4
        }
    );
    let err = error_answer(404, b"Not Found\n", ep(), None);
    assert!(
        matches!(err, EtcdError::Server { status: 404, code: None, ref message, .. } if message == "Not Found")
    );
}

#[test]
fn watch_messages_parse_and_advance_the_revision() {
    let created = format!("{{\"result\":{{{HEADER},\"created\":true}}}}");
    assert_eq!(
        parse_message(created.as_bytes(), ep()),
        Message::Created { revision: 7 }
    );
    // PUT is the enum's default: proto3 leaves it out.
    let events = r#"{"result":{"header":{"revision":"9"},"events":[{"kv":{"key":"YQ==","mod_revision":"8","value":"MQ=="}},{"type":"DELETE","kv":{"key":"Yg==","mod_revision":"9"}}]}}"#;
    let Message::Events(evs) = parse_message(events.as_bytes(), ep()) else {
        panic!()
    };
    assert_eq!(
        evs.iter()
            .map(|e| (e.kind, e.kv.key_str(), e.kv.mod_revision))
            .collect::<Vec<_>>(),
        [
            (EventKind::Put, "a".into(), 8),
            (EventKind::Delete, "b".into(), 9)
        ]
    );
    let compacted =
        r#"{"result":{"header":{"raft_term":"30"},"canceled":true,"compact_revision":"4"}}"#;
    assert_eq!(
        parse_message(compacted.as_bytes(), ep()),
        Message::Canceled {
            compact_revision: 4,
            reason: String::new()
        }
    );
    let no_leader =
        br#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}"#;
    let Message::Error(e) = parse_message(no_leader, ep()) else {
        panic!()
    };
    assert!(e.is_unavailable());
    assert!(matches!(
        parse_message(
            b"{\"result\":{\"events\":[{\"type\":\"X\",\"kv\":{}}]}}",
            ep()
        ),
        Message::Error(EtcdError::BadAnswer { .. })
    ));

    // From now: the created message's revision says where "now" is.
    let mut w = WatchState::new(KeyRange::key("a"), 0);
    assert_eq!(w.advance(&Message::Created { revision: 7 }), 7);
    w.established = true;
    assert_eq!(w.advance(&Message::Events(evs.clone())), 9);
    assert_eq!(w.next, 10);
    // From a past revision: only events move it (headers run ahead of a catching-up watch).
    let mut w = WatchState::new(KeyRange::key("a"), 3);
    assert_eq!(w.advance(&Message::Created { revision: 50 }), 2);
    assert_eq!(w.advance(&Message::Progress { revision: 50 }), 2);
    assert_eq!(w.advance(&Message::Events(evs)), 9);
    w.established = true;
    assert_eq!(w.advance(&Message::Progress { revision: 50 }), 50);
}

#[test]
fn stream_lines_are_whole_messages() {
    let mut w = WatchState::new(KeyRange::key("a"), 0);
    assert!(w.lines(b"{\"a\":").unwrap().is_empty());
    assert_eq!(w.lines(b"1}\n\n{\"b\"").unwrap(), [b"{\"a\":1}\n".to_vec()]);
    assert_eq!(w.lines(b":2}\n").unwrap(), [b"{\"b\":2}\n".to_vec()]);
    w.restart();
    assert!(w.lines(&vec![b'x'; 17 * 1024 * 1024]).is_err());
}

#[test]
fn endpoints_parse_from_the_flag() {
    let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
    assert_eq!(e.to_string(), "http://127.0.0.1:2379");
    assert_eq!(Endpoint::parse("127.0.0.1:2379/").unwrap(), e);
    assert_eq!(
        Endpoint::parse("http://[::1]:2379").unwrap().addr().port(),
        2379
    );
    assert_eq!(
        Endpoint::parse("http://localhost:2379")
            .unwrap()
            .addr()
            .port(),
        2379
    );
    for bad in [
        "https://127.0.0.1:2379",
        "http://127.0.0.1",
        "http://h:x",
        "",
        "http://a:1/v3",
    ] {
        assert!(Endpoint::parse(bad).is_err(), "{bad}");
    }
    let list = Endpoint::parse_list("http://127.0.0.1:1,http://127.0.0.1:2,").unwrap();
    assert_eq!(list.len(), 2);
    assert!(Etcd::new(Vec::new(), Duration::from_secs(1)).is_err());
}

/// The client in a mio loop, until `n` events are heard (at most 10 s).
fn run(etcd: &mut Etcd, poll: &mut Poll, timers: &mut Timers, n: usize) -> Vec<EtcdEvent> {
    let mut heard = Vec::new();
    let mut events = Events::with_capacity(16);
    let start = Instant::now();
    while heard.len() < n {
        assert!(start.elapsed() < Duration::from_secs(10), "hung: {heard:?}");
        timers.tick();
        let wait = timers
            .next_timeout()
            .map_or(Duration::from_millis(50), |t| {
                t.min(Duration::from_millis(50))
            });
        poll.poll(&mut events, Some(wait)).unwrap();
        for e in events.iter() {
            if let Some(Source::Etcd(conn)) = Source::from_token(e.token()) {
                heard.extend(etcd.on_event(conn, poll.registry(), timers));
            }
        }
        for kind in timers.expired() {
            if let TimerKind::Etcd(conn) = kind {
                heard.extend(etcd.on_timer(conn, poll.registry(), timers));
            }
        }
    }
    heard
}

/// A port nothing listens on.
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn refused_and_silent_members_are_left_for_one_that_answers() {
    let (mut poll, mut timers) = (Poll::new().unwrap(), Timers::default());
    // Listening but never accepting: connects complete, nothing is answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let answering = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoints = vec![
        Endpoint::new(closed_port()),
        Endpoint::new(silent.local_addr().unwrap()),
        Endpoint::new(answering.local_addr().unwrap()),
    ];
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = answering.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.ends_with(b"}") {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            let body = format!("{{{HEADER}}}");
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(answer.as_bytes()).unwrap();
            requests.push(String::from_utf8(got).unwrap());
        }
        requests
    });
    let timeout = Duration::from_millis(300);
    let mut etcd = Etcd::new(endpoints.clone(), timeout).unwrap();
    let t = Instant::now();
    let id = etcd.submit(Request::put("k", "v", None), poll.registry(), &mut timers);
    let heard = run(&mut etcd, &mut poll, &mut timers, 1);
    assert_eq!(
        heard,
        [EtcdEvent::Reply {
            id,
            result: Ok(Response::Put { revision: 7 })
        }]
    );
    assert!(t.elapsed() >= timeout, "the silent one was waited for");
    assert_eq!(etcd.preferred(), endpoints[2], "the one that answered");
    // The next goes straight there.
    let t = Instant::now();
    let id = etcd.submit(Request::put("k", "v", None), poll.registry(), &mut timers);
    assert!(matches!(
        &run(&mut etcd, &mut poll, &mut timers, 1)[..],
        [EtcdEvent::Reply { id: i, result: Ok(_) }] if *i == id
    ));
    assert!(t.elapsed() < timeout);
    let requests = server.join().unwrap();
    assert!(
        requests[0].starts_with("POST /v3/kv/put HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    assert!(requests[0].contains("Grpc-Metadata-Hasleader: true\r\n"));
    assert!(requests[0].ends_with(r#"{"key":"aw==","value":"dg=="}"#));
    assert_eq!(etcd.in_flight(), 0);

    // Nobody answers: the last member's error, once around the list, no hang.
    let mut etcd = Etcd::new(vec![endpoints[0], endpoints[1]], timeout).unwrap();
    let id = etcd.submit(Request::get("k"), poll.registry(), &mut timers);
    let heard = run(&mut etcd, &mut poll, &mut timers, 1);
    let [EtcdEvent::Reply {
        id: i,
        result: Err(e),
    }] = &heard[..]
    else {
        panic!("{heard:?}")
    };
    assert_eq!(*i, id);
    assert_eq!(
        e,
        &EtcdError::TimedOut {
            endpoint: endpoints[1],
            after: timeout
        }
    );
    // A watch that cannot start ends, to be asked again.
    let w = etcd.watch(KeyRange::prefix("p"), 5, poll.registry(), &mut timers);
    let heard = run(&mut etcd, &mut poll, &mut timers, 1);
    assert!(
        matches!(&heard[..], [EtcdEvent::WatchEnded { id, resume_from: 5, error }] if *id == w && error.is_unavailable()),
        "{heard:?}"
    );
    drop(silent);

    // Refused before any connection is open (a broadcast address): still heard from the loop.
    let nowhere = Endpoint::new(SocketAddr::from(([255, 255, 255, 255], 1)));
    let mut etcd = Etcd::new(vec![nowhere], timeout).unwrap();
    let id = etcd.submit(Request::get("k"), poll.registry(), &mut timers);
    let heard = run(&mut etcd, &mut poll, &mut timers, 1);
    assert!(
        matches!(&heard[..], [EtcdEvent::Reply { id: i, result: Err(e) }] if *i == id && e.is_unavailable()),
        "{heard:?}"
    );
}
