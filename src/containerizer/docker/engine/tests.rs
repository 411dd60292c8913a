//! The client against a fake dockerd on a unix socket, driven by a real mio loop.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::*;
use crate::http::test_server::FakeServer;
use crate::http::Request;

const VERSION: &str = r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#;

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers the negotiation, then `rest` for the other requests.
fn dockerd(
    connections: usize,
    mut rest: impl FnMut(&Request) -> Vec<u8> + Send + 'static,
) -> FakeServer {
    FakeServer::start(connections, move |req| match req.path.as_str() {
        "/_ping" => ok("OK"),
        "/version" => ok(VERSION),
        _ => rest(req),
    })
}

struct Loop {
    poll: Poll,
    timers: Timers,
}

impl Loop {
    fn new() -> Loop {
        Loop {
            poll: Poll::new().unwrap(),
            timers: Timers::default(),
        }
    }

    /// Runs the loop until `done` says so of what has been heard (at most 10 s).
    fn run(&mut self, engine: &mut Engine, done: impl Fn(&Replies) -> bool) -> Replies {
        let mut heard = Vec::new();
        let mut events = Events::with_capacity(16);
        let start = Instant::now();
        while !done(&heard) {
            assert!(start.elapsed() < Duration::from_secs(10), "hung: {heard:?}");
            let wait = self
                .timers
                .next_timeout()
                .map_or(Duration::from_millis(100), |t| {
                    t.min(Duration::from_millis(100))
                });
            self.poll.poll(&mut events, Some(wait)).unwrap();
            for e in events.iter() {
                if let Some(Source::Docker(id)) = Source::from_token(e.token()) {
                    heard.extend(engine.on_ready(id, self.poll.registry(), &mut self.timers));
                }
            }
            for kind in self.timers.expired() {
                if let TimerKind::Docker(id) = kind {
                    heard.extend(engine.on_timer(id, self.poll.registry(), &mut self.timers));
                }
            }
        }
        heard
    }

    fn submit(&mut self, engine: &mut Engine, call: Call) -> ReqId {
        engine
            .submit(call, self.poll.registry(), &mut self.timers)
            .unwrap()
    }
}

fn ended(id: ReqId) -> impl Fn(&Replies) -> bool {
    move |heard: &Replies| {
        heard.iter().any(|(i, p)| {
            *i == id
                && matches!(
                    p,
                    Progress::Done { .. } | Progress::End | Progress::Failed(_)
                )
        })
    }
}

/// The body bytes heard, in order.
fn data_of(heard: &Replies) -> Vec<u8> {
    heard
        .iter()
        .flat_map(|(_, p)| match p {
            Progress::Data(d) => d.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn negotiates_then_sends_versioned_requests() {
    let server = dockerd(4, |req| {
        let body = if req.body.is_empty() {
            "null".into()
        } else {
            String::from_utf8_lossy(&req.body)
        };
        ok(&format!(r#"{{"path":"{}","body":{body}}}"#, req.path))
    });
    let mut engine = Engine::new(&server.socket, secs(5));
    let mut lp = Loop::new();
    let body = serde_json::json!({"Image": "busybox"});
    let a = lp.submit(
        &mut engine,
        Call::post("/containers/create?name=mesos-a", Some(&body), secs(5)),
    );
    let b = lp.submit(&mut engine, Call::get("/containers/json", secs(5)));
    let heard = lp.run(&mut engine, |h| ended(a)(h) && ended(b)(h));
    assert_eq!(engine.version(), Some(ApiVersion(1, 41)));
    let answer = |id| {
        heard.iter().find_map(|(i, p)| match p {
            Progress::Done { status: 200, body } if *i == id => {
                Some(serde_json::from_slice::<serde_json::Value>(body).unwrap())
            }
            _ => None,
        })
    };
    assert_eq!(answer(a).unwrap()["path"], "/v1.41/containers/create");
    assert_eq!(answer(a).unwrap()["body"], body);
    assert_eq!(answer(b).unwrap()["path"], "/v1.41/containers/json");
    let reqs = server.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(&paths[..2], ["/_ping", "/version"]);
    assert_eq!(reqs[2].query_param("name"), Some("mesos-a"));
    assert_eq!(reqs[2].header("content-type"), Some("application/json"));
    assert_eq!(engine.in_flight(), 0);
}

#[test]
fn streams_chunked_bodies_and_hijacked_connections() {
    let server = dockerd(4, |req| {
        if req.path.ends_with("/attach") {
            assert_eq!(req.header("upgrade"), Some("tcp"));
            let mut out =
                b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".to_vec();
            out.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 3]);
            out.extend_from_slice(b"hi\n");
            return out;
        }
        let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let lines = b"{\"status\":\"Pulling\"}\r\n{\"status\":\"Done\"}\r\n";
        for part in lines.chunks(7) {
            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    });
    let mut engine = Engine::new(&server.socket, secs(5));
    let mut lp = Loop::new();
    let pull = Call::post("/images/create?fromImage=busybox", None, secs(5))
        .streaming(Mode::Stream, Some(secs(5)));
    let pull = lp.submit(&mut engine, pull);
    let heard = lp.run(&mut engine, ended(pull));
    let data = data_of(&heard);
    assert_eq!(
        data,
        b"{\"status\":\"Pulling\"}\r\n{\"status\":\"Done\"}\r\n"
    );
    assert!(matches!(heard[0].1, Progress::Streaming { status: 200 }));
    assert_eq!(heard.last().unwrap().1, Progress::End);

    let attach =
        Call::post("/containers/x/attach?stream=1", None, secs(5)).streaming(Mode::Hijack, None);
    let attach = lp.submit(&mut engine, attach);
    let heard = lp.run(&mut engine, ended(attach));
    assert!(matches!(heard[0].1, Progress::Streaming { status: 101 }));
    let data = data_of(&heard);
    assert_eq!(data, b"\x01\0\0\0\0\0\0\x03hi\n");
    assert_eq!(heard.last().unwrap().1, Progress::End);
}

#[test]
fn an_error_answer_to_a_stream_is_read_whole() {
    let server = dockerd(3, |_| {
        let body = r#"{"message":"pull access denied for nosuch"}"#;
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    let mut engine = Engine::new(&server.socket, secs(5));
    let mut lp = Loop::new();
    let call =
        Call::post("/images/create?fromImage=nosuch", None, secs(5)).streaming(Mode::Stream, None);
    let id = lp.submit(&mut engine, call);
    let heard = lp.run(&mut engine, ended(id));
    let Some((_, Progress::Done { status, body })) = heard.last() else {
        panic!("{heard:?}")
    };
    assert_eq!(
        EngineError::from_answer(*status, body).to_string(),
        "dockerd: pull access denied for nosuch (404)"
    );
}

#[test]
fn a_silent_dockerd_fails_the_request_at_its_deadline_without_stalling_the_loop() {
    let server = dockerd(3, |_| {
        std::thread::sleep(Duration::from_millis(1500));
        Vec::new()
    });
    let mut engine = Engine::new(&server.socket, secs(5));
    let mut lp = Loop::new();
    let id = lp.submit(
        &mut engine,
        Call::get("/containers/x/json", Duration::from_millis(200)),
    );
    let started = Instant::now();
    let heard = lp.run(&mut engine, ended(id));
    assert_eq!(
        heard.last().unwrap(),
        &(
            id,
            Progress::Failed(EngineError::TimedOut(Duration::from_millis(200)))
        )
    );
    // Generous: the point is that it did not wait for the server's 1.5 s.
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(engine.in_flight(), 0);
}

/// A server answering each connection in turn with raw bytes, then holding it open for a
/// while before closing (what FakeServer, which closes at once, cannot do).
fn holding_server(
    answers: Vec<(Vec<u8>, Duration)>,
) -> (tempdir::Dir, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let dir = tempdir::Dir::new();
    let listener = std::os::unix::net::UnixListener::bind(dir.socket()).unwrap();
    let handle = std::thread::spawn(move || {
        for (bytes, hold) in answers {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = s.write_all(&bytes);
            std::thread::sleep(hold);
        }
    });
    (dir, handle)
}

mod tempdir {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static N: AtomicUsize = AtomicUsize::new(0);

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let dir = std::env::temp_dir().join(format!(
                "mesolite-engine-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        pub fn socket(&self) -> PathBuf {
            self.0.join("docker.sock")
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn a_stream_past_its_head_fails_only_when_it_stalls() {
    let none = Duration::ZERO;
    let (dir, handle) = holding_server(vec![
        (ok("OK"), none),
        (ok(VERSION), none),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nstart\r\n".to_vec(),
            Duration::from_millis(1500),
        ),
    ]);
    let mut engine = Engine::new(&dir.socket(), secs(5));
    let mut lp = Loop::new();
    let call = Call::post("/images/create", None, secs(5))
        .streaming(Mode::Stream, Some(Duration::from_millis(300)));
    let id = lp.submit(&mut engine, call);
    let heard = lp.run(&mut engine, ended(id));
    assert!(heard.contains(&(id, Progress::Data(b"start".to_vec()))));
    assert_eq!(
        heard.last().unwrap().1,
        Progress::Failed(EngineError::TimedOut(Duration::from_millis(300)))
    );
    handle.join().unwrap();
}

#[test]
fn refuses_a_too_old_dockerd_and_reports_a_missing_one() {
    let server = FakeServer::start(2, |req| match req.path.as_str() {
        "/_ping" => ok("OK"),
        _ => ok(r#"{"Version":"17.03","ApiVersion":"1.26"}"#),
    });
    let mut engine = Engine::new(&server.socket, secs(5));
    let mut lp = Loop::new();
    let id = lp.submit(&mut engine, Call::get("/info", secs(5)));
    let heard = lp.run(&mut engine, ended(id));
    let Some((_, Progress::Failed(e))) = heard.last() else {
        panic!("{heard:?}")
    };
    assert!(e.to_string().contains("at least 1.30"), "{e}");
    assert_eq!(engine.version(), None);

    let mut gone = Engine::new(Path::new("/nonexistent/docker.sock"), secs(5));
    let err = gone
        .submit(
            Call::get("/info", secs(5)),
            lp.poll.registry(),
            &mut lp.timers,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot connect to dockerd at /nonexistent/docker.sock"),
        "{err}"
    );
}

#[test]
fn encodes_requests() {
    let bytes = request::encode("POST", "/v1.41/containers/x/start", &[], b"", Mode::Whole);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "POST /v1.41/containers/x/start HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}
