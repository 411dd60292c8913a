//! The fetcher through the agent: Mesos's fetcher and fetcher-cache scenarios that apply to
//! standalone containers (reference §9.1-9.2), against real HTTP and FTP servers on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fetch_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use common::{root_or_skip, Agent};
use serde_json::{json, Value};
use support::{Reply, ScriptedServer};

fn script(n: usize, pad: usize) -> Vec<u8> {
    format!("#!/bin/sh\necho script{n}\n#{}\n", "x".repeat(pad)).into_bytes()
}

fn launch_with_uris(
    agent: &Agent,
    id: &str,
    cmd: &str,
    uris: Value,
) -> mesolite::http::ClientResponse {
    agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id}, "command": {"value": cmd, "shell": true, "uris": uris}}}))
}

/// Cache files (not sidecars) under the agent's cache dir.
fn cache_files(agent: &Agent) -> Vec<String> {
    let mut out = Vec::new();
    let root = agent.work_dir.join("fetch");
    for user in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(user.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".key") {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

fn snapshot(agent: &Agent) -> Value {
    agent
        .client()
        .get("/metrics/snapshot")
        .unwrap()
        .json()
        .unwrap()
}

fn finished_ok(agent: &Agent, id: &str) {
    let w = agent.wait_json(id);
    assert_eq!(
        w["exit_status"],
        0,
        "{id}: {w}\n{}",
        std::fs::read_to_string(agent.sandbox(id).join("stderr")).unwrap_or_default()
    );
}

#[test]
fn http_cached_concurrent_downloads_once() {
    if !root_or_skip("http_cached_concurrent") {
        return;
    }
    let server = ScriptedServer::start(HashMap::from([(
        "/run.sh".to_string(),
        Reply::Body(script(0, 100_000)),
    )]));
    let agent = Agent::start(&[]);
    let url = server.url("/run.sh");
    std::thread::scope(|s| {
        for i in 0..5 {
            let (agent, url) = (&agent, &url);
            s.spawn(move || {
                let r = launch_with_uris(
                    agent,
                    &format!("c{i}"),
                    "./run.sh",
                    json!([{"value": url, "cache": true, "executable": true}]),
                );
                assert_eq!(r.status, 200, "{}", r.text());
            });
        }
    });
    for i in 0..5 {
        finished_ok(&agent, &format!("c{i}"));
        let out = std::fs::read_to_string(agent.sandbox(&format!("c{i}")).join("stdout")).unwrap();
        assert_eq!(out, "script0\n");
        let err = std::fs::read_to_string(agent.sandbox(&format!("c{i}")).join("stderr")).unwrap();
        assert!(err.contains("Successfully fetched all URIs into"), "{err}");
    }
    assert_eq!(
        server.count("GET /run.sh"),
        1,
        "{:?}",
        server.requests.lock().unwrap()
    );
    assert_eq!(cache_files(&agent).len(), 1);
    let m = snapshot(&agent);
    assert_eq!(m["containerizer/fetcher/task_fetches_succeeded"], 5.0);
    assert_eq!(
        m["containerizer/fetcher/cache_size_used_bytes"],
        script(0, 100_000).len() as f64
    );
}

#[test]
fn simple_eviction_fallback_and_lru() {
    if !root_or_skip("eviction") {
        return;
    }
    let s = script(0, 1000).len();
    let mut routes = HashMap::new();
    for n in 0..4 {
        routes.insert(format!("/s{n}"), Reply::Body(script(n, 1000)));
    }
    routes.insert("/big".into(), Reply::Body(script(9, 1000 + 3 * s)));
    let server = ScriptedServer::start(routes);
    let size = format!("--fetcher_cache_size={}B", 2 * s);
    let agent = Agent::start(&[&size]);
    let launch = |id: &str, path: &str| {
        let r = launch_with_uris(
            &agent,
            id,
            "true",
            json!([{"value": server.url(path), "cache": true}]),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        finished_ok(&agent, id);
        cache_files(&agent).len()
    };
    // SimpleEviction: entries 1, 2, 2, 2.
    assert_eq!(launch("e0", "/s0"), 1);
    assert_eq!(launch("e1", "/s1"), 2);
    // RemoveLRUCacheEntries: touching s1 makes s0 the least recently used.
    assert_eq!(launch("e1b", "/s1"), 2);
    assert_eq!(server.count("GET /s1"), 1, "the second use of s1 is a hit");
    assert_eq!(launch("e2", "/s2"), 2);
    let files = cache_files(&agent);
    assert!(
        files.iter().any(|f| f.ends_with("-s1")) && files.iter().any(|f| f.ends_with("-s2")),
        "{files:?}"
    );
    assert_eq!(launch("e3", "/s3"), 2);
    // FallbackFromEviction: bigger than the whole cache: bypass, still succeeds.
    assert_eq!(launch("big", "/big"), 2);
    assert!(agent.sandbox("big").join("big").exists());
    let m = snapshot(&agent);
    assert!(
        m["containerizer/fetcher/cache_evictions"].as_f64().unwrap() >= 2.0,
        "{m}"
    );
}

#[test]
fn local_cached_missing_is_downloaded_again() {
    if !root_or_skip("local_cached_missing") {
        return;
    }
    let agent = Agent::start(&[]);
    let src = agent.dir.join("data.txt");
    std::fs::write(&src, "payload").unwrap();
    let uri = json!([{"value": format!("file://{}", src.display()), "cache": true}]);
    assert_eq!(
        launch_with_uris(&agent, "a", "cat data.txt", uri.clone()).status,
        200
    );
    finished_ok(&agent, "a");
    let files = cache_files(&agent);
    assert_eq!(files.len(), 1);
    std::fs::remove_file(agent.work_dir.join("fetch/root").join(&files[0])).unwrap();
    assert_eq!(
        launch_with_uris(&agent, "b", "cat data.txt", uri).status,
        200
    );
    finished_ok(&agent, "b");
    assert_eq!(
        std::fs::read_to_string(agent.sandbox("b").join("stdout")).unwrap(),
        "payload"
    );
    assert_eq!(cache_files(&agent).len(), 1);
}

#[test]
fn extraction_output_file_and_bad_uris() {
    if !root_or_skip("extraction") {
        return;
    }
    let agent = Agent::start(&[]);
    let tgz = agent.dir.join("bundle.tar.gz");
    std::fs::write(
        &tgz,
        support::gzip(&support::tar_of(&[
            ("bundle/a.txt", b"A"),
            ("bundle/b.txt", b"B"),
        ])),
    )
    .unwrap();
    let conf = agent.dir.join("conf.txt");
    std::fs::write(&conf, "conf").unwrap();
    let uris = json!([
        {"value": tgz.display().to_string()},
        {"value": format!("file://{}", conf.display()), "extract": false, "output_file": "etc/app/conf.txt"},
        {"value": tgz.display().to_string(), "cache": true, "output_file": "cached.tar.gz"}
    ]);
    let r = launch_with_uris(
        &agent,
        "x",
        "cat bundle/a.txt bundle/b.txt etc/app/conf.txt",
        uris,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    finished_ok(&agent, "x");
    assert_eq!(
        std::fs::read_to_string(agent.sandbox("x").join("stdout")).unwrap(),
        "ABconf"
    );
    assert!(
        agent.sandbox("x").join("bundle.tar.gz").exists(),
        "uncached: the archive stays"
    );
    for bad in [
        json!([{"value": "http://127.0.0.1:1/x", "output_file": "/etc/passwd"}]),
        json!([{"value": "http://127.0.0.1:1/x", "output_file": "../../escape"}]),
        json!([{"value": "http://127.0.0.1"}]),
    ] {
        let r = launch_with_uris(&agent, "bad", "true", bad);
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(agent.container("bad").is_none());
    }
}

#[test]
fn a_failed_fetch_fails_the_launch_and_keeps_the_sandbox() {
    if !root_or_skip("failed_fetch") {
        return;
    }
    let agent = Agent::start(&[]);
    let r = launch_with_uris(
        &agent,
        "f",
        "true",
        json!([{"value": "file:///nonexistent/file"}]),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Failed to fetch"), "{}", r.text());
    let w = agent.wait_json("f");
    assert_eq!(w["reason"], "REASON_CONTAINER_LAUNCH_FAILED");
    let err = std::fs::read_to_string(agent.sandbox("f").join("stderr")).unwrap();
    assert!(err.contains("Failed to fetch"), "{err}");
    assert_eq!(
        snapshot(&agent)["containerizer/fetcher/task_fetches_failed"],
        1.0
    );
    assert_eq!(agent.container("f").unwrap()["state"], "TERMINATED");
}

#[test]
fn stall_and_reset_fail_cleanly_and_leave_the_cache_consistent() {
    if !root_or_skip("stall_and_reset") {
        return;
    }
    let body = vec![b'z'; 200_000];
    let server = ScriptedServer::start(HashMap::from([
        (
            "/stall".to_string(),
            Reply::Stall {
                prefix: vec![b'z'; 10],
                total: 1_000_000,
            },
        ),
        ("/flaky".to_string(), Reply::ResetFirstGet(body.clone())),
    ]));
    let agent = Agent::start(&["--fetcher_stall_timeout=2secs"]);
    let r = launch_with_uris(
        &agent,
        "s",
        "true",
        json!([{"value": server.url("/stall"), "cache": true}]),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = launch_with_uris(
        &agent,
        "r",
        "true",
        json!([{"value": server.url("/flaky"), "cache": true}]),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        cache_files(&agent).is_empty(),
        "no partial file kept: {:?}",
        cache_files(&agent)
    );
    assert_eq!(
        snapshot(&agent)["containerizer/fetcher/cache_size_used_bytes"],
        0.0
    );
    // The server recovered: the same URI now fetches, and the cache adds up.
    let r = launch_with_uris(
        &agent,
        "r2",
        "test $(wc -c < flaky) = 200000",
        json!([{"value": server.url("/flaky"), "cache": true}]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    finished_ok(&agent, "r2");
    assert_eq!(
        snapshot(&agent)["containerizer/fetcher/cache_size_used_bytes"],
        body.len() as f64
    );
}

#[test]
fn a_hostile_archive_writes_nothing_outside_the_sandbox() {
    if !root_or_skip("hostile_archive") {
        return;
    }
    let agent = Agent::start(&[]);
    let outside = agent.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let evil = support::raw_tar(&[
        support::Entry::Symlink("link", outside.to_str().unwrap()),
        support::Entry::File("link/pwned", b"x"),
        support::Entry::File("../../escaped", b"x"),
        support::Entry::Hardlink("passwd", "/etc/passwd"),
    ]);
    let path = agent.dir.join("evil.tar");
    std::fs::write(&path, evil).unwrap();
    let r = launch_with_uris(
        &agent,
        "evil",
        "true",
        json!([{"value": path.display().to_string()}]),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    assert!(!agent.work_dir.join("escaped").exists() && !agent.dir.join("escaped").exists());
}

#[test]
fn a_full_disk_fails_the_launch_and_keeps_the_cache_consistent() {
    if !root_or_skip("disk_full") {
        return;
    }
    let cache = std::env::temp_dir().join(format!("mltest-tmpfs-{}", std::process::id()));
    std::fs::create_dir_all(&cache).unwrap();
    let mounted = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "tmpfs",
            cache.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    if !mounted.success() {
        eprintln!("SKIPPED disk_full: cannot mount a tmpfs");
        return;
    }
    let server = ScriptedServer::start(HashMap::from([
        ("/big".to_string(), Reply::Body(vec![1u8; 3 * 1024 * 1024])),
        ("/small".to_string(), Reply::Body(vec![2u8; 1000])),
    ]));
    {
        let agent = Agent::start(&[&format!("--fetcher_cache_dir={}", cache.display())]);
        let r = launch_with_uris(
            &agent,
            "big",
            "true",
            json!([{"value": server.url("/big"), "cache": true}]),
        );
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("No space left on device"), "{}", r.text());
        assert_eq!(
            snapshot(&agent)["containerizer/fetcher/cache_size_used_bytes"],
            0.0
        );
        let r = launch_with_uris(
            &agent,
            "small",
            "true",
            json!([{"value": server.url("/small"), "cache": true}]),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            snapshot(&agent)["containerizer/fetcher/cache_size_used_bytes"],
            1000.0
        );
    }
    let _ = std::process::Command::new("umount").arg(&cache).status();
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn the_cache_survives_an_agent_restart() {
    if !root_or_skip("cache_restart") {
        return;
    }
    let server = ScriptedServer::start(HashMap::from([(
        "/tool".to_string(),
        Reply::Body(script(1, 10)),
    )]));
    let mut agent = Agent::start(&[]);
    let uri = json!([{"value": server.url("/tool"), "cache": true, "executable": true}]);
    assert_eq!(
        launch_with_uris(&agent, "one", "./tool", uri.clone()).status,
        200
    );
    finished_ok(&agent, "one");
    agent.stop();
    let agent = agent.restart();
    assert_eq!(launch_with_uris(&agent, "two", "./tool", uri).status, 200);
    finished_ok(&agent, "two");
    assert_eq!(server.count("GET /tool"), 1, "a hit after the restart");
    assert_eq!(snapshot(&agent)["containerizer/fetcher/cache_hits"], 1.0);
}

/// A server whose `/slow` sends 10 bytes of a promised megabyte, then nothing.
fn stalling_server() -> ScriptedServer {
    ScriptedServer::start(HashMap::from([(
        "/slow".to_string(),
        Reply::Stall {
            prefix: vec![b'a'; 10],
            total: 1_000_000,
        },
    )]))
}

#[test]
fn a_destroy_during_fetching_kills_the_fetcher_at_once() {
    if !root_or_skip("destroy_while_fetching") {
        return;
    }
    let server = stalling_server();
    let agent = Agent::start(&[]);
    std::thread::scope(|s| {
        let handle = s.spawn(|| {
            launch_with_uris(
                &agent,
                "slow",
                "true",
                json!([{"value": server.url("/slow")}]),
            )
        });
        Agent::eventually("FETCHING", Duration::from_secs(10), || {
            agent
                .container("slow")
                .is_some_and(|c| c["state"] == "FETCHING")
        });
        let t0 = std::time::Instant::now();
        assert_eq!(agent.kill("slow", None).status, 200);
        let w = agent.wait_json("slow");
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert_eq!(w["state"], "TASK_KILLED", "{w}");
        assert_eq!(handle.join().unwrap().status, 400);
    });
    // This agent's own fetcher (other tests run theirs in parallel).
    let agent_pid = agent.child.as_ref().unwrap().id().to_string();
    Agent::eventually("the fetcher gone", Duration::from_secs(5), || {
        let left = std::process::Command::new("pgrep")
            .args(["-P", &agent_pid, "-f", "mesolite-fetch"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&left.stdout).trim().is_empty()
    });
}

/// Pids of the `mesolite-fetch` children of `pid`.
fn fetchers_of(pid: u32) -> Vec<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-P", &pid.to_string(), "-f", "mesolite-fetch"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn a_fetcher_dies_with_a_killed_agent() {
    if !root_or_skip("a_fetcher_dies_with_a_killed_agent") {
        return;
    }
    let server = stalling_server();
    // As root, and as a task user: the fetcher's switch of user must not lose its death signal.
    for user in [None, Some("nobody")] {
        let mut agent = Agent::start(&[]);
        let agent_pid = agent.child.as_ref().unwrap().id();
        let mut command = json!({"value": "true", "shell": true,
                                 "uris": [{"value": server.url("/slow")}]});
        if let Some(user) = user {
            command["user"] = json!(user);
        }
        let client = agent.client();
        let launch = std::thread::spawn(move || {
            // Cut off when the agent dies.
            let _ = client.post_json(
                "/api/v1",
                &json!({"type": "LAUNCH_CONTAINER", "launch_container": {
                    "container_id": {"value": "orphan"}, "command": command}}),
            );
        });
        let mut fetchers = Vec::new();
        Agent::eventually("a fetcher running", Duration::from_secs(10), || {
            fetchers = fetchers_of(agent_pid);
            !fetchers.is_empty()
        });
        // It has started its download (and switched user) before the agent goes.
        Agent::eventually("the download stalls", Duration::from_secs(10), || {
            agent
                .container("orphan")
                .is_some_and(|c| c["state"] == "FETCHING")
        });
        std::thread::sleep(Duration::from_millis(300));
        agent.sigkill();
        Agent::eventually("the orphaned fetcher gone", Duration::from_secs(5), || {
            fetchers
                .iter()
                .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        });
        launch.join().unwrap();
    }
}

#[test]
fn ftp_uris_are_fetched() {
    if !root_or_skip("ftp") {
        return;
    }
    let dir = support::TempDir::new();
    dir.file("hello.txt", b"over ftp");
    let Some(ftp) = support::python_ftp(dir.path()) else {
        return;
    };
    let agent = Agent::start(&[]);
    let uri = json!([{"value": format!("ftp://127.0.0.1:{}/hello.txt", ftp.port)}]);
    let r = launch_with_uris(&agent, "ftp", "cat hello.txt", uri);
    assert_eq!(r.status, 200, "{}", r.text());
    finished_ok(&agent, "ftp");
    assert_eq!(
        std::fs::read_to_string(agent.sandbox("ftp").join("stdout")).unwrap(),
        "over ftp"
    );
}
