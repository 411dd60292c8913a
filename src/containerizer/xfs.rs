//! `disk/xfs` in the containerizer: the sandbox's project quota at PREPARE, usage for
//! statistics, the `--xfs_kill_containers` check on the disk timer (one quotactl per container,
//! a quick syscall, so in the loop), and the project's release at cleanup (the walk that takes
//! the sandbox's files out of the project runs in a forked child: a sandbox can hold millions
//! of files).

use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::Registry;

use super::container::State;
use super::{ContainerId, Containerizer, Notice};
use crate::isolator::{reset_xfs_tree as reset_tree, XfsQuota};
use crate::resources::Resources;
use crate::sys::process;
use crate::timer::{TimerKind, Timers};

/// disk/xfs's state and settings.
#[derive(Debug)]
pub struct XfsWatch {
    quota: XfsQuota,
    kill: bool,
    interval: Duration,
    /// Project resets running in forked children: their IDs stay reserved until they end.
    resets: Vec<Reset>,
}

#[derive(Debug)]
struct Reset {
    pid: i32,
    projid: u32,
    sandbox: PathBuf,
}

impl Containerizer {
    /// Turns disk/xfs on. `quota` was opened (and recovered) by the agent; with `kill`, usage
    /// is checked every `interval`.
    pub fn enable_xfs(
        &mut self,
        quota: XfsQuota,
        kill: bool,
        interval: Duration,
        timers: &mut Timers,
    ) {
        if kill {
            timers.add(interval, TimerKind::DiskTick);
        }
        self.xfs = Some(XfsWatch {
            quota,
            kill,
            interval,
            resets: Vec::new(),
        });
    }

    /// PREPARE: a project with a hard limit at the `disk` resource.
    pub(super) fn xfs_prepare(&mut self, sandbox: &Path, r: &Resources) -> Result<(), String> {
        let Some(watch) = self.xfs.as_mut() else {
            return Ok(());
        };
        let limit = super::disk::disk_limit(r);
        let projid = watch
            .quota
            .prepare(sandbox, limit)
            .map_err(|e| format!("Isolator disk/xfs failed to prepare: {e}"))?;
        log::debug!(
            "disk/xfs: project {projid} on {} (limit {limit} bytes)",
            sandbox.display()
        );
        Ok(())
    }

    /// `(used, limit)` in bytes of the container's project; None without disk/xfs.
    pub(super) fn xfs_usage(&self, sandbox: &Path) -> Option<(u64, u64)> {
        match self.xfs.as_ref()?.quota.quota(sandbox)? {
            Ok(q) => Some((q.used, q.limit)),
            Err(e) => {
                log::debug!("disk/xfs: quota of {}: {e}", sandbox.display());
                None
            }
        }
    }

    /// Cleanup of a container that ended: its limit is lifted at once; its files leave the
    /// project in a forked child, and the ID is free once that child succeeds
    /// ([`Containerizer::reap_xfs_resets`]).
    pub(super) fn xfs_cleanup(&mut self, sandbox: &Path) {
        let Some(watch) = self.xfs.as_mut() else {
            return;
        };
        let Some(projid) = watch.quota.begin_cleanup(sandbox) else {
            return;
        };
        // The child only walks the tree, logs and leaves with exit_now.
        let forked = process::fork_child(|| {
            // Not the agent's sockets and lock: an agent restarted meanwhile must get them.
            crate::sys::fd::close_all_except(&[0, 1, 2]);
            let code = match reset_tree(sandbox) {
                Ok(()) => 0,
                Err((path, e)) => {
                    log::warn!(
                        "disk/xfs: cannot reset the project of {}: {e}",
                        path.display()
                    );
                    1
                }
            };
            process::exit_now(code)
        });
        match forked {
            Ok(pid) => watch.resets.push(Reset {
                pid,
                projid,
                sandbox: sandbox.to_path_buf(),
            }),
            Err(e) => {
                log::warn!("disk/xfs: cannot fork to reset project {projid} ({e}); resetting here");
                let reset = reset_tree(sandbox).is_ok();
                watch.quota.finish_cleanup(sandbox, projid, reset);
            }
        }
    }

    /// SIGCHLD: the project resets that ended free their IDs (or keep them, if they failed).
    pub(super) fn reap_xfs_resets(&mut self) {
        let Some(watch) = self.xfs.as_mut() else {
            return;
        };
        let quota = &mut watch.quota;
        watch.resets.retain(|r| match process::try_wait(r.pid) {
            Ok(None) => true,
            Ok(Some(status)) => {
                let reset = process::decode_status(status) == (Some(0), None);
                quota.finish_cleanup(&r.sandbox, r.projid, reset);
                false
            }
            Err(e) => {
                log::warn!(
                    "disk/xfs: cannot reap the reset of project {} ({e})",
                    r.projid
                );
                quota.finish_cleanup(&r.sandbox, r.projid, false);
                false
            }
        });
    }

    /// The disk timer with `--xfs_kill_containers`: destroys the running containers whose
    /// usage reached their quota.
    pub(super) fn on_xfs_tick(&mut self, registry: &Registry, timers: &mut Timers) -> Vec<Notice> {
        let Some(watch) = self.xfs.as_ref() else {
            return Vec::new();
        };
        if !watch.kill {
            return Vec::new();
        }
        timers.add(watch.interval, TimerKind::DiskTick);
        let over: Vec<(ContainerId, u64, u64)> = self
            .containers
            .values()
            .filter(|c| c.state == State::Running && c.limitation.is_none())
            .filter_map(|c| {
                let (used, limit) = self.xfs_usage(&c.sandbox)?;
                (limit > 0 && used >= limit).then(|| (c.id.clone(), used, limit))
            })
            .collect();
        let mut notices = Vec::new();
        for (id, used, limit) in over {
            let Some(c) = self.containers.get_mut(&id) else {
                continue;
            };
            let l = super::disk::disk_limitation(&c.resources, used, limit);
            log::warn!("Container {id}: {}", l.message);
            c.limitation = Some(l);
            notices.extend(self.begin_destroy(&id, registry, timers));
        }
        notices
    }
}
