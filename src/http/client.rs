//! A small blocking HTTP/1.1 client over a unix socket, for the CLI and tests.
//!
//! One request per connection (`Connection: close`), so no connection state survives a call.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::response_parse::{parse_response_with, ParseResponse, ResponseContext};
use super::{find_header, HttpError};

/// Largest response body accepted; file reads and container lists stay far below it.
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// A client of one unix socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Option<Duration>,
}

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ClientResponse {
    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| ClientError::NotJson {
            status: self.status,
            source,
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A failed call, naming the socket it concerned.
#[derive(Debug)]
pub enum ClientError {
    Connect {
        socket: PathBuf,
        source: io::Error,
    },
    Send {
        socket: PathBuf,
        source: io::Error,
    },
    Receive {
        socket: PathBuf,
        source: io::Error,
    },
    TimedOut {
        socket: PathBuf,
        after: Duration,
    },
    BadResponse {
        socket: PathBuf,
        error: HttpError,
    },
    NotJson {
        status: u16,
        source: serde_json::Error,
    },
}

/// The OS error text without Rust's " (os error N)" suffix.
fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or(text.clone(), str::to_string),
        None => text,
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { socket, source } => {
                write!(
                    f,
                    "cannot connect to {}: {}",
                    socket.display(),
                    describe(source)
                )?;
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) {
                    f.write_str(" (is the agent running?)")?;
                }
                Ok(())
            }
            ClientError::Send { socket, source } => {
                write!(
                    f,
                    "cannot send to {}: {}",
                    socket.display(),
                    describe(source)
                )
            }
            ClientError::Receive { socket, source } => {
                write!(
                    f,
                    "cannot read from {}: {}",
                    socket.display(),
                    describe(source)
                )
            }
            ClientError::TimedOut { socket, after } => write!(
                f,
                "no answer from {} within {:.1}s",
                socket.display(),
                after.as_secs_f64()
            ),
            ClientError::BadResponse { socket, error } => {
                write!(
                    f,
                    "bad response from {}: {}",
                    socket.display(),
                    error.message
                )
            }
            ClientError::NotJson { status, source } => {
                write!(f, "the agent's answer ({status}) is not JSON: {source}")
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Connect { source, .. }
            | ClientError::Send { source, .. }
            | ClientError::Receive { source, .. } => Some(source),
            ClientError::NotJson { source, .. } => Some(source),
            ClientError::TimedOut { .. } | ClientError::BadResponse { .. } => None,
        }
    }
}

/// Serialises a request; `Host` is required by HTTP/1.1 and meaningless on a unix socket.
pub fn encode_request(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
            timeout: None,
        }
    }

    /// Bounds each read and write (`None`: wait forever, as WAIT_CONTAINER needs).
    pub fn with_timeout(self, d: Option<Duration>) -> Client {
        Client { timeout: d, ..self }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn get(&self, target: &str) -> Result<ClientResponse, ClientError> {
        self.request("GET", target, &[], &[])
    }

    pub fn post_json(
        &self,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<ClientResponse, ClientError> {
        let headers = [
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ];
        self.request("POST", target, &headers, body.to_string().as_bytes())
    }

    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<ClientResponse, ClientError> {
        let mut stream = self.connect()?;
        if let Err(source) = stream.write_all(&encode_request(method, target, headers, body)) {
            // A server may answer early (413 before the body) and close: read its answer.
            if matches!(
                source.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) {
                if let Ok(resp) = self.receive(&mut stream, method == "HEAD") {
                    return Ok(resp);
                }
            }
            return Err(self.io_error(source, |socket, source| ClientError::Send {
                socket,
                source,
            }));
        }
        self.receive(&mut stream, method == "HEAD")
    }

    fn connect(&self) -> Result<UnixStream, ClientError> {
        let connect_error = |source| ClientError::Connect {
            socket: self.socket.clone(),
            source,
        };
        let stream = UnixStream::connect(&self.socket).map_err(connect_error)?;
        stream
            .set_read_timeout(self.timeout)
            .map_err(connect_error)?;
        stream
            .set_write_timeout(self.timeout)
            .map_err(connect_error)?;
        Ok(stream)
    }

    /// Maps an io error, turning the timeouts set on the socket into `TimedOut`.
    fn io_error(
        &self,
        source: io::Error,
        wrap: impl FnOnce(PathBuf, io::Error) -> ClientError,
    ) -> ClientError {
        match (source.kind(), self.timeout) {
            (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, Some(after)) => {
                ClientError::TimedOut {
                    socket: self.socket.clone(),
                    after,
                }
            }
            _ => wrap(self.socket.clone(), source),
        }
    }

    fn receive(&self, stream: &mut UnixStream, head: bool) -> Result<ClientResponse, ClientError> {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut at_eof = false;
        loop {
            let ctx = ResponseContext {
                request_was_head: head,
                at_eof,
            };
            match parse_response_with(&buf, MAX_RESPONSE_BODY, ctx) {
                // Interim answers (100 Continue) precede the real one.
                ParseResponse::Complete {
                    status, consumed, ..
                } if (100..200).contains(&status) && status != 101 => {
                    buf.drain(..consumed);
                    continue;
                }
                ParseResponse::Complete {
                    status,
                    headers,
                    body,
                    ..
                } => {
                    return Ok(ClientResponse {
                        status,
                        headers,
                        body,
                    })
                }
                ParseResponse::Error(error) => {
                    return Err(ClientError::BadResponse {
                        socket: self.socket.clone(),
                        error,
                    })
                }
                ParseResponse::Incomplete => {}
            }
            match stream.read(&mut chunk) {
                Ok(0) => at_eof = true,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(
                        self.io_error(source, |socket, source| ClientError::Receive {
                            socket,
                            source,
                        }),
                    )
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::test_server::FakeServer;
    use super::super::{encode_chunked, Method, Response};
    use super::*;

    #[test]
    fn post_json_sends_json_and_reads_the_answer() {
        let server = FakeServer::start(1, |_| {
            Response::json(200, &serde_json::json!({"ok": true})).to_bytes(false)
        });
        let client = Client::new(&server.socket);
        let resp = client
            .post_json("/api/v1", &serde_json::json!({"type": "GET_HEALTH"}))
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.json().unwrap(), serde_json::json!({"ok": true}));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].method, Method::Post);
        assert_eq!(reqs[0].path, "/api/v1");
        assert_eq!(reqs[0].header("Content-Type"), Some("application/json"));
        assert_eq!(reqs[0].body, br#"{"type":"GET_HEALTH"}"#);
        assert!(!reqs[0].keep_alive);
    }

    #[test]
    fn reads_chunked_and_skips_interim_responses() {
        let server = FakeServer::start(1, |_| {
            let mut out = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
            out.extend_from_slice(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n");
            out.extend_from_slice(&encode_chunked(b"no such container: x\n"));
            out
        });
        let resp = Client::new(&server.socket)
            .get("/files/read?path=%2Fx")
            .unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(resp.text(), "no such container: x\n");
        assert!(resp.json().is_err());
        assert_eq!(server.requests()[0].query_param("path"), Some("/x"));
    }

    #[test]
    fn connect_failure_names_the_socket() {
        let err = Client::new(Path::new("/nonexistent/mesolite/agent.sock"))
            .get("/health")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot connect to /nonexistent/mesolite/agent.sock: No such file or directory \
(is the agent running?)"
        );
    }

    #[test]
    fn times_out_when_the_server_does_not_answer() {
        let server = FakeServer::start(1, |_| {
            std::thread::sleep(Duration::from_millis(500));
            Vec::new()
        });
        let err = Client::new(&server.socket)
            .with_timeout(Some(Duration::from_millis(100)))
            .get("/health")
            .unwrap_err();
        assert!(matches!(err, ClientError::TimedOut { .. }), "{err}");
    }

    #[test]
    fn truncated_answer_is_a_bad_response() {
        let server = FakeServer::start(1, |_| {
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".to_vec()
        });
        let err = Client::new(&server.socket).get("/").unwrap_err();
        assert!(matches!(err, ClientError::BadResponse { .. }), "{err}");
    }

    #[test]
    fn encodes_requests() {
        let bytes = encode_request("GET", "/health", &[("Accept", "*/*")], b"");
        assert_eq!(
            bytes,
            b"GET /health HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let bytes = encode_request("POST", "/api/v1", &[], b"");
        assert!(String::from_utf8(bytes)
            .unwrap()
            .contains("Content-Length: 0\r\n"));
    }
}
