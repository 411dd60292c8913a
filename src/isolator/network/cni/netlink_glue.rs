//! Every use of the netlink layer (`crate::sys::netlink`, `crate::stats::net`) by network/cni:
//! the container's counters come from its own namespace, the bandwidth plugin's qdiscs from the
//! host-side interfaces its result names. (The init brings `lo` up itself: `ChildSetup::loopback_up`.)

use std::path::Path;

use crate::isolator::UsagePass;
use crate::stats::ResourceStatistics;
use crate::sys::netlink::Netlink;

/// Adds the counters of the container's interfaces `ifnames` in the namespace `netns` (and
/// the qdiscs of the host-side interfaces `host_ifnames`, the bandwidth plugin's, from the
/// pass's one host dump) to `out`.
pub fn usage(
    netns: &Path,
    ifnames: &[&str],
    host_ifnames: &[&str],
    pass: &UsagePass,
    out: &mut ResourceStatistics,
) -> Result<(), String> {
    let mut inside = Netlink::open_in(netns).map_err(|e| e.to_string())?;
    let host = if host_ifnames.is_empty() {
        None
    } else {
        Some((pass.host_links()?, host_ifnames))
    };
    crate::stats::net::fill(&mut inside, ifnames, host, out).map_err(|e| e.to_string())
}
