//! Every use of the netlink layer (`crate::sys::netlink`, `crate::stats::net`) by network/cni:
//! the container's counters come from its own namespace, the bandwidth plugin's qdiscs from the
//! host-side interfaces its result names. (The init brings `lo` up itself: `ChildSetup::loopback_up`.)

use std::cell::RefCell;
use std::path::Path;

use crate::isolator::UsagePass;
use crate::stats::ResourceStatistics;
use crate::sys::netlink::Netlink;

/// Adds the counters of the container's interfaces `ifnames` in the namespace `netns` (and
/// the qdiscs of the host-side interfaces `host_ifnames`, the bandwidth plugin's, from the
/// pass's one host dump) to `out`. `kept` is the container's socket in `netns`: made on the
/// first call and reused, dropped after a failure so that the next request makes a new one.
pub fn usage(
    kept: &RefCell<Option<Netlink>>,
    netns: &Path,
    ifnames: &[&str],
    host_ifnames: &[&str],
    pass: &UsagePass,
    out: &mut ResourceStatistics,
) -> Result<(), String> {
    let mut kept = kept.borrow_mut();
    let inside = match kept.as_mut() {
        Some(sock) => sock,
        None => kept.insert(Netlink::open_in(netns).map_err(|e| e.to_string())?),
    };
    let host = if host_ifnames.is_empty() {
        None
    } else {
        Some((pass.host_links()?, host_ifnames))
    };
    let filled = crate::stats::net::fill(inside, ifnames, host, out).map_err(|e| e.to_string());
    if filled.is_err() {
        *kept = None;
    }
    filled
}
