//! The statistics files of one cgroup, kept open between statistics requests.
//!
//! A cgroupfs file regenerates its content whenever it is read from offset 0, so a `pread` on
//! a descriptor opened once gives fresh figures without the path walk, `open` and `close` that
//! otherwise cost three times the read (600 files for 100 containers: 1.2 ms instead of 4 ms
//! measured here). Each file is read with one `pread` into a buffer big enough for it: cgroupfs
//! files are seq_files, which fill a read until their end, so a short read is the end of the file
//! and no second read is spent to learn it (a full buffer is doubled and the file read again).
//! Kept files are found by [`StatFile`] index, never by comparing paths; a path is only built to
//! open a file or to name it in an error.
//!
//! Descriptors are a budget shared by all containers ([`set_stat_file_budget`]), so an agent
//! with a low `RLIMIT_NOFILE` falls back to plain reads rather than run out; they are closed
//! when the cgroup is destroyed, so no removed cgroup lingers in the kernel held by them.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::error::CgroupError;
use super::stats::count_lines;
use crate::stats::ResourceStatistics;

/// How many descriptors all cgroups together may keep open (default until the agent sets it).
static BUDGET: AtomicUsize = AtomicUsize::new(256);
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// The first read size: more than any statistics file of a small cgroup (v1 `memory.stat` is
/// about 1.5 KiB); `cgroup.procs` of a big container grows the buffer once and keeps it grown.
const FIRST_READ: usize = 8 * 1024;

/// Sets how many statistics files may be kept open in all (the agent gives half its
/// `RLIMIT_NOFILE`).
pub fn set_stat_file_budget(files: usize) {
    BUDGET.store(files, Ordering::Relaxed);
}

/// A statistics file of a cgroup directory, by its slot among the kept descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatFile {
    CpuacctStat,
    CpuStat,
    V1MemoryUsage,
    V1MemoryMaxUsage,
    V2MemoryCurrent,
    V2MemoryPeak,
    MemoryStat,
    V2SwapCurrent,
    Procs,
    PidsCurrent,
    V1Tasks,
    V2Threads,
    ThrottleIoServiced,
    ThrottleIoServiceBytes,
    BfqIoServiced,
    BfqIoServiceBytes,
    BfqIoServicedRecursive,
    BfqIoServiceBytesRecursive,
    V2IoStat,
}

impl StatFile {
    /// One slot per variant: the last variant's index, plus one.
    const COUNT: usize = StatFile::V2IoStat as usize + 1;

    fn name(self) -> &'static str {
        match self {
            StatFile::CpuacctStat => "cpuacct.stat",
            StatFile::CpuStat => "cpu.stat",
            StatFile::V1MemoryUsage => "memory.usage_in_bytes",
            StatFile::V1MemoryMaxUsage => "memory.max_usage_in_bytes",
            StatFile::V2MemoryPeak => "memory.peak",
            StatFile::V2MemoryCurrent => "memory.current",
            StatFile::MemoryStat => "memory.stat",
            StatFile::V2SwapCurrent => "memory.swap.current",
            StatFile::Procs => "cgroup.procs",
            StatFile::PidsCurrent => "pids.current",
            StatFile::V1Tasks => "tasks",
            StatFile::V2Threads => "cgroup.threads",
            StatFile::ThrottleIoServiced => "blkio.throttle.io_serviced",
            StatFile::ThrottleIoServiceBytes => "blkio.throttle.io_service_bytes",
            StatFile::BfqIoServiced => "blkio.bfq.io_serviced",
            StatFile::BfqIoServiceBytes => "blkio.bfq.io_service_bytes",
            StatFile::BfqIoServicedRecursive => "blkio.bfq.io_serviced_recursive",
            StatFile::BfqIoServiceBytesRecursive => "blkio.bfq.io_service_bytes_recursive",
            StatFile::V2IoStat => "io.stat",
        }
    }

    /// The file in cgroup directory `dir` (to open it, or to name it in an error).
    pub fn path(self, dir: &Path) -> PathBuf {
        dir.join(self.name())
    }
}

/// Open statistics files of one cgroup, by [`StatFile`].
#[derive(Debug, Default)]
pub struct StatFiles {
    open: RefCell<[Option<File>; StatFile::COUNT]>,
}

impl Clone for StatFiles {
    /// A copy keeps nothing open: descriptors belong to one owner.
    fn clone(&self) -> Self {
        StatFiles::default()
    }
}

impl Drop for StatFiles {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl StatFiles {
    /// The content of `which` in `dir`, read into `buf` (whose length is only ever grown, so
    /// it is not zeroed again for each file), through a kept descriptor when there is one or
    /// the budget allows one.
    pub fn read<'b>(
        &self,
        which: StatFile,
        dir: &Path,
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], CgroupError> {
        let err = |source| CgroupError::Read {
            path: which.path(dir),
            source,
        };
        let mut open = self.open.borrow_mut();
        let slot = &mut open[which as usize];
        if let Some(file) = slot {
            match read_whole(file, buf) {
                Ok(len) => return Ok(&buf[..len]),
                // Stale (the cgroup was removed and made again, say): open it afresh.
                Err(_) => {
                    *slot = None;
                    IN_USE.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        let file = File::open(which.path(dir)).map_err(err)?;
        let len = read_whole(&file, buf).map_err(err)?;
        if IN_USE.load(Ordering::Relaxed) < BUDGET.load(Ordering::Relaxed) {
            IN_USE.fetch_add(1, Ordering::Relaxed);
            *slot = Some(file);
        }
        Ok(&buf[..len])
    }

    /// As [`StatFiles::read`]; `None` if the file does not exist.
    pub fn read_if_exists<'b>(
        &self,
        which: StatFile,
        dir: &Path,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b [u8]>, CgroupError> {
        match self.read(which, dir, buf) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Reads a file holding one unsigned integer.
    pub fn read_u64(
        &self,
        which: StatFile,
        dir: &Path,
        buf: &mut Vec<u8>,
    ) -> Result<u64, CgroupError> {
        let text = self.read(which, dir, buf)?;
        super::stats::parse_u64(super::fs::trim(text))
            .ok_or_else(|| super::fs::bad_content(&which.path(dir), text))
    }

    /// As [`StatFiles::read_u64`]; `None` if the file does not exist (a kernel or a cgroup
    /// without it).
    pub fn read_u64_if_exists(
        &self,
        which: StatFile,
        dir: &Path,
        buf: &mut Vec<u8>,
    ) -> Result<Option<u64>, CgroupError> {
        match self.read_u64(which, dir, buf) {
            Ok(value) => Ok(Some(value)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Closes every kept descriptor (before the cgroup is removed).
    pub fn close_all(&self) {
        let mut open = self.open.borrow_mut();
        for slot in open.iter_mut() {
            if slot.take().is_some() {
                IN_USE.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// How many descriptors this cgroup keeps.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.open.borrow().iter().flatten().count()
    }
}

/// `processes` from `cgroup.procs`; `threads` from `pids.current` (one number instead of a list
/// of every thread), or by counting `thread_list` (v1 `tasks`, v2 `cgroup.threads`) where the
/// pids controller has no file in this cgroup (v2 without it enabled below the root).
pub(super) fn processes_and_threads(
    files: &StatFiles,
    dir: &Path,
    thread_list: StatFile,
    buf: &mut Vec<u8>,
    out: &mut ResourceStatistics,
) -> Result<(), CgroupError> {
    out.processes = Some(count_lines(files.read(StatFile::Procs, dir, buf)?));
    let threads = match files.read_u64_if_exists(StatFile::PidsCurrent, dir, buf)? {
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => count_lines(files.read(thread_list, dir, buf)?),
    };
    out.threads = Some(threads);
    Ok(())
}

/// The whole file from offset 0 (cgroupfs regenerates it for a read at 0) in one `pread`,
/// unless it fills `buf`: then `buf` doubles and the file is read again from the start, so the
/// figures are one consistent generation. Returns the length read.
fn read_whole(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.len() < FIRST_READ {
        buf.resize(FIRST_READ, 0);
    }
    loop {
        match file.read_at(buf, 0) {
            Ok(n) if n < buf.len() => return Ok(n),
            Ok(_) => {
                let bigger = buf.len() * 2;
                buf.resize(bigger, 0);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_file_is_read_fresh_and_closed_on_request() {
        let dir = std::env::temp_dir().join(format!("mesolite-statfiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = StatFile::MemoryStat.path(&dir);
        std::fs::write(&path, "cache 1\n").unwrap();
        let files = StatFiles::default();
        let mut buf = Vec::new();
        assert_eq!(
            files.read(StatFile::MemoryStat, &dir, &mut buf).unwrap(),
            b"cache 1\n"
        );
        assert_eq!(files.kept(), 1);
        // Rewritten in place (as the kernel regenerates it): the kept descriptor sees it.
        std::fs::write(&path, "cache 22222\n").unwrap();
        assert_eq!(
            files.read(StatFile::MemoryStat, &dir, &mut buf).unwrap(),
            b"cache 22222\n"
        );
        assert_eq!(files.kept(), 1);
        // Bigger than the buffer, and exactly its size: both read whole.
        for len in [3 * FIRST_READ + 5, buf.len()] {
            let big = "x".repeat(len);
            std::fs::write(&path, &big).unwrap();
            assert_eq!(
                files.read(StatFile::MemoryStat, &dir, &mut buf).unwrap(),
                big.as_bytes()
            );
        }
        std::fs::write(StatFile::PidsCurrent.path(&dir), "7\n").unwrap();
        assert_eq!(
            files
                .read_u64_if_exists(StatFile::PidsCurrent, &dir, &mut buf)
                .unwrap(),
            Some(7)
        );
        assert_eq!(files.kept(), 2, "found by index, each kept once");
        assert_eq!(files.clone().kept(), 0, "a clone keeps nothing");
        files.close_all();
        assert_eq!(files.kept(), 0);
        assert_eq!(
            files
                .read_u64_if_exists(StatFile::V2SwapCurrent, &dir, &mut buf)
                .unwrap(),
            None
        );
        let err = files.read(StatFile::Procs, &dir, &mut buf).unwrap_err();
        assert!(err.to_string().contains("cgroup.procs"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
