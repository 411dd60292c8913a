//! Memory pressure listeners (Mesos's `cgroups/mem` pressure counters).
//!
//! v1: for each level, an eventfd registered through `cgroup.event_control` on
//! `memory.pressure_level` with the level's name (the kernel's default, non-pass-through mode,
//! as Mesos registers them). The kernel signals a listener at its level and at every higher
//! one, and an eventfd adds the signals up until it is read.
//!
//! v2 has no levels: each is a PSI trigger on `memory.pressure`, a stall threshold within a
//! one-second window ([`v2_trigger`]); the fd reports `POLLPRI` (at most once per window) when the
//! threshold is crossed. The kernel clears a trigger's event in the fd's poll, and epoll_wait
//! polls it to report the readiness: that readiness is the event, the fd cannot be asked again
//! ([`PressureWatch::events_when_ready`]).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use super::container::{ContainerCgroup, Kind};
use super::error::CgroupError;
use crate::sys::notify;

/// A memory pressure level, in Mesos's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PressureLevel {
    Low,
    Medium,
    Critical,
}

impl PressureLevel {
    pub const ALL: [PressureLevel; 3] = [
        PressureLevel::Low,
        PressureLevel::Medium,
        PressureLevel::Critical,
    ];

    /// The v1 `memory.pressure_level` argument.
    pub fn name(self) -> &'static str {
        match self {
            PressureLevel::Low => "low",
            PressureLevel::Medium => "medium",
            PressureLevel::Critical => "critical",
        }
    }
}

/// The v2 PSI trigger standing for `level`: `<some|full> <stall µs> <window µs>`. Low is any
/// task stalled on memory for 5% of a second, medium for 20%, critical all tasks at once
/// (`full`) for 50%.
pub fn v2_trigger(level: PressureLevel) -> &'static str {
    match level {
        PressureLevel::Low => "some 50000 1000000",
        PressureLevel::Medium => "some 200000 1000000",
        PressureLevel::Critical => "full 500000 1000000",
    }
}

/// One level's listener fd of one container.
#[derive(Debug)]
pub struct PressureWatch {
    pub level: PressureLevel,
    fd: OwnedFd,
    /// A v2 PSI trigger (POLLPRI) rather than a v1 eventfd (readable).
    psi: bool,
}

impl PressureWatch {
    /// `level`'s listener on `fd`: a PSI trigger (`psi`) or a v1 eventfd.
    pub fn new(level: PressureLevel, fd: OwnedFd, psi: bool) -> PressureWatch {
        PressureWatch { level, fd, psi }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether the loop must wait for `POLLPRI` (v2) rather than readable (v1).
    pub fn is_psi(&self) -> bool {
        self.psi
    }

    /// The events the loop's readiness of this fd stands for (non-blocking): the eventfd's
    /// count on v1 (reading resets it), 1 on v2. A PSI trigger's event was cleared by the poll
    /// epoll made to report it, so polling again finds nothing (in a cgroup v2 guest, 20 s of
    /// 25% memory stall counted 1 event at most), or takes one that arrived since, which
    /// epoll then no longer reports; the kernel merges events of one window, so one readiness
    /// is one event.
    pub fn events_when_ready(&self) -> u64 {
        if self.psi {
            1
        } else {
            notify::read_eventfd(self.fd())
        }
    }
}

impl ContainerCgroup {
    /// A listener for each pressure level; none without a memory controller or (v2) without
    /// PSI in the kernel.
    pub fn pressure_watches(&self) -> Result<Vec<PressureWatch>, CgroupError> {
        let Some(dir) = self.memory_dir() else {
            return Ok(Vec::new());
        };
        let mut watches = Vec::with_capacity(3);
        match &self.kind {
            Kind::V1(_) => {
                // One open of each file serves the three registrations (the kernel holds
                // the cgroup for each listener, not the files).
                let file = dir.join("memory.pressure_level");
                let control = dir.join("cgroup.event_control");
                let read_err = |source| CgroupError::Read {
                    path: file.clone(),
                    source,
                };
                let pressure = std::fs::File::open(&file).map_err(read_err)?;
                let mut registrations = super::fs::open_for_writes(&control)?;
                for level in PressureLevel::ALL {
                    let efd = notify::eventfd().map_err(read_err)?;
                    let line = format!(
                        "{} {} {}",
                        efd.as_raw_fd(),
                        pressure.as_raw_fd(),
                        level.name()
                    );
                    super::fs::write_to(&mut registrations, &control, &line)?;
                    watches.push(PressureWatch::new(level, efd, false));
                }
            }
            Kind::V2(_) => {
                let file = dir.join("memory.pressure");
                if !file.exists() {
                    return Ok(Vec::new());
                }
                for level in PressureLevel::ALL {
                    let trigger = v2_trigger(level);
                    let fd = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .custom_flags(libc::O_NONBLOCK)
                        .open(&file)
                        .and_then(|mut f| {
                            // The trigger must be one write, with its terminating NUL.
                            f.write_all(format!("{trigger}\0").as_bytes())?;
                            Ok(f)
                        })
                        .map_err(|source| CgroupError::Write {
                            path: file.clone(),
                            value: trigger.to_owned(),
                            source,
                        })?;
                    watches.push(PressureWatch::new(level, OwnedFd::from(fd), true));
                }
            }
        }
        Ok(watches)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn a_psi_readiness_is_one_event_though_the_fd_reports_nothing_any_more() {
        // The fd as the loop holds it after epoll_wait reported POLLPRI: the kernel's poll
        // cleared the trigger's event, nothing is pending. A pipe with nothing in it is alike.
        let (read, _write) = crate::sys::fd::pipe(true).unwrap();
        let w = PressureWatch::new(PressureLevel::Medium, read, true);
        assert_eq!(w.events_when_ready(), 1);
        assert_eq!(w.events_when_ready(), 1, "each readiness, one event");
    }

    #[test]
    fn a_v1_readiness_is_the_eventfd_count() {
        let efd = notify::eventfd().unwrap();
        crate::sys::fd::write_all(efd.as_raw_fd(), &3u64.to_ne_bytes()).unwrap();
        let w = PressureWatch::new(PressureLevel::Low, efd, false);
        assert_eq!(
            w.events_when_ready(),
            3,
            "the kernel's signals add up in the eventfd"
        );
        assert_eq!(w.events_when_ready(), 0, "reading reset it");
    }
}
