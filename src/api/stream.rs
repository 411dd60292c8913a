//! Answers whose body is made over several loop iterations: a connection with pending work.
//!
//! A body that costs more than a slice of the loop (statistics of every container) is written a
//! piece at a time, each piece framed as one chunk straight into the connection's output buffer,
//! and the loop serves other events between pieces. A connection holding such a body reads no
//! further request until the body is complete, so pipelined answers keep their order.

use std::time::Instant;

use crate::containerizer::Containerizer;

/// A response body made in pieces.
pub(crate) trait Body {
    /// Appends the next piece of the body to `out`, stopping once `until` has passed (after at
    /// least one unit of work, so every slice makes progress); true when the body is complete.
    fn produce(&mut self, cz: &dyn Containerizer, out: &mut Vec<u8>, until: Instant) -> bool;
}

/// Width of the chunk-size field, patched in once the piece is written (leading zeros are
/// allowed there, RFC 9112 §7.1), so the piece needs no copy to learn its length first.
const SIZE_DIGITS: usize = 8;

/// A body being streamed on a connection.
pub(super) struct Stream {
    body: Box<dyn Body>,
    /// Chunked framing; otherwise the body ends where the connection closes (HTTP/1.0).
    chunked: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("chunked", &self.chunked)
            .finish_non_exhaustive()
    }
}

impl Stream {
    pub fn new(body: Box<dyn Body>, chunked: bool) -> Stream {
        Stream { body, chunked }
    }

    /// Appends the next piece to `out`, framed; true once the body (and its last chunk) is out.
    pub fn slice(&mut self, cz: &dyn Containerizer, out: &mut Vec<u8>, until: Instant) -> bool {
        let body = &mut self.body;
        frame(self.chunked, out, |out| body.produce(cz, out, until))
    }
}

/// Runs `produce` (which appends a piece and says whether it was the last) and frames what it
/// appended as one chunk, followed by the last chunk when it was.
fn frame(chunked: bool, out: &mut Vec<u8>, produce: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
    if !chunked {
        return produce(out);
    }
    let start = out.len();
    out.extend_from_slice(&[b'0'; SIZE_DIGITS]);
    out.extend_from_slice(b"\r\n");
    let data = out.len();
    let done = produce(out);
    let len = out.len() - data;
    if len == 0 {
        // An empty chunk would end the body.
        out.truncate(start);
    } else {
        let digits = format!("{len:0width$x}", width = SIZE_DIGITS);
        out.splice(start..start + SIZE_DIGITS, digits.bytes());
        out.extend_from_slice(b"\r\n");
    }
    if done {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    done
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    /// Frames `pieces` one per slice; the empty one checks that no empty chunk is written (it
    /// would end the body early).
    fn drive(chunked: bool) -> Vec<u8> {
        let mut pieces: Vec<&[u8]> = vec![b"[1", b"", b",2", b"]"];
        let mut out = Vec::new();
        let mut slices = 0;
        while !frame(chunked, &mut out, |out| {
            out.extend_from_slice(pieces.remove(0));
            pieces.is_empty()
        }) {
            slices += 1;
        }
        assert_eq!(slices, 3);
        out
    }

    #[test]
    fn pieces_become_chunks_and_the_body_decodes() {
        let out = drive(true);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "00000002\r\n[1\r\n00000002\r\n,2\r\n00000001\r\n]\r\n0\r\n\r\n"
        );
        let mut http = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        http.extend_from_slice(&out);
        match crate::http::parse_response(&http, 1 << 20) {
            crate::http::ParseResponse::Complete { body, .. } => assert_eq!(body, b"[1,2]"),
            other => panic!("{other:?}"),
        }
        assert_eq!(drive(false), b"[1,2]", "close-delimited: the bare body");
    }
}
