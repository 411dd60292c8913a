//! HTTP and TCP probes: a non-blocking connection registered in the loop, driven one readiness
//! event at a time. TCP is healthy once connected; HTTP sends one `GET` and judges the status
//! of the answer's head (the body is never read).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::book::Outcome;
use super::{HealthCheck, Protocol, Target};
use crate::http::{parse_response_head, reason_phrase, ParseHead};

/// Starts `spec`'s probe of `target` as `token`; the error is the failure's cause.
pub(super) fn start(
    spec: &HealthCheck,
    target: &Target,
    token: Token,
    registry: &Registry,
) -> Result<NetProbe, String> {
    let addr = SocketAddr::new(target.ip, probed_port(spec, target)?);
    let kind = match spec.protocol {
        Protocol::Tcp | Protocol::MesosTcp => Kind::Tcp,
        _ => Kind::Http {
            request: http_request(spec.path.as_deref(), addr),
            ignore_1xx: spec.ignore_http1xx,
        },
    };
    NetProbe::start(addr, kind, token, registry)
}

/// The host port a check probes: its `port`, or the task's port at `portIndex` (0).
fn probed_port(spec: &HealthCheck, target: &Target) -> Result<u16, String> {
    if let Some(port) = spec.port {
        return u16::try_from(port).map_err(|_| format!("port {port} is not a port"));
    }
    let index = spec.port_index.unwrap_or(0);
    usize::try_from(index)
        .ok()
        .and_then(|i| target.ports.get(i).copied())
        .ok_or_else(|| format!("the task has no host port at portIndex {index}"))
}

/// What a connection probes for.
#[derive(Debug)]
enum Kind {
    Tcp,
    Http { request: Vec<u8>, ignore_1xx: bool },
}

/// One probe in flight.
#[derive(Debug)]
pub(super) struct NetProbe {
    stream: TcpStream,
    kind: Kind,
    connected: bool,
    written: usize,
    answer: Vec<u8>,
}

impl NetProbe {
    /// Starts connecting to `addr` and registers the socket as `token`; the error is the
    /// failure's cause.
    fn start(
        addr: SocketAddr,
        kind: Kind,
        token: Token,
        registry: &Registry,
    ) -> Result<NetProbe, String> {
        let mut stream = TcpStream::connect(addr).map_err(|e| cause(&e))?;
        registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| format!("cannot watch the connection: {e}"))?;
        Ok(NetProbe {
            stream,
            kind,
            connected: false,
            written: 0,
            answer: Vec::new(),
        })
    }

    /// Goes as far as the socket allows (edge-triggered: until it would block); the outcome
    /// once there is one.
    pub fn advance(&mut self) -> Option<Outcome> {
        if !self.connected {
            match self.stream.take_error() {
                Ok(Some(e)) | Err(e) => return Some(Outcome::Unhealthy(cause(&e))),
                Ok(None) => {}
            }
            match self.stream.peer_addr() {
                Ok(_) => self.connected = true,
                Err(e) if still_connecting(&e) => return None,
                Err(e) => return Some(Outcome::Unhealthy(cause(&e))),
            }
        }
        let (request, ignore_1xx) = match &self.kind {
            Kind::Tcp => return Some(Outcome::Healthy),
            Kind::Http {
                request,
                ignore_1xx,
            } => (request, *ignore_1xx),
        };
        while self.written < request.len() {
            match self.stream.write(&request[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Outcome::Unhealthy(cause(&e))),
            }
        }
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return http_outcome(&self.answer, true, ignore_1xx),
                Ok(n) => {
                    self.answer.extend_from_slice(&chunk[..n]);
                    if let Some(outcome) = http_outcome(&self.answer, false, ignore_1xx) {
                        return Some(outcome);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Outcome::Unhealthy(cause(&e))),
            }
        }
    }

    /// Stops watching it; dropping it closes the connection.
    pub fn cancel(mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}

fn still_connecting(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotConnected || e.raw_os_error() == Some(libc::EINPROGRESS)
}

/// A failure's cause from an I/O error, as Marathon shows its exception's message.
fn cause(e: &io::Error) -> String {
    e.to_string()
}

/// Marathon's request: `GET` of the check's `path` (made absolute) with the `Host` it connects
/// to, one request per connection.
fn http_request(path: Option<&str>, addr: SocketAddr) -> Vec<u8> {
    let path = path.unwrap_or("");
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!(
        "GET {slash}{path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: mesolite/{}\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// The outcome of an answer whose first `answer` bytes have come (`at_eof`: all of it), or
/// None while its head is incomplete. Healthy on 200-399; a 1xx with `ignore_1xx` is ignored.
fn http_outcome(answer: &[u8], at_eof: bool, ignore_1xx: bool) -> Option<Outcome> {
    match parse_response_head(answer, false) {
        ParseHead::Incomplete if at_eof => Some(Outcome::Unhealthy(
            "the connection closed before an answer".into(),
        )),
        ParseHead::Incomplete => None,
        ParseHead::Error(e) => Some(Outcome::Unhealthy(e.message)),
        ParseHead::Complete(head) => Some(match head.status {
            200..=399 => Outcome::Healthy,
            100..=199 if ignore_1xx => Outcome::Ignored,
            status => Outcome::Unhealthy(format!("{status} {}", reason_phrase(status))),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhealthy(cause: &str) -> Option<Outcome> {
        Some(Outcome::Unhealthy(cause.into()))
    }

    #[test]
    fn answers_are_judged_by_their_status() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(http_outcome(ok, false, false), Some(Outcome::Healthy));
        let moved = b"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\n\r\n";
        assert_eq!(http_outcome(moved, false, false), Some(Outcome::Healthy));
        let err = b"HTTP/1.0 500 Whatever\r\n\r\nbody";
        assert_eq!(
            http_outcome(err, true, false),
            unhealthy("500 Internal Server Error")
        );
        let missing = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert_eq!(
            http_outcome(missing, false, true),
            unhealthy("404 Not Found")
        );
    }

    #[test]
    fn informational_answers_are_ignored_only_when_asked() {
        let early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n";
        assert_eq!(http_outcome(early, false, true), Some(Outcome::Ignored));
        assert!(matches!(
            http_outcome(early, false, false),
            Some(Outcome::Unhealthy(c)) if c.starts_with("103 ")
        ));
    }

    #[test]
    fn an_incomplete_head_waits_unless_the_connection_closed() {
        let part = b"HTTP/1.1 200 OK\r\nContent-Le";
        assert_eq!(http_outcome(part, false, false), None);
        assert_eq!(http_outcome(b"", false, false), None);
        assert_eq!(
            http_outcome(part, true, false),
            unhealthy("the connection closed before an answer")
        );
        assert!(matches!(
            http_outcome(b"SSH-2.0-OpenSSH_9.2\r\n", false, false),
            Some(Outcome::Unhealthy(c)) if c.starts_with("malformed response")
        ));
    }

    #[test]
    fn the_port_is_the_check_s_own_or_the_task_s_at_its_index() {
        let target = Target {
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            ports: vec![31000, 31001],
            pid: None,
            env: Vec::new(),
        };
        let spec = |json: &str| -> HealthCheck { serde_json::from_str(json).expect("check") };
        assert_eq!(probed_port(&spec("{}"), &target), Ok(31000));
        assert_eq!(
            probed_port(&spec(r#"{"portIndex": 1}"#), &target),
            Ok(31001)
        );
        assert_eq!(
            probed_port(&spec(r#"{"portIndex": 1, "port": 8080}"#), &target),
            Ok(8080)
        );
        assert_eq!(
            probed_port(&spec(r#"{"portIndex": 2}"#), &target),
            Err("the task has no host port at portIndex 2".into())
        );
        assert!(probed_port(&spec(r#"{"port": 70000}"#), &target).is_err());
    }

    #[test]
    fn the_request_names_its_host_and_an_absolute_path() {
        let addr: SocketAddr = "127.0.0.1:31005".parse().expect("addr");
        let text = String::from_utf8(http_request(Some("health"), addr)).expect("utf8");
        assert!(text.starts_with("GET /health HTTP/1.1\r\nHost: 127.0.0.1:31005\r\n"));
        assert!(text.ends_with("Connection: close\r\n\r\n"));
        let text = String::from_utf8(http_request(None, addr)).expect("utf8");
        assert!(text.starts_with("GET / HTTP/1.1\r\n"), "{text}");
        let v6: SocketAddr = "[::1]:80".parse().expect("addr");
        let text = String::from_utf8(http_request(Some("/a?b=1"), v6)).expect("utf8");
        assert!(text.starts_with("GET /a?b=1 HTTP/1.1\r\nHost: [::1]:80\r\n"));
    }
}
