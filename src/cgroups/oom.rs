//! Memory limitation: watching a container for the kernel's OOM kills, and telling after the
//! fact whether one happened (Mesos's memory isolator `watch()`).

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use super::container::{ContainerCgroup, Kind};
use super::error::CgroupError;
use crate::sys::notify;

impl ContainerCgroup {
    pub(super) fn memory_dir(&self) -> Option<PathBuf> {
        match &self.kind {
            Kind::V1(dirs) => dirs.memory.clone(),
            Kind::V2(dir) => Some(dir.clone()),
        }
    }

    /// An fd that becomes readable when the container hits its memory limit: v1 an eventfd
    /// registered through `cgroup.event_control` on `memory.oom_control`; v2 an inotify watch on
    /// `memory.events`. None without a memory controller.
    pub fn oom_watch(&self) -> Result<Option<OwnedFd>, CgroupError> {
        let Some(dir) = self.memory_dir() else {
            return Ok(None);
        };
        match &self.kind {
            Kind::V1(_) => {
                let control = dir.join("memory.oom_control");
                let ofd = fs::File::open(&control).map_err(|e| CgroupError::Read {
                    path: control.clone(),
                    source: e,
                })?;
                let efd = notify::eventfd().map_err(|e| CgroupError::Read {
                    path: control.clone(),
                    source: e,
                })?;
                let line = format!("{} {}", efd.as_raw_fd(), ofd.as_raw_fd());
                let ec = dir.join("cgroup.event_control");
                fs::write(&ec, line).map_err(|e| CgroupError::Write {
                    path: ec,
                    value: "oom eventfd".into(),
                    source: e,
                })?;
                Ok(Some(efd))
            }
            Kind::V2(_) => {
                let events = dir.join("memory.events");
                if !events.exists() {
                    return Ok(None);
                }
                notify::watch_modify(&events)
                    .map(Some)
                    .map_err(|e| CgroupError::Read {
                        path: events,
                        source: e,
                    })
            }
        }
    }

    /// How many processes the kernel's OOM killer killed in this container (v1
    /// `memory.oom_control` oom_kill, Linux 4.13; v2 `memory.events` oom_kill); 0 if unknown.
    pub fn oom_kills(&self) -> u64 {
        let Some(dir) = self.memory_dir() else {
            return 0;
        };
        let file = match self.kind {
            Kind::V1(_) => dir.join("memory.oom_control"),
            Kind::V2(_) => dir.join("memory.events"),
        };
        let text = fs::read_to_string(file).unwrap_or_default();
        key_value(&text, "oom_kill").unwrap_or(0)
    }

    /// Whether a notification of `oom_watch` means the container hit its limit: on v1 the
    /// eventfd fires only then (the kill may still be under way, so `oom_kills` can read 0); on
    /// v2 `memory.events` also changes for `high`/`max`, so its `oom` or `oom_kill` must count.
    pub fn oom_notified(&self) -> bool {
        match &self.kind {
            Kind::V1(_) => true,
            Kind::V2(dir) => {
                let text = fs::read_to_string(dir.join("memory.events")).unwrap_or_default();
                key_value(&text, "oom").unwrap_or(0) > 0
                    || key_value(&text, "oom_kill").unwrap_or(0) > 0
            }
        }
    }

    /// The most memory the container used (v1 `memory.max_usage_in_bytes`; v2 `memory.peak`,
    /// Linux 5.19), for the limitation message.
    pub fn memory_peak(&self) -> Option<u64> {
        let dir = self.memory_dir()?;
        let file = match self.kind {
            Kind::V1(_) => dir.join("memory.max_usage_in_bytes"),
            Kind::V2(_) => dir.join("memory.peak"),
        };
        fs::read_to_string(file).ok()?.trim().parse().ok()
    }
}

fn key_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_ascii_whitespace();
        (it.next()? == key).then(|| it.next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::key_value;

    #[test]
    fn reads_oom_kill_counters() {
        assert_eq!(
            key_value("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            Some(3)
        );
        assert_eq!(
            key_value("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n", "oom_kill"),
            Some(1)
        );
        assert_eq!(key_value("oom 1\n", "oom_kill"), None);
    }
}
