//! ResourceStatistics of a container, read live from the kernel at each request: every
//! isolator adds what it measures, then the limits are filled in as Mesos does
//! (containerizer.cpp l.2505-2620).

use super::container::{Container, State};
use super::Containerizer;
use crate::isolator::UsageCtx;
use crate::stats::ResourceStatistics;

impl Containerizer {
    /// Statistics of a container that is not TERMINATED; None otherwise.
    pub fn usage(&self, c: &Container, buf: &mut Vec<u8>) -> Option<ResourceStatistics> {
        if matches!(c.state, State::Terminated) {
            return None;
        }
        let mut out = ResourceStatistics {
            timestamp: crate::sys::now_secs(),
            ..Default::default()
        };
        let ctx = UsageCtx {
            cgroup: c.cgroup.as_ref(),
            init_pid: c.init.as_ref().filter(|i| i.exit.is_none()).map(|i| i.pid),
            proc_dir: &self.settings.proc_dir,
        };
        for iso in &self.isolators {
            if let Err(e) = iso.usage(&ctx, buf, &mut out) {
                log::debug!("Container {}: {} usage: {e}", c.id, iso.name());
            }
        }
        let r = &c.resources;
        if r.cpus > 0.0 {
            out.cpus_soft_limit = Some(r.cpus);
            // Without CFS there is no hard cap: the limit is the whole node, as Mesos reports.
            out.cpus_limit = Some(if self.settings.enable_cfs {
                r.cpus
            } else {
                self.settings.total.cpus
            });
        }
        if r.mem_mb > 0.0 {
            let bytes = (r.mem_mb * 1024.0 * 1024.0).round() as u64;
            out.mem_limit_bytes = Some(bytes);
            out.mem_soft_limit_bytes = Some(bytes);
        }
        if self.disk.is_some() {
            let limit = super::disk::disk_limit(r);
            if limit > 0 {
                out.disk_limit_bytes = Some(limit);
            }
            out.disk_used_bytes = c.disk_used;
        }
        if let Some((used, limit)) = self.xfs_usage(&c.sandbox) {
            out.disk_used_bytes = Some(used);
            out.disk_limit_bytes = (limit > 0).then_some(limit);
        }
        Some(out)
    }
}
