//! The HTTP/1.1 codec shared by the API server (non-blocking), the CLI and other clients.
//!
//! Parsing and serialising only: no I/O here except in `client`, the blocking unix-socket client
//! used by the CLI and tests. Bodies are framed by `Content-Length` or `chunked`; headers are parsed
//! by `httparse`.

pub mod base64;
mod chunked;
pub mod client;
mod conn;
mod percent;
mod request;
mod response;
mod response_parse;
#[cfg(test)]
pub(crate) mod test_server;

use std::fmt;

pub use chunked::{encode_chunked, ChunkedDecoder};

pub use client::{encode_request, Client, ClientError, ClientResponse};
pub use conn::{ClientConn, ConnError, Mode, Progress};
pub use percent::{parse_query, percent_decode, percent_encode, DecodeError};
pub use request::{parse_request, wants_continue, Parse, Request, CONTINUE_RESPONSE};
pub use response::{reason_phrase, Response};
pub use response_parse::{
    parse_response, parse_response_head, parse_response_with, BodyFraming, ParseHead,
    ParseResponse, ResponseContext, ResponseHead,
};

/// Most headers accepted in one message; more is answered like an oversized header block (431).
const MAX_HEADERS: usize = 64;

/// A request method; the ones the agent routes on are variants, anything else is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Head,
    Other(String),
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Size limits applied while parsing a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// A message that cannot be parsed, with the status a server should answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

impl HttpError {
    pub fn new(status: u16, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason_phrase(self.status),
            self.message
        )
    }
}

impl std::error::Error for HttpError {}

/// Case-insensitive lookup of the first header named `name`.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// True when a comma-separated header (e.g. `Connection`) holds `token`, case-insensitively.
fn header_has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Copies httparse's borrowed headers into owned pairs (values decoded lossily: obs-text is legal).
fn own_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect()
}

/// How a message body is framed, from its headers.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    /// Neither header: a request has no body; a response runs until the connection closes.
    None,
}

fn body_framing(headers: &[(String, String)]) -> Result<Framing, HttpError> {
    let te: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
        .map(|(_, v)| v.as_str())
        .collect();
    let cl: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str())
        .collect();
    if !te.is_empty() && !cl.is_empty() {
        return Err(HttpError::new(
            400,
            "both Transfer-Encoding and Content-Length given",
        ));
    }
    if !te.is_empty() {
        let codings: Vec<&str> = te
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        return match codings.as_slice() {
            [one] if one.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            _ => Err(HttpError::new(
                501,
                format!("unsupported Transfer-Encoding: {}", te.join(", ")),
            )),
        };
    }
    let mut length = None;
    for value in cl.iter().flat_map(|v| v.split(',')).map(str::trim) {
        let parsed = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // All digits but too big for usize is a huge body (413), not a bad header.
            Some(value.parse::<usize>().unwrap_or(usize::MAX))
        } else {
            None
        };
        match (parsed, length) {
            (None, _) => {
                return Err(HttpError::new(
                    400,
                    format!("bad Content-Length: {value:?}"),
                ))
            }
            (Some(n), Some(prev)) if n != prev => {
                return Err(HttpError::new(400, "conflicting Content-Length values"))
            }
            (Some(n), _) => length = Some(n),
        }
    }
    Ok(length.map_or(Framing::None, Framing::Length))
}
