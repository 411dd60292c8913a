//! I/O statistics (`cgroups/blkio`): v1 `blkio.throttle.*` and, where a proportional-weight
//! scheduler keeps them, BFQ's `blkio.bfq.io_serviced`/`io_service_bytes` (and `_recursive`) or
//! legacy CFQ's `blkio.*` files; v2 `io.stat`. The files read on every request are kept open. Shaped as
//! Mesos's `CgroupInfo.Blkio.Statistics`: one entry per device, then the total.
//!
//! On v1 (Linux 6.9 and later) the throttle counters only move on a disk whose request queue
//! has blk-throttle turned on, which the kernel does lazily, at the first throttle rule written
//! for that disk in any cgroup. So at start the agent writes a rule of 0 (no limit, which is
//! also how a rule is removed) for every disk: that turns the accounting on and limits nothing.

use std::path::Path;

use super::error::CgroupError;
use super::stat_files::{StatFile, StatFiles};
use super::{fs, Cgroups, Controller, Layout};
use crate::stats::{
    BlkioOp, BlkioStatistics, BlkioValue, CfqStatistics, DeviceNumber, ThrottlingStatistics,
};

/// A file's name and the list (or value) of the statistics it fills.
type ValuesFile<T> = (&'static str, fn(&mut T) -> &mut Vec<BlkioValue>);
type ScalarFile<T> = (&'static str, fn(&mut T) -> &mut Option<u64>);

/// The files of CFQ (`blkio.`, Linux < 5.0) with per-operation values.
const CFQ_VALUES: [ValuesFile<CfqStatistics>; 6] = [
    ("io_serviced", |s| &mut s.io_serviced),
    ("io_service_bytes", |s| &mut s.io_service_bytes),
    ("io_service_time", |s| &mut s.io_service_time),
    ("io_wait_time", |s| &mut s.io_wait_time),
    ("io_merged", |s| &mut s.io_merged),
    ("io_queued", |s| &mut s.io_queued),
];

/// The CFQ/BFQ files with one value per device.
const CFQ_SCALARS: [ScalarFile<CfqStatistics>; 2] =
    [("sectors", |s| &mut s.sectors), ("time", |s| &mut s.time)];

/// Files read on every request, through descriptors kept open ([`StatFiles`]).
type KeptFile<T> = (StatFile, fn(&mut T) -> &mut Vec<BlkioValue>);

const THROTTLE_VALUES: [KeptFile<ThrottlingStatistics>; 2] = [
    (StatFile::ThrottleIoServiced, |s| &mut s.io_serviced),
    (StatFile::ThrottleIoServiceBytes, |s| {
        &mut s.io_service_bytes
    }),
];

/// BFQ's files (without `CONFIG_BFQ_CGROUP_DEBUG`, its only ones): plain and recursive.
const BFQ_VALUES: [KeptFile<CfqStatistics>; 2] = [
    (StatFile::BfqIoServiced, |s| &mut s.io_serviced),
    (StatFile::BfqIoServiceBytes, |s| &mut s.io_service_bytes),
];
const BFQ_RECURSIVE_VALUES: [KeptFile<CfqStatistics>; 2] = [
    (StatFile::BfqIoServicedRecursive, |s| &mut s.io_serviced),
    (StatFile::BfqIoServiceBytesRecursive, |s| {
        &mut s.io_service_bytes
    }),
];

/// One line of a blkio file: `MAJ:MIN Op value`, `MAJ:MIN value` or `Total value`.
#[derive(Debug, PartialEq, Eq)]
struct Line {
    device: Option<DeviceNumber>,
    op: Option<BlkioOp>,
    value: u64,
}

/// The lines of a blkio file; a line with an operation Mesos has no name for (`Discard`) is
/// left out. `None` for a line of any other shape.
fn parse_lines(text: &str) -> Option<Vec<Line>> {
    let mut lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        let (device, op, value) = match words.as_slice() {
            ["Total", value] => (None, Some(BlkioOp::Total), value),
            [device, value] => (Some(parse_device(device)?), None, value),
            [device, op, value] => match BlkioOp::parse(op) {
                Some(op) => (Some(parse_device(device)?), Some(op), value),
                None => continue,
            },
            _ => return None,
        };
        lines.push(Line {
            device,
            op,
            value: value.parse().ok()?,
        });
    }
    Some(lines)
}

fn parse_device(text: &str) -> Option<DeviceNumber> {
    let (major, minor) = text.split_once(':')?;
    Some(DeviceNumber {
        major_number: major.parse().ok()?,
        minor_number: minor.parse().ok()?,
    })
}

/// Entries by device, the total (no device) last.
struct Entries<T>(Vec<(Option<DeviceNumber>, T)>);

impl<T: Default> Entries<T> {
    fn new() -> Self {
        Entries(Vec::new())
    }

    fn get(&mut self, device: Option<DeviceNumber>) -> &mut T {
        let i = match self.0.iter().position(|(d, _)| *d == device) {
            Some(i) => i,
            None => {
                self.0.push((device, T::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    fn add_values(&mut self, lines: &[Line], field: fn(&mut T) -> &mut Vec<BlkioValue>) {
        for line in lines {
            let op = line.op.unwrap_or(BlkioOp::Unknown);
            field(self.get(line.device)).push(BlkioValue {
                op,
                value: line.value,
            });
        }
    }

    /// Sorted by device, total last, each given its device.
    fn finish(mut self, set_device: fn(&mut T, Option<DeviceNumber>)) -> Vec<T> {
        self.0.sort_by_key(|(d, _)| (d.is_none(), *d));
        self.0
            .into_iter()
            .map(|(d, mut t)| {
                set_device(&mut t, d);
                t
            })
            .collect()
    }
}

fn read_lines(path: &Path, buf: &mut Vec<u8>) -> Result<Option<Vec<Line>>, CgroupError> {
    if !fs::read_into_if_exists(path, buf)? {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(buf);
    parse_lines(&text)
        .map(Some)
        .ok_or_else(|| fs::bad_content(path, buf))
}

/// Adds the kept files `table` of `dir` to `entries`; whether the first of them exists.
fn read_kept<T: Default>(
    entries: &mut Entries<T>,
    table: &[KeptFile<T>],
    dir: &Path,
    files: &StatFiles,
    buf: &mut Vec<u8>,
) -> Result<bool, CgroupError> {
    let mut found = false;
    for (i, (which, field)) in table.iter().enumerate() {
        let Some(text) = files.read_if_exists(*which, dir, buf)? else {
            if i == 0 {
                return Ok(false);
            }
            continue;
        };
        found = true;
        let lines = parse_lines(&String::from_utf8_lossy(text))
            .ok_or_else(|| fs::bad_content(&which.path(dir), text))?;
        entries.add_values(&lines, *field);
    }
    Ok(found)
}

/// The statistics of a v1 blkio cgroup directory.
pub(super) fn read_v1(
    dir: &Path,
    files: &StatFiles,
    buf: &mut Vec<u8>,
) -> Result<BlkioStatistics, CgroupError> {
    let mut throttling = Entries::<ThrottlingStatistics>::new();
    read_kept(&mut throttling, &THROTTLE_VALUES, dir, files, buf)?;
    let mut stats = BlkioStatistics {
        throttling: throttling.finish(|s, d| s.device = d),
        ..BlkioStatistics::default()
    };
    let mut bfq = Entries::<CfqStatistics>::new();
    if read_kept(&mut bfq, &BFQ_VALUES, dir, files, buf)? {
        stats.cfq = bfq.finish(|s, d| s.device = d);
        let mut recursive = Entries::<CfqStatistics>::new();
        read_kept(&mut recursive, &BFQ_RECURSIVE_VALUES, dir, files, buf)?;
        stats.cfq_recursive = recursive.finish(|s, d| s.device = d);
    } else if dir.join("blkio.io_serviced").exists() {
        stats.cfq = read_cfq(dir, "", buf)?;
        stats.cfq_recursive = read_cfq(dir, "_recursive", buf)?;
    }
    Ok(stats)
}

/// Legacy CFQ's `blkio.*` files (Linux < 5.0), read plainly: rare enough not to keep open.
fn read_cfq(
    dir: &Path,
    suffix: &str,
    buf: &mut Vec<u8>,
) -> Result<Vec<CfqStatistics>, CgroupError> {
    let prefix = "blkio.";
    let mut cfq = Entries::<CfqStatistics>::new();
    for (name, field) in CFQ_VALUES {
        if let Some(lines) = read_lines(&dir.join(format!("{prefix}{name}{suffix}")), buf)? {
            cfq.add_values(&lines, field);
        }
    }
    for (name, field) in CFQ_SCALARS {
        if let Some(lines) = read_lines(&dir.join(format!("{prefix}{name}{suffix}")), buf)? {
            for line in lines {
                *field(cfq.get(line.device)) = Some(line.value);
            }
        }
    }
    Ok(cfq.finish(|s, d| s.device = d))
}

/// The statistics of a v2 cgroup directory, from `io.stat` (`MAJ:MIN rbytes=.. wbytes=..
/// rios=.. wios=.. dbytes=.. dios=..`), as throttling statistics: bytes and operations read,
/// written and both, per device and in total. Discards are left out, as on v1.
pub(super) fn read_v2(
    dir: &Path,
    files: &StatFiles,
    buf: &mut Vec<u8>,
) -> Result<BlkioStatistics, CgroupError> {
    let Some(text) = files.read_if_exists(StatFile::V2IoStat, dir, buf)? else {
        return Ok(BlkioStatistics::default());
    };
    let throttling = parse_io_stat(&String::from_utf8_lossy(text))
        .ok_or_else(|| fs::bad_content(&StatFile::V2IoStat.path(dir), text))?;
    Ok(BlkioStatistics {
        throttling,
        ..BlkioStatistics::default()
    })
}

fn parse_io_stat(text: &str) -> Option<Vec<ThrottlingStatistics>> {
    let mut entries = Entries::<ThrottlingStatistics>::new();
    let mut total = [0u64; 4];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_ascii_whitespace();
        let device = parse_device(words.next()?)?;
        // rbytes, wbytes, rios, wios
        let mut v = [0u64; 4];
        for word in words {
            let (key, value) = word.split_once('=')?;
            let slot = match key {
                "rbytes" => 0,
                "wbytes" => 1,
                "rios" => 2,
                "wios" => 3,
                _ => continue,
            };
            v[slot] = value.parse().ok()?;
        }
        for (t, x) in total.iter_mut().zip(v) {
            *t = t.saturating_add(x);
        }
        *entries.get(Some(device)) = io_stat_entry(v);
    }
    *entries.get(None) = io_stat_entry(total);
    Some(entries.finish(|s, d| s.device = d))
}

fn io_stat_entry([rbytes, wbytes, rios, wios]: [u64; 4]) -> ThrottlingStatistics {
    let values = |read: u64, write: u64| {
        vec![
            BlkioValue {
                op: BlkioOp::Read,
                value: read,
            },
            BlkioValue {
                op: BlkioOp::Write,
                value: write,
            },
            BlkioValue {
                op: BlkioOp::Total,
                value: read.saturating_add(write),
            },
        ]
    };
    ThrottlingStatistics {
        device: None,
        io_serviced: values(rios, wios),
        io_service_bytes: values(rbytes, wbytes),
    }
}

impl Cgroups {
    /// v1: turns blk-throttle's accounting on for every disk in `sys_block` (`/sys/block`) by
    /// writing a rule of 0 (no limit) into `<blkio>/<root>/blkio.throttle.read_bps_device`; see
    /// the module's comment. Returns the disks it could not (loop devices without a file, say)
    /// with the kernel's reason, for the log. Nothing to do on v2, whose `io.stat` always counts.
    pub fn enable_blkio_accounting(&self, sys_block: &Path) -> Vec<(String, CgroupError)> {
        let Layout::V1(paths) = &self.layout else {
            return Vec::new();
        };
        let Some(blkio) = paths
            .blkio
            .as_ref()
            .filter(|_| self.controllers.contains(Controller::Blkio))
        else {
            return Vec::new();
        };
        let rule_file = blkio
            .join(&self.root)
            .join("blkio.throttle.read_bps_device");
        let Ok(disks) = std::fs::read_dir(sys_block) else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        let mut buf = Vec::new();
        for disk in disks.flatten() {
            let name = disk.file_name().to_string_lossy().into_owned();
            let dev = match fs::read_into(&disk.path().join("dev"), &mut buf) {
                Ok(()) => String::from_utf8_lossy(fs::trim(&buf)).into_owned(),
                Err(e) => {
                    failed.push((name, e));
                    continue;
                }
            };
            if let Err(e) = fs::write(&rule_file, &format!("{dev} 0")) {
                failed.push((name, e));
            }
        }
        failed
    }
}

#[cfg(test)]
#[path = "blkio_tests.rs"]
mod tests;
