//! What the agent and its helpers (the deleter, the cgroup helper) say to each other. A request
//! is a header `<kind> <id> <n>` and `n` paths, each field NUL-terminated (a path may hold any
//! byte but NUL); an answer is one line, `<id> ok` or `<id> failed <why>`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Names a request in its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request {}", self.0)
    }
}

/// What is to be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A tree (or a single file) deleted, on its own filesystem and mount only.
    Tree(PathBuf),
    /// Cgroup directories deleted, each with the cgroups under it (deepest first), in this
    /// order: one still busy stops the rest until it is removed.
    Cgroups(Vec<PathBuf>),
    /// Cgroup directories made, in this order (one there already is fine); their parents must
    /// exist. The first that cannot be made fails the request.
    MakeCgroups(Vec<PathBuf>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: RequestId,
    pub what: What,
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, paths): (char, Vec<&PathBuf>) = match &self.what {
            What::Tree(p) => ('T', vec![p]),
            What::Cgroups(ps) => ('C', ps.iter().collect()),
            What::MakeCgroups(ps) => ('M', ps.iter().collect()),
        };
        let mut out = format!("{kind} {} {}\0", self.id.0, paths.len()).into_bytes();
        for p in paths {
            out.extend_from_slice(p.as_os_str().as_bytes());
            out.push(0);
        }
        out
    }

    /// Takes the complete requests off the front of `buf`; `Err` for bytes no agent writes.
    pub fn decode_all(buf: &mut Vec<u8>) -> Result<Vec<Request>, String> {
        let mut out = Vec::new();
        let mut used = 0;
        while let Some((req, len)) = decode_one(&buf[used..])? {
            out.push(req);
            used += len;
        }
        buf.drain(..used);
        Ok(out)
    }
}

/// One request from the start of `bytes`, and its length; None while incomplete.
fn decode_one(bytes: &[u8]) -> Result<Option<(Request, usize)>, String> {
    let mut fields = bytes.split(|b| *b == 0);
    let Some(header) = fields.next() else {
        return Ok(None);
    };
    if header.len() == bytes.len() {
        return Ok(None);
    }
    let header = std::str::from_utf8(header).map_err(|_| "a header that is not text")?;
    let mut words = header.split(' ');
    let (kind, id, n) = match (words.next(), words.next(), words.next(), words.next()) {
        (Some(k), Some(id), Some(n), None) => (k, id, n),
        _ => return Err(format!("a malformed header {header:?}")),
    };
    let id = id.parse().map_err(|_| format!("a bad id in {header:?}"))?;
    let n: usize = n
        .parse()
        .map_err(|_| format!("a bad count in {header:?}"))?;
    let mut len = header.len() + 1;
    let mut paths = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let Some(field) = fields.next() else {
            return Ok(None);
        };
        if len + field.len() == bytes.len() {
            return Ok(None);
        }
        len += field.len() + 1;
        paths.push(PathBuf::from(OsStr::from_bytes(field)));
    }
    let what = match kind {
        "T" if paths.len() == 1 => What::Tree(paths.remove(0)),
        "C" => What::Cgroups(paths),
        "M" => What::MakeCgroups(paths),
        _ => return Err(format!("an unknown request {header:?}")),
    };
    Ok(Some((
        Request {
            id: RequestId(id),
            what,
        },
        len,
    )))
}

/// The answer line to a request (with its newline).
pub fn answer(id: RequestId, result: &Result<(), String>) -> String {
    match result {
        Ok(()) => format!("{} ok\n", id.0),
        Err(why) => format!("{} failed {}\n", id.0, why.replace('\n', " ")),
    }
}

/// An answer line read back: the request and how it went.
pub fn parse_answer(line: &str) -> Option<(RequestId, Result<(), String>)> {
    let (id, rest) = line.split_once(' ')?;
    let id = RequestId(id.parse().ok()?);
    match rest.split_once(' ') {
        None if rest == "ok" => Some((id, Ok(()))),
        Some(("failed", why)) => Some((id, Err(why.to_string()))),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_survive_any_split_and_odd_bytes_in_paths() {
        let reqs = vec![
            Request {
                id: RequestId(7),
                what: What::Tree(PathBuf::from(OsStr::from_bytes(b"/w/trash/a b\n\xff"))),
            },
            Request {
                id: RequestId(8),
                what: What::Cgroups(vec!["/sys/fs/cgroup/memory/m/x".into(), "/f".into()]),
            },
            Request {
                id: RequestId(9),
                what: What::Cgroups(Vec::new()),
            },
            Request {
                id: RequestId(10),
                what: What::MakeCgroups(vec!["/sys/fs/cgroup/cpu/m/x".into()]),
            },
        ];
        let bytes: Vec<u8> = reqs.iter().flat_map(Request::encode).collect();
        for cut in 0..bytes.len() {
            let mut buf = bytes[..cut].to_vec();
            let mut got = Request::decode_all(&mut buf).unwrap();
            buf.extend_from_slice(&bytes[cut..]);
            got.extend(Request::decode_all(&mut buf).unwrap());
            assert_eq!(got, reqs, "split at {cut}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn garbage_is_an_error_and_answers_round_trip() {
        assert!(Request::decode_all(&mut b"X 1 1\0/a\0".to_vec()).is_err());
        assert!(Request::decode_all(&mut b"T one 1\0/a\0".to_vec()).is_err());
        assert!(Request::decode_all(&mut b"T 1 2\0/a\0/b\0".to_vec()).is_err());
        let ok = answer(RequestId(3), &Ok(()));
        assert_eq!(parse_answer(ok.trim_end()), Some((RequestId(3), Ok(()))));
        let failed = answer(RequestId(4), &Err("busy\nstill".into()));
        assert_eq!(
            parse_answer(failed.trim_end()),
            Some((RequestId(4), Err("busy still".into())))
        );
        assert_eq!(parse_answer("x ok"), None);
    }
}
