//! perf_event_open(2) counters: counting mode only (no sampling buffers, no mmap), for the
//! perf_event isolator. A counter counts from the moment it is opened until its fd is closed.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::cvt;

/// `PERF_TYPE_*`.
pub const TYPE_HARDWARE: u32 = 0;
pub const TYPE_SOFTWARE: u32 = 1;
pub const TYPE_HW_CACHE: u32 = 3;

const PERF_FLAG_PID_CGROUP: libc::c_ulong = 1 << 2;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
const PERF_FORMAT_TOTAL_TIME_ENABLED: u64 = 1 << 0;
const PERF_FORMAT_TOTAL_TIME_RUNNING: u64 = 1 << 1;

/// The first 64 bytes of `struct perf_event_attr` (`PERF_ATTR_SIZE_VER0`): all a counting
/// counter needs; the kernel takes the size from `size` and zero-fills the rest.
#[repr(C)]
#[derive(Default)]
struct Attr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// The bit fields (`disabled`, `inherit`, `exclude_*`, ...): all 0, so the counter starts
    /// enabled and counts user and kernel time.
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const ATTR_SIZE: u32 = 64;
const _: () = assert!(std::mem::size_of::<Attr>() == ATTR_SIZE as usize);

/// Opens a counter of event (`type_`, `config`) for the tasks of the cgroup whose directory
/// `cgroup` is, on `cpu` (cgroup mode counts per CPU: one counter per online CPU).
pub fn open_cgroup_counter(
    type_: u32,
    config: u64,
    cgroup: RawFd,
    cpu: i32,
) -> io::Result<OwnedFd> {
    open(type_, config, cgroup, cpu, PERF_FLAG_PID_CGROUP)
}

/// Opens a counter of the event for this process on any CPU: whether the kernel (and the CPU
/// or hypervisor) has the event at all.
pub fn probe(type_: u32, config: u64) -> io::Result<()> {
    open(type_, config, 0, -1, 0).map(drop)
}

fn open(
    type_: u32,
    config: u64,
    pid: RawFd,
    cpu: i32,
    flags: libc::c_ulong,
) -> io::Result<OwnedFd> {
    let attr = Attr {
        type_,
        size: ATTR_SIZE,
        config,
        read_format: PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING,
        ..Attr::default()
    };
    // SAFETY: `attr` is a valid perf_event_attr prefix of the size it declares, alive for the
    // call; the other arguments are integers. The kernel returns a new fd or -1.
    let fd = cvt(unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const Attr,
            pid,
            cpu,
            -1 as libc::c_int,
            flags | PERF_FLAG_FD_CLOEXEC,
        )
    })?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The counter's value, scaled up as `perf stat` does when the kernel multiplexed it (counted
/// only part of the time it was enabled).
pub fn read_counter(fd: RawFd) -> io::Result<u64> {
    let mut words = [0u64; 3];
    // SAFETY: `words` is valid for writes of 24 bytes: value, time enabled, time running (the
    // read_format the counter was opened with).
    let n =
        cvt(unsafe { libc::read(fd, words.as_mut_ptr().cast(), std::mem::size_of_val(&words)) })?;
    if usize::try_from(n).ok() != Some(std::mem::size_of_val(&words)) {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    let [value, enabled, running] = words;
    if running == 0 || running >= enabled {
        return Ok(value);
    }
    let scaled = u128::from(value) * u128::from(enabled) / u128::from(running);
    Ok(u64::try_from(scaled).unwrap_or(u64::MAX))
}
