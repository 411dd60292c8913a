//! Responses: building and serialising.

use super::find_header;

/// The standard reason phrase for `status` ("Unknown" for codes we never send).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Statuses whose responses never carry a body (RFC 9110 §6.4.1).
pub(crate) fn status_has_no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// A response to serialise with [`Response::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// An empty response.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: v.to_string().into_bytes(),
        }
    }

    /// A one-line plain-text body (the message plus a newline).
    pub fn text(status: u16, msg: impl Into<String>) -> Response {
        let mut body = msg.into().into_bytes();
        body.push(b'\n');
        Response {
            status,
            headers: vec![(
                "Content-Type".to_string(),
                "text/plain; charset=utf-8".to_string(),
            )],
            body,
        }
    }

    pub fn with_header(mut self, k: impl Into<String>, v: impl Into<String>) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// The first header named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Serialises the status line, the headers, `Content-Length` (unless already set, e.g. for an
    /// answer to HEAD), `Connection: close` when the connection will not be kept, and the body.
    pub fn to_bytes(&self, keep_alive: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out, keep_alive);
        out
    }

    /// As [`Response::to_bytes`], appended to `out` (a connection's output buffer) without an
    /// intermediate copy of the body.
    pub fn write_to(&self, out: &mut Vec<u8>, keep_alive: bool) {
        self.write_head_to(out, keep_alive);
        if !status_has_no_body(self.status) {
            out.extend_from_slice(&self.body);
        }
    }

    /// The head [`Response::write_to`] writes, `Content-Length` included, without the body: the
    /// answer to a HEAD request.
    pub fn write_head_to(&self, out: &mut Vec<u8>, keep_alive: bool) {
        let length = (!status_has_no_body(self.status) && self.header("content-length").is_none())
            .then_some(self.body.len());
        self.head(out, length, keep_alive);
    }

    /// The head of an answer whose body follows in pieces: `Transfer-Encoding: chunked`, or
    /// (for an HTTP/1.0 client, `chunked` false) delimited by closing the connection.
    pub fn write_stream_head(&self, out: &mut Vec<u8>, chunked: bool, keep_alive: bool) {
        let mut resp = self.clone();
        if chunked {
            resp.headers
                .push(("Transfer-Encoding".to_string(), "chunked".to_string()));
        }
        resp.head(out, None, keep_alive && chunked);
    }

    fn head(&self, out: &mut Vec<u8>, length: Option<usize>, keep_alive: bool) {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(length) = length {
            head.push_str(&format!("Content-Length: {length}\r\n"));
        }
        if !keep_alive && self.header("connection").is_none() {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn serialises_status_line_length_and_close() {
        let bytes = Response::text(404, "no such container: web-1").to_bytes(false);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 25\r\nConnection: close\r\n\r\nno such container: web-1\n"
        );
    }

    #[test]
    fn keep_alive_omits_connection_and_204_has_no_length() {
        let bytes = Response::new(204).to_bytes(true);
        assert_eq!(bytes, b"HTTP/1.1 204 No Content\r\n\r\n");
        let bytes = Response::new(200).to_bytes(true);
        assert_eq!(bytes, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn json_sets_content_type_and_explicit_length_wins() {
        let r =
            Response::json(200, &serde_json::json!({"a": 1})).with_header("Content-Length", "99");
        let text = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.contains("Content-Length: 99\r\n"));
        assert!(!text.contains("Content-Length: 7"));
        assert!(text.ends_with("\r\n\r\n{\"a\":1}"));
    }

    #[test]
    fn heads_without_bodies() {
        let r = Response::text(200, "abc");
        let mut out = Vec::new();
        r.write_head_to(&mut out, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\n"
        );
        let mut out = Vec::new();
        Response::new(200).write_stream_head(&mut out, true, true);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut out = Vec::new();
        Response::new(200).write_stream_head(&mut out, false, true);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    }

    #[test]
    fn reason_phrases_cover_the_statuses_we_send() {
        for s in [
            200, 202, 204, 400, 404, 405, 406, 408, 411, 413, 415, 431, 500, 503,
        ] {
            assert_ne!(reason_phrase(s), "Unknown", "{s}");
        }
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(599), "Unknown");
    }
}
