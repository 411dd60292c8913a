//! Response parsing, for clients.

use super::chunked::{decode_chunked, Chunked};
use super::response::status_has_no_body;
use super::{body_framing, own_headers, Framing, HttpError, MAX_HEADERS};

/// Largest response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// The result of trying to parse one response.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseResponse {
    Incomplete,
    Complete {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        consumed: usize,
    },
    /// A malformed (502) or oversized (413) response.
    Error(HttpError),
}

/// What the parser cannot see in the bytes themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseContext {
    /// The request was HEAD: the response has no body whatever its headers say.
    pub request_was_head: bool,
    /// The peer closed the connection: a body without framing ends here, and anything still
    /// incomplete is an error.
    pub at_eof: bool,
}

/// Parses one response from the start of `buf`, with bodies framed by `Content-Length` or
/// `chunked`, up to `max_body` bytes.
pub fn parse_response(buf: &[u8], max_body: usize) -> ParseResponse {
    parse_response_with(buf, max_body, ResponseContext::default())
}

/// [`parse_response`], knowing whether the request was HEAD and whether the peer has closed.
pub fn parse_response_with(buf: &[u8], max_body: usize, ctx: ResponseContext) -> ParseResponse {
    match parse_open(buf, max_body, ctx) {
        ParseResponse::Incomplete if ctx.at_eof => ParseResponse::Error(HttpError::new(
            502,
            "connection closed before the response was complete",
        )),
        other => other,
    }
}

fn parse_open(buf: &[u8], max_body: usize, ctx: ResponseContext) -> ParseResponse {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_RESPONSE_HEAD => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_RESPONSE_HEAD => {
            return ParseResponse::Incomplete
        }
        Ok(_) => return ParseResponse::Error(HttpError::new(502, "response head too large")),
        Err(e) => {
            return ParseResponse::Error(HttpError::new(502, format!("malformed response: {e}")))
        }
    };
    let Some(status) = resp.code else {
        return ParseResponse::Error(HttpError::new(502, "response without a status"));
    };
    let headers = own_headers(resp.headers);
    let rest = &buf[head_len..];
    let too_large = || {
        ParseResponse::Error(HttpError::new(
            413,
            format!("response body exceeds {max_body} bytes"),
        ))
    };
    let (body, body_len) = if ctx.request_was_head || status_has_no_body(status) {
        (Vec::new(), 0)
    } else {
        match body_framing(&headers) {
            Err(e) => return ParseResponse::Error(HttpError::new(502, e.message)),
            Ok(Framing::Length(n)) if n > max_body => return too_large(),
            Ok(Framing::Length(n)) => match rest.get(..n) {
                Some(body) => (body.to_vec(), n),
                None => return ParseResponse::Incomplete,
            },
            Ok(Framing::Chunked) => match decode_chunked(rest, max_body) {
                Chunked::Incomplete => return ParseResponse::Incomplete,
                Chunked::TooLarge => return too_large(),
                Chunked::Malformed(msg) => return ParseResponse::Error(HttpError::new(502, msg)),
                Chunked::Complete { body, consumed } => (body, consumed),
            },
            Ok(Framing::None) if rest.len() > max_body => return too_large(),
            Ok(Framing::None) if ctx.at_eof => (rest.to_vec(), rest.len()),
            Ok(Framing::None) => return ParseResponse::Incomplete,
        }
    };
    ParseResponse::Complete {
        status,
        headers,
        body,
        consumed: head_len + body_len,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{encode_chunked, Response};
    use super::*;

    fn complete(r: ParseResponse) -> (u16, Vec<(String, String)>, Vec<u8>, usize) {
        match r {
            ParseResponse::Complete {
                status,
                headers,
                body,
                consumed,
            } => (status, headers, body, consumed),
            other => panic!("expected a complete response, got {other:?}"),
        }
    }

    #[test]
    fn round_trips_a_serialised_response() {
        let sent = Response::json(200, &serde_json::json!({"type": "GET_HEALTH"}));
        let mut bytes = sent.to_bytes(true);
        let len = bytes.len();
        for n in 0..len {
            assert_eq!(
                parse_response(&bytes[..n], 1024),
                ParseResponse::Incomplete,
                "{n}"
            );
        }
        bytes.extend_from_slice(b"HTTP/1.1 204");
        let (status, headers, body, consumed) = complete(parse_response(&bytes, 1024));
        assert_eq!(status, 200);
        assert_eq!(body, sent.body);
        assert_eq!(consumed, len);
        assert!(headers.contains(&("Content-Type".to_string(), "application/json".to_string())));
    }

    #[test]
    fn decodes_chunked_responses() {
        let mut bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        bytes.extend_from_slice(&encode_chunked(b"streamed"));
        let (_, _, body, consumed) = complete(parse_response(&bytes, 1024));
        assert_eq!(body, b"streamed");
        assert_eq!(consumed, bytes.len());
        assert_eq!(
            parse_response(&bytes, 4),
            ParseResponse::Error(HttpError::new(413, "response body exceeds 4 bytes"))
        );
    }

    #[test]
    fn unframed_bodies_end_at_eof_and_head_or_204_have_none() {
        let bytes = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        assert_eq!(parse_response(bytes, 1024), ParseResponse::Incomplete);
        let eof = ResponseContext {
            at_eof: true,
            ..ResponseContext::default()
        };
        assert_eq!(
            complete(parse_response_with(bytes, 1024, eof)).2,
            b"until close"
        );
        let head = ResponseContext {
            request_was_head: true,
            ..ResponseContext::default()
        };
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(
            complete(parse_response_with(bytes, 1024, head)).3,
            bytes.len()
        );
        let bytes = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(complete(parse_response(bytes, 1024)).0, 204);
    }

    #[test]
    fn malformed_and_truncated_responses_are_errors() {
        assert!(matches!(
            parse_response(b"HTTX/1.1 200 OK\r\n\r\n", 10),
            ParseResponse::Error(_)
        ));
        let eof = ResponseContext {
            at_eof: true,
            ..ResponseContext::default()
        };
        assert!(matches!(
            parse_response_with(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 10, eof),
            ParseResponse::Error(_)
        ));
    }
}
