//! Base64 (RFC 4648) for HTTP Basic credentials, Docker's `X-Registry-Auth` header and
//! `config.json` `auth` fields: the standard and the URL-safe alphabets, padded on encode,
//! padding optional on decode. Small enough that a crate would not earn its place.

use std::fmt;

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Which 64 characters stand for the sextets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Standard,
    UrlSafe,
}

impl Alphabet {
    fn table(self) -> &'static [u8; 64] {
        match self {
            Alphabet::Standard => STANDARD,
            Alphabet::UrlSafe => URL_SAFE,
        }
    }

    fn value(self, byte: u8) -> Option<u8> {
        match byte {
            b'A'..=b'Z' => Some(byte - b'A'),
            b'a'..=b'z' => Some(byte - b'a' + 26),
            b'0'..=b'9' => Some(byte - b'0' + 52),
            b'+' if self == Alphabet::Standard => Some(62),
            b'/' if self == Alphabet::Standard => Some(63),
            b'-' if self == Alphabet::UrlSafe => Some(62),
            b'_' if self == Alphabet::UrlSafe => Some(63),
            _ => None,
        }
    }
}

/// Why a text is not base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base64Error {
    /// A byte outside the alphabet, at this offset.
    InvalidByte { offset: usize, byte: u8 },
    /// The length leaves a single sextet (or padding is misplaced).
    InvalidLength(usize),
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base64Error::InvalidByte { offset, byte } => {
                write!(f, "invalid base64 byte 0x{byte:02x} at offset {offset}")
            }
            Base64Error::InvalidLength(len) => write!(f, "invalid base64 length {len}"),
        }
    }
}

impl std::error::Error for Base64Error {}

/// `data` in `alphabet`, padded with `=`.
pub fn encode(data: &[u8], alphabet: Alphabet) -> String {
    let table = alphabet.table();
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(table[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes `text` stands for; trailing `=` padding is optional, whitespace is not allowed.
pub fn decode(text: &str, alphabet: Alphabet) -> Result<Vec<u8>, Base64Error> {
    let bytes = text.as_bytes();
    let body = bytes
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(&bytes[..0], |last| &bytes[..=last]);
    let padding = bytes.len() - body.len();
    if padding > 2 || (padding > 0 && bytes.len() % 4 != 0) || body.len() % 4 == 1 {
        return Err(Base64Error::InvalidLength(bytes.len()));
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for (index, chunk) in body.chunks(4).enumerate() {
        let mut n = 0u32;
        for (i, &byte) in chunk.iter().enumerate() {
            let value = alphabet.value(byte).ok_or(Base64Error::InvalidByte {
                offset: index * 4 + i,
                byte,
            })?;
            n |= u32::from(value) << (18 - 6 * i);
        }
        let whole = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&whole[..chunk.len() - 1]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rfc4648_vectors_round_trip() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(encode(plain.as_bytes(), Alphabet::Standard), coded);
            assert_eq!(decode(coded, Alphabet::Standard).unwrap(), plain.as_bytes());
            assert_eq!(
                decode(coded.trim_end_matches('='), Alphabet::Standard).unwrap(),
                plain.as_bytes()
            );
        }
    }

    #[test]
    fn test_alphabets_differ_in_two_characters() {
        let data = [0xfb, 0xff, 0xbf];
        assert_eq!(encode(&data, Alphabet::Standard), "+/+/");
        assert_eq!(encode(&data, Alphabet::UrlSafe), "-_-_");
        assert_eq!(decode("-_-_", Alphabet::UrlSafe).unwrap(), data);
        assert!(decode("-_-_", Alphabet::Standard).is_err());
    }

    #[test]
    fn test_bad_input_is_an_error_not_a_panic() {
        assert_eq!(
            decode("Zm9v!A==", Alphabet::Standard),
            Err(Base64Error::InvalidByte {
                offset: 4,
                byte: b'!'
            })
        );
        assert!(decode("Z", Alphabet::Standard).is_err());
        assert!(decode("Zg===", Alphabet::Standard).is_err());
        assert!(decode("Zg=", Alphabet::Standard).is_err());
        assert!(decode("Zm 9v", Alphabet::Standard).is_err());
        assert_eq!(
            decode("====", Alphabet::Standard),
            Err(Base64Error::InvalidLength(4))
        );
    }
}
