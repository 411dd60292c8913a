//! Request parsing: one request from the start of a connection's read buffer.

use super::chunked::{decode_chunked, Chunked};
use super::percent::{parse_query, percent_decode};
use super::{
    body_framing, find_header, header_has_token, own_headers, Framing, HttpError, Limits, Method,
    MAX_HEADERS,
};

/// What a server writes when a client sent `Expect: 100-continue` and the body is still to come.
pub const CONTINUE_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A parsed request with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target as sent.
    pub target: String,
    /// The percent-decoded path part of the target.
    pub path: String,
    /// The percent-decoded query pairs (`+` as space), in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
    /// HTTP/1.1 or later: the client reads `Transfer-Encoding: chunked` answers.
    pub http_1_1: bool,
}

impl Request {
    /// The first header named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The first query parameter named `k`.
    pub fn query_param(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
}

/// The result of trying to parse one request.
#[derive(Debug)]
pub enum Parse {
    /// More bytes are needed.
    Incomplete,
    /// A whole request, which used the first `consumed` bytes of the buffer.
    Complete { request: Request, consumed: usize },
    /// The request is invalid; answer `status` and close the connection.
    Error(HttpError),
}

/// The parsed request head, before the body.
struct Head {
    method: Method,
    target: String,
    version: u8,
    headers: Vec<(String, String)>,
    len: usize,
}

enum HeadParse {
    Incomplete,
    Complete(Head),
    Error(HttpError),
}

fn parse_head(buf: &[u8], limits: &Limits) -> HeadParse {
    let too_large = || {
        HeadParse::Error(HttpError::new(
            431,
            format!("request headers exceed {} bytes", limits.max_header_bytes),
        ))
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_header_bytes => return too_large(),
        Ok(httparse::Status::Partial) => return HeadParse::Incomplete,
        Err(httparse::Error::TooManyHeaders) => {
            return HeadParse::Error(HttpError::new(
                431,
                format!("more than {MAX_HEADERS} request headers"),
            ))
        }
        Err(e) => return HeadParse::Error(HttpError::new(400, format!("malformed request: {e}"))),
    };
    if len > limits.max_header_bytes {
        return too_large();
    }
    // httparse fills all three once the head is complete.
    match (req.method, req.path, req.version) {
        (Some(method), Some(target), Some(version)) => HeadParse::Complete(Head {
            method: Method::parse(method),
            target: target.to_string(),
            version,
            headers: own_headers(req.headers),
            len,
        }),
        _ => HeadParse::Error(HttpError::new(400, "malformed request line")),
    }
}

/// Splits a target into its decoded path and query; accepts origin-form, absolute-form and `*`.
fn split_target(target: &str) -> Result<(String, Vec<(String, String)>), HttpError> {
    let bad = || HttpError::new(400, format!("bad request target: {target:?}"));
    let origin = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else if target.starts_with('/') || target == "*" {
        target
    } else {
        return Err(bad());
    };
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    let path = percent_decode(path, false).map_err(|_| bad())?;
    let query = parse_query(query).map_err(|_| bad())?;
    Ok((path, query))
}

fn keep_alive(version: u8, headers: &[(String, String)]) -> bool {
    if version >= 1 {
        !header_has_token(headers, "connection", "close")
    } else {
        header_has_token(headers, "connection", "keep-alive")
    }
}

/// Parses one request from the start of `buf` (which may hold a pipelined next request after it).
///
/// Limits are enforced as early as possible: an oversized head is refused (431) while still
/// incomplete, and an oversized `Content-Length` (413) as soon as the head is in.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Parse {
    let head = match parse_head(buf, limits) {
        HeadParse::Incomplete => return Parse::Incomplete,
        HeadParse::Error(e) => return Parse::Error(e),
        HeadParse::Complete(head) => head,
    };
    let (path, query) = match split_target(&head.target) {
        Ok(split) => split,
        Err(e) => return Parse::Error(e),
    };
    let too_large = || {
        Parse::Error(HttpError::new(
            413,
            format!("request body exceeds {} bytes", limits.max_body_bytes),
        ))
    };
    let rest = &buf[head.len..];
    let (body, body_len) = match body_framing(&head.headers) {
        Err(e) => return Parse::Error(e),
        Ok(Framing::None) => (Vec::new(), 0),
        Ok(Framing::Length(n)) if n > limits.max_body_bytes => return too_large(),
        Ok(Framing::Length(n)) => match rest.get(..n) {
            Some(body) => (body.to_vec(), n),
            None => return Parse::Incomplete,
        },
        Ok(Framing::Chunked) => match decode_chunked(rest, limits.max_body_bytes) {
            Chunked::Incomplete => return Parse::Incomplete,
            Chunked::TooLarge => return too_large(),
            Chunked::Malformed(msg) => return Parse::Error(HttpError::new(400, msg)),
            Chunked::Complete { body, consumed } => (body, consumed),
        },
    };
    let keep_alive = keep_alive(head.version, &head.headers);
    Parse::Complete {
        request: Request {
            method: head.method,
            target: head.target,
            path,
            query,
            headers: head.headers,
            body,
            keep_alive,
            http_1_1: head.version >= 1,
        },
        consumed: head.len + body_len,
    }
}

/// True when `buf` holds a complete HTTP/1.1 head with `Expect: 100-continue` whose body has not
/// fully arrived: the server should write [`CONTINUE_RESPONSE`] once (curl waits for it).
pub fn wants_continue(buf: &[u8], limits: &Limits) -> bool {
    match parse_head(buf, limits) {
        HeadParse::Complete(head) => {
            head.version >= 1
                && find_header(&head.headers, "expect")
                    .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
                && matches!(parse_request(buf, limits), Parse::Incomplete)
        }
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_header_bytes: 16 * 1024,
        max_body_bytes: 1024 * 1024,
    };

    fn complete(buf: &[u8]) -> (Request, usize) {
        match parse_request(buf, &LIMITS) {
            Parse::Complete { request, consumed } => (request, consumed),
            other => panic!("expected a complete request, got {other:?}"),
        }
    }

    fn error_status(buf: &[u8], limits: &Limits) -> u16 {
        match parse_request(buf, limits) {
            Parse::Error(e) => e.status,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    const SAMPLE: &[u8] = b"POST /api/v1?x=1 HTTP/1.1\r\nHost: localhost\r\n\
Content-Type: application/json\r\nContent-Length: 23\r\n\r\n{\"type\": \"GET_HEALTH\"}\n";

    #[test]
    fn parses_a_post_with_body() {
        let (req, consumed) = complete(SAMPLE);
        assert_eq!(consumed, SAMPLE.len());
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.target, "/api/v1?x=1");
        assert_eq!(req.path, "/api/v1");
        assert_eq!(req.query_param("x"), Some("1"));
        assert_eq!(req.header("content-TYPE"), Some("application/json"));
        assert_eq!(req.body, b"{\"type\": \"GET_HEALTH\"}\n");
        assert!(req.keep_alive);
    }

    #[test]
    fn every_split_point_is_incomplete_then_complete() {
        for n in 0..SAMPLE.len() {
            assert!(
                matches!(parse_request(&SAMPLE[..n], &LIMITS), Parse::Incomplete),
                "prefix of {n} bytes"
            );
        }
        assert_eq!(complete(SAMPLE).1, SAMPLE.len());
    }

    #[test]
    fn pipelined_requests_parse_one_at_a_time() {
        let mut buf = SAMPLE.to_vec();
        buf.extend_from_slice(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\nGET /x");
        let (first, consumed) = complete(&buf);
        assert_eq!(first.path, "/api/v1");
        assert_eq!(consumed, SAMPLE.len());
        let (second, consumed2) = complete(&buf[consumed..]);
        assert_eq!(second.method, Method::Get);
        assert_eq!(second.path, "/health");
        assert!(!second.keep_alive);
        assert!(second.body.is_empty());
        assert!(matches!(
            parse_request(&buf[consumed + consumed2..], &LIMITS),
            Parse::Incomplete
        ));
    }

    #[test]
    fn oversized_body_is_refused_before_it_arrives() {
        let limits = Limits {
            max_header_bytes: 1024,
            max_body_bytes: 10,
        };
        let head = b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
        assert_eq!(error_status(head, &limits), 413);
        let huge = b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert_eq!(error_status(huge, &limits), 413);
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n";
        assert_eq!(error_status(chunked, &limits), 413);
    }

    #[test]
    fn oversized_head_is_refused_even_while_incomplete() {
        let limits = Limits {
            max_header_bytes: 64,
            max_body_bytes: 10,
        };
        let mut buf = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        buf.resize(60, b'a');
        assert!(matches!(parse_request(&buf, &limits), Parse::Incomplete));
        buf.resize(65, b'a');
        assert_eq!(error_status(&buf, &limits), 431);
        let mut complete_head = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        complete_head.resize(70, b'a');
        complete_head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(error_status(&complete_head, &limits), 431);
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(error_status(&buf, &LIMITS), 431);
    }

    #[test]
    fn decodes_chunked_bodies() {
        let buf = b"POST /api/v1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET";
        let (req, consumed) = complete(buf);
        assert_eq!(req.body, b"abcde");
        assert_eq!(consumed, buf.len() - 3);
        assert!(matches!(
            parse_request(&buf[..buf.len() - 6], &LIMITS),
            Parse::Incomplete
        ));
    }

    #[test]
    fn bad_requests_are_400() {
        let cases: &[&[u8]] = &[
            b"GET\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET /%zz HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        ];
        for case in cases {
            assert_eq!(
                error_status(case, &LIMITS),
                400,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
        let gzip = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(error_status(gzip, &LIMITS), 501);
    }

    #[test]
    fn decodes_path_and_query() {
        let (req, _) = complete(
            b"GET /files/read%20me?path=%2Fvar%2Flib%2Fa+b&offset=-1&length=65536 HTTP/1.1\r\n\r\n",
        );
        assert_eq!(req.path, "/files/read me");
        assert_eq!(req.query_param("path"), Some("/var/lib/a b"));
        assert_eq!(req.query_param("offset"), Some("-1"));
        assert_eq!(req.query_param("missing"), None);
        let (abs, _) = complete(b"GET http://localhost/health?a=1 HTTP/1.1\r\n\r\n");
        assert_eq!(abs.path, "/health");
        assert_eq!(abs.query_param("a"), Some("1"));
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        assert!(complete(b"GET / HTTP/1.1\r\n\r\n").0.keep_alive);
        assert!(
            !complete(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
                .0
                .keep_alive
        );
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").0.keep_alive);
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").0.http_1_1);
        assert!(complete(b"GET / HTTP/1.1\r\n\r\n").0.http_1_1);
        assert!(
            complete(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .0
                .keep_alive
        );
    }

    #[test]
    fn continue_is_wanted_only_while_the_body_is_missing() {
        let head = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        assert!(wants_continue(head, &LIMITS));
        let mut full = head.to_vec();
        full.extend_from_slice(b"ok");
        assert!(!wants_continue(&full, &LIMITS));
        assert!(!wants_continue(
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n",
            &LIMITS
        ));
    }
}
