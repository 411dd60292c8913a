//! HTTP/1.1 over TCP for the tests of the agent's TCP listener: a free port, and one request
//! per connection read to its end.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mesolite::http::base64::{encode, Alphabet};
use mesolite::http::{parse_response_with, ParseResponse, ResponseContext};

/// A port nothing listens on now, below the kernel's ephemeral range (32768 and up by
/// default). A port the kernel picks for `bind(0)` comes from that range, where the local ends
/// of outgoing connections (the tests' own clients, prometheus's scrapes) are taken too, so one
/// could be taken before the agent binds it: the agent then fails at start. Each call in a test
/// binary tries the next port after a start of its own, so parallel tests never get the same one.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < SPAN, "no free port in {FIRST}..{}", FIRST + SPAN);
        let port = u16::try_from(FIRST + (start + n) % SPAN).unwrap();
        if port_is_free(port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether `port` can be bound on every address right now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// What `ss` lists on local port `port` (TCP, any state, with the owning processes), one line
/// each: to say who took a port that `free_port` found free.
pub fn sockets_on(port: u16) -> String {
    match std::process::Command::new("ss")
        .args(["-tanpH", &format!("sport = :{port}")])
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => format!("(ss: {e})\n"),
    }
}

/// An answer read from the socket.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `Authorization` value of an HTTP Basic login.
pub fn basic(principal: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        encode(
            format!("{principal}:{secret}").as_bytes(),
            Alphabet::Standard
        )
    )
}

/// Sends one request (`Connection: close`) to 127.0.0.1:`port` and reads the whole answer.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let ctx = ResponseContext {
        request_was_head: method == "HEAD",
        at_eof: true,
    };
    match parse_response_with(&raw, 64 << 20, ctx) {
        ParseResponse::Complete {
            status,
            headers,
            body,
            ..
        } => Answer {
            status,
            headers,
            body,
        },
        other => panic!("bad answer {other:?}: {}", String::from_utf8_lossy(&raw)),
    }
}

pub fn get(port: u16, target: &str, auth: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    request(port, "GET", target, &headers, b"")
}

/// POSTs a v1 call, with a login if given.
pub fn call(port: u16, body: &serde_json::Value, auth: Option<&str>) -> Answer {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    request(
        port,
        "POST",
        "/api/v1",
        &headers,
        body.to_string().as_bytes(),
    )
}
