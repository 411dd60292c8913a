//! A small JSON writer for the statistics hot path: values are appended straight to an output
//! buffer (a connection's), with no `serde_json::Value` tree built and freed per request.
//!
//! The bytes are those `serde_json` writes for the same data: strings escaped as it escapes them,
//! numbers through its own formatter (shortest round-trip floats, `null` for a non-finite one),
//! so a client sees no difference between this path and the `Value` one.

use serde_json::ser::{CompactFormatter, Formatter};

/// Whether a byte of a string is written escaped.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends an unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    // Writing into a Vec cannot fail.
    let _ = CompactFormatter.write_u64(out, v);
}

/// Appends a float as serde_json does: `null` when it is not finite.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = CompactFormatter.write_f64(out, v);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// An object being written: members are appended in call order, commas between them.
#[derive(Debug)]
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    /// Writes `{`; [`Object::end`] writes `}`.
    pub fn begin(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Writes `"key":` and hands out the buffer for the value (a nested object, say).
    ///
    /// Member names are the program's own field names (`'static`), none of which needs
    /// escaping, so they are copied as they are: escaping them byte by byte was a sixth of the
    /// statistics endpoint's CPU time in user space.
    pub fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        debug_assert!(
            !key.bytes().any(needs_escape),
            "member name {key:?} needs escaping"
        );
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub fn str(&mut self, key: &'static str, v: &str) {
        write_str(self.key(key), v);
    }

    pub fn u64(&mut self, key: &'static str, v: u64) {
        write_u64(self.key(key), v);
    }

    pub fn f64(&mut self, key: &'static str, v: f64) {
        write_f64(self.key(key), v);
    }

    /// A member only when there is a value (Mesos leaves unset fields out).
    pub fn opt_u64(&mut self, key: &'static str, v: Option<u64>) {
        if let Some(v) = v {
            self.u64(key, v);
        }
    }

    pub fn opt_f64(&mut self, key: &'static str, v: Option<f64>) {
        if let Some(v) = v {
            self.f64(key, v);
        }
    }

    /// A member holding an array, left out when empty (Mesos leaves empty repeated fields out).
    pub fn list<T>(&mut self, key: &'static str, items: &[T], write: impl Fn(&T, &mut Vec<u8>)) {
        if items.is_empty() {
            return;
        }
        let out = self.key(key);
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write(item, out);
        }
        out.push(b']');
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn str_json(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_control: String = (0u8..0x20).map(char::from).collect();
        every_control.push('\u{7f}');
        for s in [
            "",
            "plain",
            "quote\" back\\slash /",
            "tab\tnl\ncr\r bs\u{8} ff\u{c}",
            every_control.as_str(),
            "ünïcødé ✓ 𝄞",
            "\"\"\\\\",
            "end\u{1}",
        ] {
            assert_eq!(str_json(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        assert_eq!(str_json("a\u{1}b"), r#""a\u0001b""#);
    }

    #[test]
    fn numbers_are_formatted_as_serde_json_formats_them() {
        for v in [
            0u64,
            1,
            9,
            10,
            4096,
            67_108_864,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_u64(&mut out, v);
            assert_eq!(out, serde_json::to_vec(&v).unwrap(), "{v}");
        }
        for v in [
            0.0,
            -0.0,
            1.0,
            0.5,
            77.08,
            352.597023453,
            1e-5,
            5e-6,
            1e15,
            1e16,
            1e300,
            f64::MIN_POSITIVE,
            1_700_000_000.123_456,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(out, serde_json::to_vec(&v).unwrap(), "{v}");
        }
    }

    #[test]
    fn objects_nest_and_leave_out_unset_members() {
        let mut out = b"[".to_vec();
        let mut o = Object::begin(&mut out);
        o.str("id", "c\"1");
        o.opt_u64("none", None);
        o.opt_f64("half", Some(0.5));
        let mut inner = Object::begin(o.key("inner"));
        inner.u64("n", 3);
        inner.end();
        Object::begin(o.key("empty")).end();
        o.end();
        out.push(b']');
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([{"id": "c\"1", "half": 0.5, "inner": {"n": 3}, "empty": {}}])
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"[{"id":"c\"1","half":0.5,"inner":{"n":3},"empty":{}}]"#
        );
    }
}
