//! Every use of the netlink layer (`crate::sys::netlink`, `crate::stats::net`) by network/cni.
//!
//! TEMPORARY until i14netlink merges: the netlink layer is built on another branch. Until it
//! is here, `lo` is brought up by the CNI `loopback` plugin run first in each attach
//! (`LOOPBACK_IN_INIT` false), and `usage` adds nothing. At the merge:
//! - `LOOPBACK_IN_INIT = true` (the init brings `lo` up: `ChildSetup::loopback_up`);
//! - `usage` becomes:
//!   ```ignore
//!   let mut inside = crate::sys::netlink::Netlink::open_in(netns).map_err(|e| e.to_string())?;
//!   let mut host = crate::sys::netlink::Netlink::open().map_err(|e| e.to_string())?;
//!   crate::stats::net::fill(&mut inside, ifnames, Some((&mut host, host_ifnames)), out);
//!   Ok(())
//!   ```

use std::path::Path;

use crate::stats::ResourceStatistics;

/// Whether the container's init brings `lo` up itself (else the `loopback` plugin does).
pub const LOOPBACK_IN_INIT: bool = false;

/// Adds the counters of the container's interfaces `ifnames` in the namespace `netns` (and
/// the qdiscs of the host-side interfaces `host_ifnames`, the bandwidth plugin's) to `out`.
pub fn usage(
    netns: &Path,
    ifnames: &[&str],
    host_ifnames: &[&str],
    out: &mut ResourceStatistics,
) -> Result<(), String> {
    let _ = (netns, ifnames, host_ifnames, out);
    Ok(())
}
