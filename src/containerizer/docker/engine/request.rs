//! One Engine API request: how it is written. Its connection is the shared
//! [`crate::http::ClientConn`] over the unix socket.

use crate::http::{ClientConn, Mode};

/// A request in flight on its unix socket.
pub type Conn = ClientConn<mio::net::UnixStream>;

/// What one step of a request produced, failures as the Engine's errors.
pub type Progress = crate::http::Progress<super::error::EngineError>;

/// Serialises a request. `Connection: close` keeps no connection state between requests; an
/// attach asks for the upgrade dockerd hijacks the connection with.
pub fn encode(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    mode: Mode,
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: docker\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    match mode {
        Mode::Hijack => head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
        Mode::Whole | Mode::Stream => head.push_str("Connection: close\r\n\r\n"),
    }
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}
