//! The task's stdout and stderr: dockerd's multiplexed stream (attach, logs; no TTY) split
//! into the sandbox's `stdout` and `stderr` files as it arrives.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// One frame header: stream (1 stdout, 2 stderr), three zero bytes, the size (big endian).
const HEADER: usize = 8;

/// Splits frames of a multiplexed stream; bytes of an unfinished frame wait for the rest.
#[derive(Debug, Default)]
pub struct Demux {
    pending: Vec<u8>,
}

impl Demux {
    /// Calls `f(stream, payload)` for each whole frame in what has arrived so far.
    pub fn feed(&mut self, data: &[u8], mut f: impl FnMut(u8, &[u8])) {
        self.pending.extend_from_slice(data);
        let mut pos = 0;
        while let Some(head) = self.pending.get(pos..pos + HEADER) {
            let size = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
            let Some(payload) = self.pending.get(pos + HEADER..pos + HEADER + size) else {
                break;
            };
            f(head[0], payload);
            pos += HEADER + size;
        }
        self.pending.drain(..pos);
    }
}

/// The sandbox's output files, appended to.
#[derive(Debug)]
pub struct Output {
    demux: Demux,
    stdout: File,
    stderr: File,
}

impl Output {
    pub fn open(sandbox: &Path) -> io::Result<Output> {
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(sandbox.join(name))
        };
        Ok(Output {
            demux: Demux::default(),
            stdout: open("stdout")?,
            stderr: open("stderr")?,
        })
    }

    /// Writes what a stream delivered (stdin echoes, stream 0, go to stdout as docker does).
    pub fn write(&mut self, data: &[u8]) {
        let (stdout, stderr) = (&mut self.stdout, &mut self.stderr);
        self.demux.feed(data, |stream, payload| {
            let file = if stream == 2 {
                &mut *stderr
            } else {
                &mut *stdout
            };
            if let Err(e) = file.write_all(payload) {
                log::warn!("Failed to write a container's output: {e}");
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn splits_frames_across_reads() {
        let mut raw = frame(1, b"out\n");
        raw.extend(frame(2, b"err\n"));
        raw.extend(frame(1, b""));
        raw.extend(frame(1, b"more"));
        for split in 0..raw.len() {
            let mut d = Demux::default();
            let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
            d.feed(&raw[..split], |s, p| got.push((s, p.to_vec())));
            d.feed(&raw[split..], |s, p| got.push((s, p.to_vec())));
            let want = vec![
                (1, b"out\n".to_vec()),
                (2, b"err\n".to_vec()),
                (1, vec![]),
                (1, b"more".to_vec()),
            ];
            assert_eq!(got, want, "split at {split}");
        }
    }

    #[test]
    fn writes_the_sandbox_files() {
        let dir = std::env::temp_dir().join(format!("mesolite-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut out = Output::open(&dir).unwrap();
        let mut raw = frame(1, b"hello\n");
        raw.extend(frame(2, b"oops\n"));
        out.write(&raw);
        assert_eq!(std::fs::read(dir.join("stdout")).unwrap(), b"hello\n");
        assert_eq!(std::fs::read(dir.join("stderr")).unwrap(), b"oops\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
