//! Memory pressure listeners (Mesos's `cgroups/mem` pressure counters).
//!
//! v1: for each level, an eventfd registered through `cgroup.event_control` on
//! `memory.pressure_level` with the level's name (the kernel's default, non-pass-through mode,
//! as Mesos registers them). The kernel signals a listener at its level and at every higher
//! one, and an eventfd adds the signals up until it is read.
//!
//! v2 has no levels: each is a PSI trigger on `memory.pressure`, a stall threshold within a
//! one-second window ([`v2_trigger`]); the fd reports `POLLPRI` (at most once per window) when the
//! threshold is crossed.

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
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether the loop must wait for `POLLPRI` (v2) rather than readable (v1).
    pub fn is_psi(&self) -> bool {
        self.psi
    }

    /// The events that arrived since the last call (non-blocking): the eventfd's count on v1,
    /// 1 or 0 on v2 (a trigger fires at most once per window).
    pub fn take_events(&self) -> u64 {
        if self.psi {
            u64::from(notify::take_priority(self.fd()))
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
                let file = dir.join("memory.pressure_level");
                let control = dir.join("cgroup.event_control");
                for level in PressureLevel::ALL {
                    let read_err = |source| CgroupError::Read {
                        path: file.clone(),
                        source,
                    };
                    let pressure = std::fs::File::open(&file).map_err(read_err)?;
                    let efd = notify::eventfd().map_err(read_err)?;
                    let line = format!(
                        "{} {} {}",
                        efd.as_raw_fd(),
                        pressure.as_raw_fd(),
                        level.name()
                    );
                    super::fs::write(&control, &line)?;
                    watches.push(PressureWatch {
                        level,
                        fd: efd,
                        psi: false,
                    });
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
                    watches.push(PressureWatch {
                        level,
                        fd: OwnedFd::from(fd),
                        psi: true,
                    });
                }
            }
        }
        Ok(watches)
    }
}
