//! Percent-decoding of request targets (RFC 3986 §2.1) and `application/x-www-form-urlencoded`
//! query strings, plus the encoder the client uses to build query strings.

use std::fmt;

/// A `%XX` escape that is not two hex digits, or a decoded value that is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The raw text that failed to decode.
    pub input: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad percent-encoding in {:?}", self.input)
    }
}

impl std::error::Error for DecodeError {}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes; with `plus_is_space` (query strings) `+` becomes a space.
pub fn percent_decode(input: &str, plus_is_space: bool) -> Result<String, DecodeError> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => {
                        return Err(DecodeError {
                            input: input.to_string(),
                        })
                    }
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError {
        input: input.to_string(),
    })
}

/// Splits a query string into decoded `(key, value)` pairs; a piece without `=` has an empty value.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, DecodeError> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

/// Encodes a query-string component: unreserved characters and `/` stay, everything else is `%XX`.
pub fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(percent_decode("/a%20b%2Fc", false).unwrap(), "/a b/c");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
        assert_eq!(percent_decode("%c3%a9", false).unwrap(), "é");
    }

    #[test]
    fn rejects_bad_escapes_and_non_utf8() {
        assert!(percent_decode("%2", false).is_err());
        assert!(percent_decode("%zz", false).is_err());
        assert!(percent_decode("%ff", false).is_err());
    }

    #[test]
    fn parses_query_pairs() {
        let q = parse_query("path=%2Fvar%2Flib+x&offset=-1&&flag").unwrap();
        assert_eq!(
            q,
            vec![
                ("path".to_string(), "/var/lib x".to_string()),
                ("offset".to_string(), "-1".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn encode_round_trips() {
        let raw = "/var/lib/mesolite/containers/a b+c&d=é";
        let enc = percent_encode(raw);
        assert!(!enc.contains(' ') && !enc.contains('&') && !enc.contains('+'));
        assert_eq!(percent_decode(&enc, true).unwrap(), raw);
    }
}
