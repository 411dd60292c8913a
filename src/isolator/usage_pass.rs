//! What one statistics request measures once and shares among all the containers it covers.

use std::cell::OnceCell;
use std::io;
use std::path::Path;

use super::posix::proctree::ProcTable;
use crate::cgroups::Figures;
use crate::stats::net::HostLinks;
use crate::sys::netlink::Netlink;

/// Made at the start of a statistics request (or pass) and handed to every container's usage.
#[derive(Debug, Default)]
pub struct UsagePass {
    /// The processes in procfs, read at the first container that needs them; a failed walk is
    /// kept as its error kind, so it is not retried for each container either.
    procs: OnceCell<Result<ProcTable, io::ErrorKind>>,
    /// The host's links and qdiscs (network/cni's host-side interfaces), dumped through one
    /// netlink socket at the first container that needs them; a failure is kept likewise.
    host_links: OnceCell<Result<HostLinks, String>>,
    figures: Figures,
}

impl UsagePass {
    /// A pass for `/monitor/statistics` and the API's statistics: Mesos's figures.
    pub fn new() -> UsagePass {
        UsagePass::default()
    }

    /// A pass for `/metrics`, which also shows the figures cAdvisor has and Mesos lacks.
    pub fn for_metrics() -> UsagePass {
        UsagePass {
            figures: Figures::WithPeakMemory,
            ..UsagePass::default()
        }
    }

    /// What the cgroups read beyond Mesos's fields in this pass.
    pub fn figures(&self) -> Figures {
        self.figures
    }

    /// The process table of `proc_dir`, walked once per pass.
    pub(super) fn procs(&self, proc_dir: &Path) -> io::Result<&ProcTable> {
        self.procs
            .get_or_init(|| ProcTable::read(proc_dir).map_err(|e| e.kind()))
            .as_ref()
            .map_err(|kind| io::Error::from(*kind))
    }

    /// The host's links and qdiscs, dumped once per pass.
    pub(super) fn host_links(&self) -> Result<&HostLinks, String> {
        self.host_links
            .get_or_init(|| {
                Netlink::open()
                    .and_then(|mut nl| HostLinks::read(&mut nl))
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::clone)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn procfs_is_walked_once_per_pass_and_a_failure_is_kept() {
        let pass = UsagePass::new();
        let first = pass.procs(Path::new("/proc")).unwrap();
        let again = pass.procs(Path::new("/proc")).unwrap();
        assert!(
            std::ptr::eq(first, again),
            "the same table, not a second walk"
        );
        let missing = UsagePass::new();
        let err = missing.procs(Path::new("/no/such/proc")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            missing.procs(Path::new("/proc")).is_err(),
            "not walked again"
        );
    }
}
