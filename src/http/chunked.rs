//! `Transfer-Encoding: chunked` body decoding (RFC 9112 §7.1), shared by requests and responses.

/// Longest chunk-size line (with extensions) or trailer line accepted; bounds how much a peer can
/// make us buffer without sending body bytes.
const MAX_LINE: usize = 4096;

/// The outcome of decoding a chunked body from the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunked {
    Incomplete,
    Complete {
        body: Vec<u8>,
        consumed: usize,
    },
    /// The announced chunk sizes add up to more than the limit (known before the data arrives).
    TooLarge,
    Malformed(&'static str),
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

/// Parses a chunk-size line (without its CRLF): hex digits, optional whitespace and `;ext`.
fn chunk_size(line: &[u8]) -> Result<Option<usize>, &'static str> {
    let end = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let digits = &line[..end];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err("bad chunk size");
    }
    let text = std::str::from_utf8(digits).map_err(|_| "bad chunk size")?;
    // More digits than fit in a usize is simply "too large", not malformed.
    Ok(usize::from_str_radix(text, 16).ok())
}

/// Decodes a chunked body at the start of `buf`; `consumed` counts through the final CRLF
/// after the (skipped) trailers.
pub(crate) fn decode_chunked(buf: &[u8], max_body: usize) -> Chunked {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = find_crlf(buf, pos) else {
            return if buf.len() - pos > MAX_LINE {
                Chunked::Malformed("chunk size line too long")
            } else {
                Chunked::Incomplete
            };
        };
        let size = match chunk_size(&buf[pos..eol]) {
            Ok(Some(size)) => size,
            Ok(None) => return Chunked::TooLarge,
            Err(msg) => return Chunked::Malformed(msg),
        };
        if size > max_body.saturating_sub(body.len()) {
            return Chunked::TooLarge;
        }
        pos = eol + 2;
        if size == 0 {
            return skip_trailers(buf, pos, body);
        }
        let data_end = pos + size;
        let Some(after) = buf.get(data_end..data_end + 2) else {
            return Chunked::Incomplete;
        };
        if after != b"\r\n" {
            return Chunked::Malformed("chunk data not followed by CRLF");
        }
        body.extend_from_slice(&buf[pos..data_end]);
        pos = data_end + 2;
    }
}

fn skip_trailers(buf: &[u8], mut pos: usize, body: Vec<u8>) -> Chunked {
    loop {
        let Some(eol) = find_crlf(buf, pos) else {
            return if buf.len() - pos > MAX_LINE {
                Chunked::Malformed("trailer line too long")
            } else {
                Chunked::Incomplete
            };
        };
        if eol == pos {
            return Chunked::Complete {
                body,
                consumed: pos + 2,
            };
        }
        pos = eol + 2;
    }
}

/// Encodes `body` as a single chunk plus the terminating chunk (used by tests and clients).
pub fn encode_chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 16);
    if !body.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_chunks_with_extensions_and_trailers() {
        let raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: a\r\n\r\nNEXT";
        assert_eq!(
            decode_chunked(raw, 1024),
            Chunked::Complete {
                body: b"hello world".to_vec(),
                consumed: raw.len() - 4
            }
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let raw = b"a\r\n0123456789\r\n0\r\n\r\n";
        for n in 0..raw.len() {
            assert_eq!(
                decode_chunked(&raw[..n], 1024),
                Chunked::Incomplete,
                "prefix {n}"
            );
        }
        assert!(matches!(
            decode_chunked(raw, 1024),
            Chunked::Complete { .. }
        ));
    }

    #[test]
    fn limit_applies_to_decoded_size_before_data_arrives() {
        assert_eq!(
            decode_chunked(b"5\r\nhello\r\n6\r\n", 10),
            Chunked::TooLarge
        );
        assert_eq!(
            decode_chunked(b"ffffffffffffffffffff\r\n", 10),
            Chunked::TooLarge
        );
        assert!(matches!(
            decode_chunked(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 10),
            Chunked::Complete { .. }
        ));
    }

    #[test]
    fn rejects_malformed_chunks() {
        assert!(matches!(
            decode_chunked(b"zz\r\n", 10),
            Chunked::Malformed(_)
        ));
        assert!(matches!(decode_chunked(b"\r\n", 10), Chunked::Malformed(_)));
        assert!(matches!(
            decode_chunked(b"2\r\nabc\r\n", 10),
            Chunked::Malformed(_)
        ));
        assert!(matches!(
            decode_chunked(&[b'1'; MAX_LINE + 10], usize::MAX),
            Chunked::Malformed(_)
        ));
    }

    #[test]
    fn encode_round_trips() {
        let enc = encode_chunked(b"payload");
        assert_eq!(
            decode_chunked(&enc, 100),
            Chunked::Complete {
                body: b"payload".to_vec(),
                consumed: enc.len()
            }
        );
    }
}
