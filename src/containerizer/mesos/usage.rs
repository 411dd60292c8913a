//! ResourceStatistics of a container, read live from the kernel at each request: every
//! isolator adds what it measures, then the limits are filled in as Mesos does
//! (containerizer.cpp l.2505-2620).

use super::container::Container;
use super::MesosContainerizer;
use super::State;
use crate::isolator::{UsageCtx, UsagePass};
use crate::stats::ResourceStatistics;

impl MesosContainerizer {
    /// Statistics of a container that is not TERMINATED; None otherwise.
    pub fn usage(
        &self,
        c: &Container,
        pass: &UsagePass,
        buf: &mut Vec<u8>,
    ) -> Option<ResourceStatistics> {
        if matches!(c.state, State::Terminated) {
            return None;
        }
        let mut out = ResourceStatistics {
            timestamp: crate::sys::now_secs(),
            ..Default::default()
        };
        let ctx = UsageCtx {
            slot: c.slot,
            cgroup: c.cgroup.as_ref(),
            init_pid: c.live_pid(),
            proc_dir: &self.settings.proc_dir,
            sandbox: &c.sandbox,
            resources: &c.resources,
            pass,
        };
        self.isolators.usage(&ctx, buf, &mut out);
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
        Some(out)
    }
}
