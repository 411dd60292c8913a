//! `mesolite-fetch` over the network, against servers on loopback started here: Python's
//! http.server, pyftpdlib, and a scripted Rust server for 404s, stalls and resets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fetch_support;

use std::collections::HashMap;
use std::time::Duration;

use fetch_support::*;
use serde_json::json;

#[test]
fn http_fetch_from_python_http_server() {
    let t = TempDir::new();
    let served = t.dir("served");
    t.file("served/test", b"over http");
    std::fs::write(
        served.join("pkg.tar.gz"),
        gzip(&tar_of(&[("inner", b"inside")])),
    )
    .unwrap();
    let server = python_http(&served);
    let sandbox = t.dir("sandbox");
    let base = format!("http://127.0.0.1:{}", server.port);
    let items = json!([
        item(&format!("{base}/test")),
        item(&format!("{base}/pkg.tar.gz"))
    ]);
    let run = run_fetch(&request(&sandbox, t.path(), items));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("test")), "over http");
    assert_eq!(read(&sandbox.join("inner")), "inside");
    assert_eq!(run.lines[0], json!({"index": 0, "ok": true, "size": 9}));

    let mut probe = request(
        &sandbox,
        t.path(),
        json!([
            item(&format!("{base}/test")),
            item(&format!("{base}/missing"))
        ]),
    );
    probe["mode"] = json!("probe");
    let run = run_fetch(&probe);
    assert!(run.ok(), "{run:?}");
    assert_eq!(run.lines[0], json!({"index": 0, "size": 9}));
    assert_eq!(run.lines[1]["size"], json!(null));
    assert!(
        run.lines[1]["error"].as_str().unwrap().contains("404"),
        "{run:?}"
    );
}

#[test]
fn http_error_status_fails_with_mesos_message_and_leaves_nothing() {
    let server = ScriptedServer::start(HashMap::new());
    let t = TempDir::new();
    let sandbox = t.dir("sandbox");
    let run = run_fetch(&request(
        &sandbox,
        t.path(),
        json!([item(&server.url("/gone"))]),
    ));
    assert_eq!(run.code, 1);
    assert!(
        run.error()
            .contains("Error downloading resource, received HTTP return code 404"),
        "{run:?}"
    );
    assert!(listing(&sandbox).is_empty(), "{:?}", listing(&sandbox));
}

#[test]
fn a_stalled_transfer_is_aborted_after_the_stall_timeout() {
    let routes = HashMap::from([(
        "/slow".to_string(),
        // One byte, then silence: libcurl averages speed over a window of several seconds, so
        // a bigger burst would postpone the abort by that much (as it would in Mesos).
        Reply::Stall {
            prefix: vec![b'x'],
            total: 1000,
        },
    )]);
    let server = ScriptedServer::start(routes);
    let t = TempDir::new();
    let sandbox = t.dir("sandbox");
    let mut req = request(&sandbox, t.path(), json!([item(&server.url("/slow"))]));
    req["stall_timeout_secs"] = json!(2.0);
    let run = run_fetch(&req);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.elapsed >= Duration::from_millis(1500),
        "{:?}",
        run.elapsed
    );
    assert!(run.elapsed < Duration::from_secs(7), "{:?}", run.elapsed);
    assert!(run.error().contains("too slow"), "{run:?}");
    assert!(!sandbox.join("slow").exists());
}

#[test]
fn a_connection_reset_mid_body_is_a_clear_failure() {
    let routes = HashMap::from([(
        "/reset".to_string(),
        Reply::Reset {
            prefix: vec![b'x'; 100],
            total: 100_000,
        },
    )]);
    let server = ScriptedServer::start(routes);
    let t = TempDir::new();
    let sandbox = t.dir("sandbox");
    let run = run_fetch(&request(
        &sandbox,
        t.path(),
        json!([item(&server.url("/reset"))]),
    ));
    assert_eq!(run.code, 1, "{run:?}");
    let error = run.error();
    assert!(
        error.contains("Error downloading resource")
            && (error.contains("reset")
                || error.contains("Recv failure")
                || error.contains("closed")),
        "{run:?}"
    );
    assert!(!sandbox.join("reset").exists());
}

#[test]
fn cached_http_download_is_not_fetched_again() {
    // Mesos HttpCachedSerialized: one HEAD (probe) and one GET in all.
    let body = b"#!/bin/sh\nexit 0\n".to_vec();
    let routes = HashMap::from([("/cmd0".to_string(), Reply::Body(body.clone()))]);
    let server = ScriptedServer::start(routes);
    let t = TempDir::new();
    let cache = t.path().join("cache/root");
    let uri = server.url("/cmd0");
    let cached = |action: &str| {
        json!([{"uri": {"value": uri, "executable": true, "cache": true},
                "action": action, "cache_filename": "c1-cmd0"}])
    };
    let mut probe = request(&t.dir("s0"), &cache, cached("BYPASS_CACHE"));
    probe["mode"] = json!("probe");
    let run = run_fetch(&probe);
    assert_eq!(run.lines[0]["size"], json!(body.len()), "{run:?}");
    let first = t.dir("s1");
    let run = run_fetch(&request(&first, &cache, cached("DOWNLOAD_AND_CACHE")));
    assert!(run.ok(), "{run:?}");
    let second = t.dir("s2");
    let run = run_fetch(&request(&second, &cache, cached("RETRIEVE_FROM_CACHE")));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&second.join("cmd0")), String::from_utf8(body).unwrap());
    assert_eq!(server.count("HEAD /cmd0"), 1);
    assert_eq!(server.count("GET /cmd0"), 1);
    assert_eq!(server.requests.lock().unwrap().len(), 2);
}

#[test]
fn a_failed_cache_download_leaves_no_cache_file() {
    let server = ScriptedServer::start(HashMap::new());
    let t = TempDir::new();
    let cache = t.path().join("cache/root");
    let items = json!([{"uri": {"value": server.url("/nope"), "cache": true},
                        "action": "DOWNLOAD_AND_CACHE", "cache_filename": "c1-nope"}]);
    let run = run_fetch(&request(&t.dir("s"), &cache, items));
    assert_eq!(run.code, 1);
    assert!(listing(&cache).is_empty(), "{:?}", listing(&cache));
}

#[test]
fn ftp_fetch_from_pyftpdlib() {
    let t = TempDir::new();
    let served = t.dir("served");
    t.file("served/data.txt", b"over ftp");
    let Some(server) = python_ftp(&served) else {
        return;
    };
    let sandbox = t.dir("sandbox");
    let uri = format!("ftp://127.0.0.1:{}/data.txt", server.port);
    let run = run_fetch(&request(&sandbox, t.path(), json!([item(&uri)])));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("data.txt")), "over ftp");
    let run = run_fetch(&request(
        &sandbox,
        t.path(),
        json!([item(&format!("{uri}.missing"))]),
    ));
    assert_eq!(run.code, 1, "{run:?}");
    // FTP sizes are not probed (Mesos neither): unknown, so the agent bypasses the cache.
    let mut probe = request(&sandbox, t.path(), json!([item(&uri)]));
    probe["mode"] = json!("probe");
    let run = run_fetch(&probe);
    assert_eq!(run.lines[0]["size"], json!(null));
}

#[test]
fn http_proxy_from_the_environment_is_used() {
    // The scripted server plays the proxy: libcurl sends it the absolute URI.
    let routes = HashMap::from([(
        "http://fetch.invalid/via-proxy".to_string(),
        Reply::Body(b"proxied".to_vec()),
    )]);
    let proxy = ScriptedServer::start(routes);
    let t = TempDir::new();
    let sandbox = t.dir("sandbox");
    let req = request(
        &sandbox,
        t.path(),
        json!([item("http://fetch.invalid/via-proxy")]),
    );
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let run = run_fetch_with_env(&req, &[("http_proxy", &proxy_url)]);
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("via-proxy")), "proxied");
    assert_eq!(proxy.count("GET http://fetch.invalid/via-proxy"), 1);
}
