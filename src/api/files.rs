//! `/files/read`: Mesos's files API on sandbox files, opened safely and answered in bounded
//! memory.
//!
//! The file is opened beneath its sandbox (`<work_dir>/containers/<id>`) without following a
//! link out of it and without blocking (`sys::open`); a FIFO, socket, device or directory is
//! refused before it is opened for reading. The answer is read in [`PIECE`]-byte pieces and
//! JSON-escaped straight into the response body, which stops growing at [`MAX_DATA`] bytes of
//! escaped data: one request costs the agent at most about `MAX_DATA + PIECE` bytes, whatever
//! the file holds (1 MiB of NULs would be 6 MiB of `\u0000`).

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path};

use crate::http::{Request, Response};
use crate::sys::open::{open_dir_beneath, open_regular_beneath, open_root, OpenError};

/// Most bytes of the file one call reads, so a huge file never stalls the loop.
const MAX_READ: u64 = 1024 * 1024;

/// Most bytes of JSON-escaped data one answer carries: data that escapes heavily (control
/// bytes) comes back in shorter pieces, and the client continues from where the piece ends.
const MAX_DATA: usize = 1024 * 1024;

/// Bytes read from the file at a time.
const PIECE: usize = 64 * 1024;

/// Mesos's files API, on sandbox paths only: `{"data": "...", "offset": N, "file_id": ID}`;
/// `offset=-1` answers the file's size. `file_id` (ours) tells a reader that follows a file
/// when the name has come to mean another file (the logrotate logger renamed it away); `length` absent or -1 reads to the end (at most [`MAX_READ`] bytes
/// of the file, and at most [`MAX_DATA`] bytes once escaped, a call).
pub(super) fn read_file(req: &Request, work_dir: &Path) -> Response {
    let Some(p) = req.query_param("path") else {
        return Response::text(400, "Expecting 'path' to be present");
    };
    let offset: i64 = match req.query_param("offset").map(str::parse).transpose() {
        Ok(o) => o.unwrap_or(0),
        Err(_) => return Response::text(400, "Failed to parse 'offset': expecting an integer"),
    };
    let length: i64 = match req.query_param("length").map(str::parse).transpose() {
        Ok(l) => l.unwrap_or(-1),
        Err(_) => return Response::text(400, "Failed to parse 'length': expecting an integer"),
    };
    let not_found = || Response::text(404, format!("No such sandbox file '{p}'"));
    let root = work_dir.join("containers");
    let Some(rel) = sandbox_relative(p, &root) else {
        return not_found();
    };
    let file = match open_in_sandbox(&root, rel) {
        Ok(f) => f,
        Err(OpenError::NotRegular(_)) => {
            return Response::text(400, format!("'{p}' is not a regular file"))
        }
        Err(OpenError::Escapes) => {
            return Response::text(
                400,
                format!("'{p}' leads out of its sandbox (links are not followed out of it)"),
            )
        }
        Err(OpenError::Io(_)) => return not_found(),
    };
    let (size, id) = match file.metadata() {
        Ok(m) => (m.len(), file_id(&m)),
        Err(_) => return Response::text(500, format!("Failed to read '{p}'")),
    };
    if offset == -1 {
        return Response::json(
            200,
            &serde_json::json!({"data": "", "offset": size, "file_id": id}),
        );
    }
    let Ok(start) = u64::try_from(offset) else {
        return Response::text(400, "Negative 'offset'");
    };
    let want = if length < 0 {
        MAX_READ
    } else {
        length.unsigned_abs().min(MAX_READ)
    };
    let end = start.saturating_add(want).min(size);
    match answer(&file, start, end, &id) {
        Some(body) => {
            let mut r = Response::new(200).with_header("Content-Type", "application/json");
            r.body = body;
            r
        }
        None => Response::text(500, format!("Failed to read '{p}'")),
    }
}

/// The requested path relative to `<work_dir>/containers` (absolute paths must lie under it,
/// as given or canonical); `None` for anything else and for any `..`.
fn sandbox_relative<'a>(requested: &'a str, root: &Path) -> Option<&'a Path> {
    let p = Path::new(requested);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    if !p.is_absolute() {
        return Some(p);
    }
    if let Ok(rel) = p.strip_prefix(root) {
        return Some(rel);
    }
    p.strip_prefix(root.canonicalize().ok()?).ok()
}

/// Opens `<root>/<id>/<rest>` beneath the sandbox `<root>/<id>`: nothing a task puts in its
/// sandbox can lead the agent out of it (nor into another one).
fn open_in_sandbox(root: &Path, rel: &Path) -> Result<File, OpenError> {
    let containers = open_root(root).map_err(OpenError::Io)?;
    let mut parts = rel.components();
    let Some(id) = parts.by_ref().find(|c| *c != Component::CurDir) else {
        return open_regular_beneath(containers.as_fd(), Path::new(""));
    };
    let sandbox = open_dir_beneath(containers.as_fd(), Path::new(id.as_os_str()))?;
    open_regular_beneath(sandbox.as_fd(), parts.as_path())
}

/// Which file a name means now: its inode and birth time (an inode number alone comes back
/// soon for a new file once the logrotate logger has deleted the old one).
fn file_id(meta: &std::fs::Metadata) -> String {
    let born = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}.{born}", meta.ino())
}

/// `{"data":"<bytes start..end, lossy UTF-8, escaped>","offset":start,"file_id":id}`, the
/// data cut at [`MAX_DATA`] escaped bytes (on a character boundary); `None` if reading failed.
fn answer(file: &File, start: u64, end: u64, id: &str) -> Option<Vec<u8>> {
    let head = br#"{"data":""#;
    let mut out = Vec::with_capacity(head.len() + MAX_DATA.min(2 * PIECE) + 32);
    out.extend_from_slice(head);
    let cap = head.len() + MAX_DATA;
    let mut buf = vec![0u8; PIECE];
    // `buf[..carry]` holds the start of a character cut by the last read, at file offset `pos`.
    let mut carry = 0;
    let mut pos = start;
    loop {
        let left = end.saturating_sub(pos + carry as u64);
        let room = (PIECE - carry).min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = if room == 0 {
            0
        } else {
            file.read_at(&mut buf[carry..carry + room], pos + carry as u64)
                .ok()?
        };
        let avail = carry + n;
        let last = n == 0 || n as u64 == left;
        let (used, full) = escape_lossy(&mut out, &buf[..avail], cap, last);
        pos += used as u64;
        if full || last {
            break;
        }
        buf.copy_within(used..avail, 0);
        carry = avail - used;
    }
    out.extend_from_slice(format!(r#"","offset":{start},"file_id":"{id}"}}"#).as_bytes());
    Some(out)
}

/// Appends `bytes` to `out` as the inside of a JSON string (invalid UTF-8 replaced by U+FFFD,
/// as `String::from_utf8_lossy` does), stopping before `out` would pass `cap`. An incomplete
/// character at the end is left for the next piece unless `last`. Returns the bytes consumed
/// and whether `out` is full.
fn escape_lossy(out: &mut Vec<u8>, bytes: &[u8], cap: usize, last: bool) -> (usize, bool) {
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => (
                std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default(),
                Some(e.error_len()),
            ),
        };
        for c in valid.chars() {
            if !push_escaped(out, c, cap) {
                return (pos, true);
            }
            pos += c.len_utf8();
        }
        match bad {
            None => {}
            Some(None) if !last => return (pos, false),
            Some(len) => {
                if !push_escaped(out, char::REPLACEMENT_CHARACTER, cap) {
                    return (pos, true);
                }
                pos += len.unwrap_or(bytes.len() - pos);
            }
        }
    }
    (pos, false)
}

/// Appends `c` escaped as serde_json does; `false` (and nothing appended) if it would not fit.
fn push_escaped(out: &mut Vec<u8>, c: char, cap: usize) -> bool {
    let mut tmp = [0u8; 6];
    let esc: &[u8] = match c {
        '"' => br#"\""#,
        '\\' => br"\\",
        '\n' => br"\n",
        '\r' => br"\r",
        '\t' => br"\t",
        '\u{8}' => br"\b",
        '\u{c}' => br"\f",
        c if (c as u32) < 0x20 => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let b = c as usize;
            tmp = [b'\\', b'u', b'0', b'0', HEX[b >> 4], HEX[b & 0xf]];
            &tmp
        }
        c => c.encode_utf8(&mut tmp).as_bytes(),
    };
    if out.len() + esc.len() > cap {
        return false;
    }
    out.extend_from_slice(esc);
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn escaped(bytes: &[u8], cap: usize, last: bool) -> (String, usize, bool) {
        let mut out = Vec::new();
        let (used, full) = escape_lossy(&mut out, bytes, cap, last);
        (String::from_utf8(out).unwrap(), used, full)
    }

    #[test]
    fn escapes_as_serde_json_does() {
        let all: Vec<u8> = (0u8..=255)
            .chain(*b"\"\\ a\xe2\x82\xac\xf0\x9f\x98\x80")
            .collect();
        let (s, used, full) = escaped(&all, usize::MAX, true);
        assert_eq!((used, full), (all.len(), false));
        let lossy = String::from_utf8_lossy(&all);
        assert_eq!(format!("\"{s}\""), serde_json::to_string(&lossy).unwrap());
    }

    #[test]
    fn stops_at_the_cap_on_a_character_boundary() {
        let (s, used, full) = escaped(&[0u8; 100], 13, true);
        assert_eq!((s.as_str(), used, full), ("\\u0000\\u0000", 2, true));
        let (s, used, full) = escaped("a€b".as_bytes(), 3, true);
        assert_eq!((s.as_str(), used, full), ("a", 1, true));
    }

    #[test]
    fn leaves_a_cut_character_for_the_next_piece() {
        let euro = "€".as_bytes();
        let (s, used, full) = escaped(&[b'a', euro[0], euro[1]], 100, false);
        assert_eq!((s.as_str(), used, full), ("a", 1, false));
        let (s, used, _) = escaped(&[b'a', euro[0], euro[1]], 100, true);
        assert_eq!((s.as_str(), used), ("a\u{fffd}", 3));
        let (s, used, _) = escaped(b"a\xffb", 100, false);
        assert_eq!((s.as_str(), used), ("a\u{fffd}b", 3));
    }

    #[test]
    fn answers_in_pieces_across_reads() {
        let path = std::env::temp_dir().join(format!("mesolite-files-{}", std::process::id()));
        // A character cut by every piece boundary, and a tail of NULs past the escape cap.
        let mut data = b"x".to_vec();
        while data.len() < 3 * PIECE {
            data.extend_from_slice("€".as_bytes());
        }
        let text_end = data.len();
        data.resize(text_end + MAX_DATA, 0);
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let body = answer(&file, 0, text_end as u64, "7.1").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"].as_str().unwrap().as_bytes(), &data[..text_end]);
        assert_eq!(
            (v["offset"].as_u64(), v["file_id"].as_str()),
            (Some(0), Some("7.1"))
        );
        let body = answer(&file, text_end as u64, data.len() as u64, "7.1").unwrap();
        assert!(body.len() <= MAX_DATA + 64, "{}", body.len());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"].as_str().unwrap().len(), MAX_DATA / 6);
        std::fs::remove_file(&path).unwrap();
    }
}
