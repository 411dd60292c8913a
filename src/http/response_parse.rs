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
    let ResponseHead {
        status,
        headers,
        len: head_len,
        framing,
    } = match parse_response_head(buf, ctx.request_was_head) {
        ParseHead::Incomplete => return ParseResponse::Incomplete,
        ParseHead::Error(e) => return ParseResponse::Error(e),
        ParseHead::Complete(head) => head,
    };
    let rest = &buf[head_len..];
    let too_large = || {
        ParseResponse::Error(HttpError::new(
            413,
            format!("response body exceeds {max_body} bytes"),
        ))
    };
    // A whole-response client has no use for what follows an upgrade.
    let framing = if status == 101 {
        BodyFraming::Empty
    } else {
        framing
    };
    let (body, body_len) = match framing {
        BodyFraming::Empty => (Vec::new(), 0),
        BodyFraming::Length(n) if n > max_body => return too_large(),
        BodyFraming::Length(n) => match rest.get(..n) {
            Some(body) => (body.to_vec(), n),
            None => return ParseResponse::Incomplete,
        },
        BodyFraming::Chunked => match decode_chunked(rest, max_body) {
            Chunked::Incomplete => return ParseResponse::Incomplete,
            Chunked::TooLarge => return too_large(),
            Chunked::Malformed(msg) => return ParseResponse::Error(HttpError::new(502, msg)),
            Chunked::Complete { body, consumed } => (body, consumed),
        },
        BodyFraming::UntilClose if rest.len() > max_body => return too_large(),
        BodyFraming::UntilClose if ctx.at_eof => (rest.to_vec(), rest.len()),
        BodyFraming::UntilClose => return ParseResponse::Incomplete,
    };
    ParseResponse::Complete {
        status,
        headers,
        body,
        consumed: head_len + body_len,
    }
}

/// How the body after a response head is framed, for clients that read it as it streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    Length(usize),
    Chunked,
    /// Until the peer closes (also what follows a 101 upgrade).
    UntilClose,
}

/// A response head, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Bytes of `buf` the head took.
    pub len: usize,
    pub framing: BodyFraming,
}

/// The result of trying to parse a response head.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseHead {
    Incomplete,
    Complete(ResponseHead),
    Error(HttpError),
}

/// Parses the head of the response at the start of `buf`, for clients that read the body as
/// it arrives (streams whose end may be far off) rather than whole.
pub fn parse_response_head(buf: &[u8], request_was_head: bool) -> ParseHead {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_RESPONSE_HEAD => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_RESPONSE_HEAD => {
            return ParseHead::Incomplete
        }
        Ok(_) => return ParseHead::Error(HttpError::new(502, "response head too large")),
        Err(e) => return ParseHead::Error(HttpError::new(502, format!("malformed response: {e}"))),
    };
    let Some(status) = resp.code else {
        return ParseHead::Error(HttpError::new(502, "response without a status"));
    };
    let headers = own_headers(resp.headers);
    let framing = if status == 101 {
        BodyFraming::UntilClose
    } else if request_was_head || status_has_no_body(status) {
        BodyFraming::Empty
    } else {
        match body_framing(&headers) {
            Err(e) => return ParseHead::Error(HttpError::new(502, e.message)),
            Ok(Framing::Length(n)) => BodyFraming::Length(n),
            Ok(Framing::Chunked) => BodyFraming::Chunked,
            Ok(Framing::None) => BodyFraming::UntilClose,
        }
    };
    ParseHead::Complete(ResponseHead {
        status,
        headers,
        len,
        framing,
    })
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

    #[test]
    fn parses_heads_for_streaming() {
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
        let head_len = bytes.len() - 6;
        for n in 0..head_len {
            assert_eq!(
                parse_response_head(&bytes[..n], false),
                ParseHead::Incomplete
            );
        }
        let ParseHead::Complete(head) = parse_response_head(bytes, false) else {
            panic!("incomplete")
        };
        assert_eq!((head.status, head.len), (200, head_len));
        assert_eq!(head.framing, BodyFraming::Chunked);
        let framing = |raw: &[u8]| match parse_response_head(raw, false) {
            ParseHead::Complete(h) => h.framing,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            framing(b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n"),
            BodyFraming::UntilClose
        );
        assert_eq!(
            framing(b"HTTP/1.1 204 No Content\r\n\r\n"),
            BodyFraming::Empty
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"),
            BodyFraming::Length(3)
        );
        assert_eq!(framing(b"HTTP/1.1 200 OK\r\n\r\n"), BodyFraming::UntilClose);
        assert!(matches!(
            parse_response_head(b"HTTX/1.1 200 OK\r\n\r\n", false),
            ParseHead::Error(_)
        ));
    }
}
