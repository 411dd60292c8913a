//! The logger's copy loop: the task's pipe into the rotating file.

use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::time::Duration;

use super::{RotatingFile, VERB};
use crate::sys::fd;

/// A piece smaller than this is followed by a [`gather`] pause.
const GATHER_BELOW: usize = 256 * 1024;

/// How long the logger lets a pipe fill after a small piece.
const GATHER_PAUSE: Duration = Duration::from_millis(1);

/// What the logger reads from the pipe at once.
const READ_SIZE: usize = 1024 * 1024;

/// After a small piece that emptied the pipe (fewer bytes than `asked`), lets the pipe fill
/// for [`GATHER_PAUSE`]: a task writing in small pieces (a line at a time, 4 KiB blocks)
/// otherwise wakes the logger for each, and the context switches cost both more than the
/// copying. Output waits at most that long; the pipe holds [`PIPE_SIZE`](super::PIPE_SIZE) meanwhile, so the
/// task waits only above 1 GB/s. A piece that is small because the logger asked for little
/// (the last splice before a file's tail) is no reason to pause: the pipe may be full.
fn gather(moved: usize, asked: usize) {
    if moved < asked && moved < GATHER_BELOW {
        std::thread::sleep(GATHER_PAUSE);
    }
}

/// Writes through user space: the buffer, and whether the last write failed (said once).
struct Writer<'a> {
    buf: Vec<u8>,
    failing: bool,
    path: &'a Path,
}

impl Writer<'_> {
    /// Writes the first `n` bytes of the buffer; a failure drops them.
    fn write(&mut self, out: &mut RotatingFile, n: usize) {
        match out.write_all(&self.buf[..n]) {
            Ok(()) => self.failing = false,
            Err(e) if !self.failing => {
                self.failing = true;
                eprintln!(
                    "mesolite {VERB}: {}: {e} (output dropped)",
                    self.path.display()
                );
            }
            Err(_) => {}
        }
    }
}

/// Copies `input` (a pipe) into `out` until its writers are gone: spliced while the file has
/// room, read and written near its limit (to cut it after a line), one
/// file's tail at a time.
pub(super) fn drain(input: RawFd, out: &mut RotatingFile, path: &Path) -> io::Result<()> {
    let mut w = Writer {
        buf: vec![0u8; READ_SIZE],
        failing: false,
        path,
    };
    // Off for good where the kernel refuses it (input not a pipe, a filesystem without it).
    let mut splicing = true;
    loop {
        if let (true, Some(asked)) = (splicing, out.splice_len()) {
            match out.splice_from(input, asked) {
                Ok(0) => return Ok(()),
                Ok(moved) => {
                    gather(moved, asked);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => splicing = false,
                // The piece is still in the pipe: the read below takes it (and drops it if
                // writing fails too).
                Err(_) => {}
            }
        }
        let asked = if splicing {
            out.tail_len().min(READ_SIZE)
        } else {
            READ_SIZE
        };
        let n = match fd::read(input, &mut w.buf[..asked])? {
            0 => return Ok(()),
            n => n,
        };
        gather(n, asked);
        w.write(out, n);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::logger::{rotated_name, Rotation, PIPE_SIZE};
    use std::os::fd::AsRawFd;

    #[test]
    fn drains_a_pipe_spliced_within_the_bound() {
        let dir = std::env::temp_dir().join(format!("mesolite-drain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stdout");
        let rotation = Rotation {
            max_size: 256 * 1024,
            keep: 1,
        };
        let mut out = RotatingFile::open(&path, rotation).unwrap();
        let (read, write) = fd::pipe(false).unwrap();
        // As the agent makes it: a pipe that holds more than a file's tail, so that the read
        // there crosses the limit (with 64 KiB, one read may fill the tail to the limit).
        fd::set_pipe_size(write.as_raw_fd(), PIPE_SIZE).unwrap();
        let text: String = (1..=100_000).map(|n| format!("{n}\n")).collect();
        let writer = {
            let text = text.clone();
            std::thread::spawn(move || {
                fd::write_all(write.as_raw_fd(), text.as_bytes()).unwrap();
            })
        };
        drain(read.as_raw_fd(), &mut out, &path).unwrap();
        writer.join().unwrap();
        let mut kept = String::new();
        let old = std::fs::read_to_string(rotated_name(&path, 1)).unwrap();
        assert!(old.len() as u64 <= rotation.max_size, "{}", old.len());
        // Cut after its last whole line that fit (lines here are at most 7 bytes).
        assert!(old.ends_with('\n') && old.len() as u64 > rotation.max_size - 7);
        kept.push_str(&old);
        kept.push_str(&std::fs::read_to_string(&path).unwrap());
        // 588,895 bytes through 2 × 256 KiB: the start rotated away, the end kept as written.
        assert!(text.ends_with(&kept) && kept.len() < text.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
