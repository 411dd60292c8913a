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

/// An incremental decoder for chunked bodies that stream (event streams, image pull progress,
/// a container's output): it hands out each chunk's data as it arrives, where
/// [`decode_chunked`] waits for the last chunk.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: DecoderState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum DecoderState {
    #[default]
    Size,
    /// Bytes of the current chunk still to come.
    Data(usize),
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailers,
    Done,
}

impl ChunkedDecoder {
    /// Decodes what it can of `buf` (removing it) and appends the body bytes to `out`;
    /// `Ok(true)` once the last chunk and the trailers are read (bytes after them stay in `buf`).
    pub fn feed(&mut self, buf: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<bool, &'static str> {
        let mut pos = 0;
        let result = loop {
            match self.state {
                DecoderState::Done => break Ok(true),
                DecoderState::Size => {
                    let Some(eol) = find_crlf(buf, pos) else {
                        break too_long(buf.len() - pos, "chunk size line too long");
                    };
                    match chunk_size(&buf[pos..eol]) {
                        Ok(Some(0)) => self.state = DecoderState::Trailers,
                        Ok(Some(n)) => self.state = DecoderState::Data(n),
                        Ok(None) => break Err("chunk size too large"),
                        Err(msg) => break Err(msg),
                    }
                    pos = eol + 2;
                }
                DecoderState::Data(left) => {
                    let take = left.min(buf.len() - pos);
                    if take == 0 {
                        break Ok(false);
                    }
                    out.extend_from_slice(&buf[pos..pos + take]);
                    pos += take;
                    self.state = match left - take {
                        0 => DecoderState::DataEnd,
                        rest => DecoderState::Data(rest),
                    };
                }
                DecoderState::DataEnd => match buf.get(pos..pos + 2) {
                    None => break Ok(false),
                    Some(b"\r\n") => {
                        pos += 2;
                        self.state = DecoderState::Size;
                    }
                    Some(_) => break Err("chunk data not followed by CRLF"),
                },
                DecoderState::Trailers => {
                    let Some(eol) = find_crlf(buf, pos) else {
                        break too_long(buf.len() - pos, "trailer line too long");
                    };
                    if eol == pos {
                        self.state = DecoderState::Done;
                    }
                    pos = eol + 2;
                }
            }
        };
        buf.drain(..pos);
        result
    }
}

/// An unterminated line: wait for more, unless it is already longer than any line may be.
fn too_long(pending: usize, msg: &'static str) -> Result<bool, &'static str> {
    if pending > MAX_LINE {
        Err(msg)
    } else {
        Ok(false)
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

    #[test]
    fn streaming_decoder_hands_out_data_as_it_arrives() {
        let raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: a\r\n\r\nNEXT";
        // Byte by byte: the data comes out as it arrives, the end is seen once.
        let mut dec = ChunkedDecoder::default();
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        let mut done_at = None;
        for (i, b) in raw.iter().enumerate() {
            buf.push(*b);
            if dec.feed(&mut buf, &mut out).unwrap() && done_at.is_none() {
                done_at = Some(i);
            }
            if i == 11 {
                assert_eq!(out, b"hel");
            }
        }
        assert_eq!(out, b"hello world");
        assert_eq!(done_at, Some(raw.len() - 5));
        assert_eq!(buf, b"NEXT");
        // All at once: the same.
        let mut dec = ChunkedDecoder::default();
        let (mut buf, mut out) = (raw.to_vec(), Vec::new());
        assert_eq!(dec.feed(&mut buf, &mut out), Ok(true));
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn streaming_decoder_rejects_malformed_chunks() {
        for bad in [&b"zz\r\n"[..], b"2\r\nabc\r\n", b"ffffffffffffffffffff\r\n"] {
            let mut buf = bad.to_vec();
            assert!(ChunkedDecoder::default()
                .feed(&mut buf, &mut Vec::new())
                .is_err());
        }
        let mut buf = vec![b'1'; MAX_LINE + 10];
        assert!(ChunkedDecoder::default()
            .feed(&mut buf, &mut Vec::new())
            .is_err());
    }
}
