//! The JSON-lines stdout of a helper subprocess (the fetcher, the puller), read without
//! blocking: whatever complete lines are there, and whether the stream ended.

use std::io::{self, Read};

/// Reads what `stdout` has now into `buf`; returns the complete non-empty lines and whether the
/// stream reached its end (a final line without a newline is returned then too).
pub fn read_lines(stdout: &mut impl Read, buf: &mut Vec<u8>) -> (Vec<String>, bool) {
    let mut chunk = [0u8; 8192];
    let mut eof = false;
    loop {
        match stdout.read(&mut chunk) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                eof = true;
                break;
            }
        }
    }
    let mut lines = Vec::new();
    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=pos).collect();
        lines.push(String::from_utf8_lossy(&line).trim().to_string());
    }
    if eof && !buf.is_empty() {
        lines.push(String::from_utf8_lossy(buf).trim().to_string());
        buf.clear();
    }
    (lines.into_iter().filter(|l| !l.is_empty()).collect(), eof)
}

#[cfg(test)]
mod tests {
    use super::read_lines;

    #[test]
    fn splits_lines_and_keeps_a_partial_one_until_the_end() {
        let mut buf = Vec::new();
        let mut input: &[u8] = b"{\"a\":1}\n\n{\"b\"";
        let (lines, eof) = read_lines(&mut input, &mut buf);
        assert_eq!(lines, vec!["{\"a\":1}".to_string(), "{\"b\"".to_string()]);
        assert!(eof);
        let mut more: &[u8] = b"x\ny";
        let mut buf = b"w".to_vec();
        let (lines, _) = read_lines(&mut more, &mut buf);
        assert_eq!(lines, vec!["wx".to_string(), "y".to_string()]);
    }
}
