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
        crate::containerizer::fill_limits(
            &mut out,
            &c.resources,
            self.settings.enable_cfs,
            &self.settings.total,
        );
        Some(out)
    }
}
