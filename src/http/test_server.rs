//! A fake agent for tests: a unix-socket server thread that answers each request through a closure
//! and records what it was sent.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{parse_request, Limits, Parse, Request};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// How long the server waits for a connection or a request before giving up (keeps a broken test
/// from hanging forever).
const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct FakeServer {
    pub socket: PathBuf,
    dir: PathBuf,
    handle: Option<JoinHandle<Vec<Request>>>,
}

impl FakeServer {
    /// Serves `connections` connections, one request each, answering with `handler`'s raw bytes.
    pub fn start<F>(connections: usize, mut handler: F) -> FakeServer
    where
        F: FnMut(&Request) -> Vec<u8> + Send + 'static,
    {
        let dir = std::env::temp_dir().join(format!(
            "mesolite-http-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("agent.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let handle = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for _ in 0..connections {
                let Some(mut stream) = accept(&listener) else {
                    break;
                };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let answer = handler(&request);
                let _ = stream.write_all(&answer);
                requests.push(request);
            }
            requests
        });
        FakeServer {
            socket,
            dir,
            handle: Some(handle),
        }
    }

    /// Waits for the server thread and returns the requests it received.
    pub fn requests(mut self) -> Vec<Request> {
        self.handle
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn accept(listener: &UnixListener) -> Option<UnixStream> {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                stream.set_read_timeout(Some(DEADLINE)).ok()?;
                return Some(stream);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    None
}

fn read_request(stream: &mut UnixStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match parse_request(&buf, &Limits::default()) {
            Parse::Complete { request, .. } => return Some(request),
            Parse::Error(_) => return None,
            Parse::Incomplete => {}
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
