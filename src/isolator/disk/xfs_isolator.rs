//! `disk/xfs` through the life cycle: the sandbox's project and hard limit at PREPARE, usage
//! from the quota for statistics, the `--xfs_kill_containers` check on its timer (one quotactl
//! per container, a quick syscall, so in the loop), and the project's release at cleanup: the
//! walk that takes the sandbox's files out of the project runs in a forked child (a sandbox can
//! hold millions of files), and the ID is free once that child succeeds.

use std::path::PathBuf;
use std::time::Duration;

use super::super::{
    ChildOutcome, ContainerCtx, Isolator, IsolatorError, Limited, Ops, Plan, PrepareCtx, UsageCtx,
};
use super::xfs::{reset_tree, XfsQuota};
use super::{disk_limit, disk_limitation};
use crate::children::{ChildEvent, Program};
use crate::config::Flags;
use crate::slot_map::SlotMap;
use crate::stats::ResourceStatistics;

#[derive(Debug)]
pub struct DiskXfs {
    quota: XfsQuota,
    /// `--xfs_kill_containers`: destroy a container whose usage reached its quota.
    kill: bool,
    interval: Duration,
    /// The sandbox and `disk` resource of each container with a project, by slot.
    sandboxes: SlotMap<(PathBuf, f64)>,
    /// Project resets running in forked children, by slot: their IDs stay reserved until they
    /// end.
    resets: SlotMap<(u32, PathBuf)>,
}

impl DiskXfs {
    /// Checks that the work_dir is on XFS with project quotas on, and learns which project IDs
    /// the sandboxes there already carry (before the containers' recovery, which may clean
    /// some up and free their IDs).
    pub fn open(flags: &Flags) -> Result<DiskXfs, IsolatorError> {
        let mountinfo =
            std::fs::read_to_string(flags.proc_dir.join("self/mountinfo")).unwrap_or_default();
        let mut quota = XfsQuota::open(&flags.work_dir, &mountinfo, flags.xfs_project_range)
            .map_err(IsolatorError::Quota)?;
        quota.recover(&flags.work_dir.join("containers"));
        Ok(DiskXfs {
            quota,
            kill: flags.xfs_kill_containers,
            interval: flags.container_disk_watch_interval,
            sandboxes: SlotMap::default(),
            resets: SlotMap::default(),
        })
    }

    /// `(used, limit)` in bytes of the sandbox's project.
    fn used(&self, sandbox: &std::path::Path) -> Option<(u64, u64)> {
        match self.quota.quota(sandbox)? {
            Ok(q) => Some((q.used, q.limit)),
            Err(e) => {
                log::debug!("disk/xfs: quota of {}: {e}", sandbox.display());
                None
            }
        }
    }
}

impl Isolator for DiskXfs {
    fn name(&self) -> &'static str {
        "disk/xfs"
    }

    fn start(&mut self, ops: &mut Ops<'_>) {
        if self.kill {
            ops.tick(self.interval);
        }
    }

    /// A project with a hard limit at the `disk` resource.
    fn prepare(&mut self, ctx: &PrepareCtx<'_>, _plan: &mut Plan) -> Result<(), IsolatorError> {
        let limit = disk_limit(ctx.resources);
        let projid = self
            .quota
            .prepare(ctx.sandbox, limit)
            .map_err(IsolatorError::Quota)?;
        self.sandboxes
            .insert(ctx.slot, (ctx.sandbox.to_path_buf(), ctx.resources.disk_mb));
        log::debug!(
            "disk/xfs: project {projid} on {} (limit {limit} bytes)",
            ctx.sandbox.display()
        );
        Ok(())
    }

    fn recover(&mut self, ctx: &ContainerCtx<'_>, _ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        self.sandboxes
            .insert(ctx.slot, (ctx.sandbox.to_path_buf(), ctx.resources.disk_mb));
        Ok(())
    }

    /// With `--xfs_kill_containers`: the running containers whose usage reached their quota.
    fn on_timer(&mut self, running: &[u32], ops: &mut Ops<'_>) -> Vec<Limited> {
        ops.tick(self.interval);
        running
            .iter()
            .filter_map(|slot| {
                let (sandbox, disk_mb) = self.sandboxes.get(*slot)?;
                let (used, limit) = self.used(sandbox)?;
                (limit > 0 && used >= limit)
                    .then(|| (*slot, disk_limitation(*disk_mb, used, limit)))
            })
            .collect()
    }

    fn usage(
        &self,
        ctx: &UsageCtx<'_>,
        _buf: &mut Vec<u8>,
        out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        if let Some((used, limit)) = self.used(ctx.sandbox) {
            out.disk_used_bytes = Some(used);
            out.disk_limit_bytes = (limit > 0).then_some(limit);
        }
        Ok(())
    }

    /// The limit is lifted at once; the files leave the project in a forked child. Called
    /// again at REMOVE: a project whose reset failed is retried then.
    fn cleanup(&mut self, ctx: &ContainerCtx<'_>, ops: &mut Ops<'_>) -> Result<(), IsolatorError> {
        self.sandboxes.remove(ctx.slot);
        let Some(projid) = self.quota.begin_cleanup(ctx.sandbox) else {
            return Ok(());
        };
        let sandbox = ctx.sandbox.to_path_buf();
        let walked = sandbox.clone();
        let walk = move || match reset_tree(&walked) {
            Ok(()) => 0,
            Err((path, e)) => {
                log::warn!(
                    "disk/xfs: cannot reset the project of {}: {e}",
                    path.display()
                );
                1
            }
        };
        match ops.run(ctx.slot, Program::Fork(Box::new(walk)), None) {
            Ok(_) => {
                self.resets.insert(ctx.slot, (projid, sandbox));
            }
            Err(e) => {
                log::warn!("disk/xfs: cannot fork to reset project {projid} ({e}); resetting here");
                let reset = reset_tree(&sandbox).is_ok();
                self.quota.finish_cleanup(&sandbox, projid, reset);
            }
        }
        Ok(())
    }

    /// A project reset ended: its ID is free (or stays reserved, if it failed).
    fn on_child(&mut self, slot: u32, event: ChildEvent, _ops: &mut Ops<'_>) -> ChildOutcome {
        if let ChildEvent::Finished { status, .. } = event {
            if let Some((projid, sandbox)) = self.resets.remove(slot) {
                let reset = crate::sys::process::decode_status(status) == (Some(0), None);
                self.quota.finish_cleanup(&sandbox, projid, reset);
            }
        }
        ChildOutcome::default()
    }
}
