//! Network statistics of a container, read through netlink (no `ip` or `tc` process per
//! sample): the counters of its interfaces, and the qdiscs that shape its traffic.
//!
//! `net_traffic_control_statistics` ids are `<interface>:<major>:<minor>`, the qdisc's handle
//! in hex as `tc` prints it: "eth0:1:0" for a qdisc of handle `1:` on the container's eth0,
//! "veth1a2b:ffff:0" for the ingress qdisc on its host-side veth, "ifb1a2b:1:0" for the tbf
//! the CNI bandwidth plugin puts on its ifb device. Kernel-made default qdiscs have handle 0
//! ("eth0:0:0"). `noqueue` qdiscs (a veth's default: no queue, nothing ever counted) are left
//! out.

use super::{ResourceStatistics, TrafficControlStatistics};
use crate::sys::netlink::{LinkStats, Netlink, NetlinkError, QdiscStats};

/// The host's links and qdiscs, dumped once and shared by every container of a statistics
/// pass: a dump per container would make a pass over N containers on one bridge read N host
/// dumps of N veths each.
#[derive(Debug, Default)]
pub struct HostLinks {
    pub links: Vec<LinkStats>,
    pub qdiscs: Vec<QdiscStats>,
}

impl HostLinks {
    pub fn read(nl: &mut Netlink) -> Result<HostLinks, NetlinkError> {
        Ok(HostLinks {
            links: nl.links()?,
            qdiscs: nl.qdiscs()?,
        })
    }
}

/// Sums the counters of the interfaces `ifnames` of the container's namespace (`in_ns`) into
/// `out.net_*`, and adds the qdiscs on them and on the host-side interfaces `host` names to
/// `out.net_traffic_control_statistics`. A named interface of the container that does not
/// exist is an error; a host-side one missing from the snapshot (made after it) is skipped.
/// With no `ifnames`, the counters are left unset.
pub fn fill(
    in_ns: &mut Netlink,
    ifnames: &[&str],
    host: Option<(&HostLinks, &[&str])>,
    out: &mut ResourceStatistics,
) -> Result<(), NetlinkError> {
    if !ifnames.is_empty() {
        let links = in_ns.links()?;
        let named = pick(&links, ifnames, in_ns)?;
        sum(&named, out);
        let qdiscs = in_ns.qdiscs()?;
        traffic_control(&qdiscs, &named, &mut out.net_traffic_control_statistics);
    }
    if let Some((snap, names)) = host.filter(|(_, names)| !names.is_empty()) {
        let named: Vec<&LinkStats> = names
            .iter()
            .filter_map(|n| snap.links.iter().find(|l| l.name == *n))
            .collect();
        traffic_control(
            &snap.qdiscs,
            &named,
            &mut out.net_traffic_control_statistics,
        );
    }
    Ok(())
}

/// The links named `names`, in that order.
fn pick<'a>(
    links: &'a [LinkStats],
    names: &[&str],
    nl: &Netlink,
) -> Result<Vec<&'a LinkStats>, NetlinkError> {
    names
        .iter()
        .map(|name| {
            links
                .iter()
                .find(|l| l.name == *name)
                .ok_or_else(|| NetlinkError::NoSuchLink {
                    netns: nl.netns().map(|p| p.to_path_buf()),
                    ifname: name.to_string(),
                })
        })
        .collect()
}

fn sum(links: &[&LinkStats], out: &mut ResourceStatistics) {
    let total =
        |f: fn(&LinkStats) -> u64| Some(links.iter().fold(0u64, |acc, l| acc.wrapping_add(f(l))));
    out.net_rx_packets = total(|l| l.rx_packets);
    out.net_rx_bytes = total(|l| l.rx_bytes);
    out.net_rx_errors = total(|l| l.rx_errors);
    out.net_rx_dropped = total(|l| l.rx_dropped);
    out.net_tx_packets = total(|l| l.tx_packets);
    out.net_tx_bytes = total(|l| l.tx_bytes);
    out.net_tx_errors = total(|l| l.tx_errors);
    out.net_tx_dropped = total(|l| l.tx_dropped);
}

/// An entry per qdisc on one of `links` (but `noqueue`).
fn traffic_control(
    qdiscs: &[QdiscStats],
    links: &[&LinkStats],
    out: &mut Vec<TrafficControlStatistics>,
) {
    for q in qdiscs.iter().filter(|q| q.kind != "noqueue") {
        let Some(link) = links.iter().find(|l| l.ifindex == q.ifindex) else {
            continue;
        };
        out.push(TrafficControlStatistics {
            id: format!("{}:{:x}:{:x}", link.name, q.handle >> 16, q.handle & 0xffff),
            backlog: Some(q.backlog),
            bytes: Some(q.bytes),
            drops: Some(q.drops),
            overlimits: Some(q.overlimits),
            packets: Some(q.packets),
            qlen: Some(q.qlen),
            ratebps: Some(q.bps),
            ratepps: Some(q.pps),
            requeues: Some(q.requeues),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, ifindex: i32, base: u64) -> LinkStats {
        LinkStats {
            name: name.into(),
            ifindex,
            rx_packets: base,
            rx_bytes: base * 100,
            rx_errors: 1,
            rx_dropped: 2,
            tx_packets: base + 1,
            tx_bytes: base * 200,
            tx_errors: 3,
            tx_dropped: 4,
        }
    }

    #[test]
    fn counters_are_summed_over_the_named_links() {
        let (a, b) = (link("eth0", 2, 10), link("eth1", 3, 5));
        let mut out = ResourceStatistics::default();
        sum(&[&a, &b], &mut out);
        assert_eq!(out.net_rx_packets, Some(15));
        assert_eq!(out.net_rx_bytes, Some(1500));
        assert_eq!(out.net_rx_errors, Some(2));
        assert_eq!(out.net_rx_dropped, Some(4));
        assert_eq!(out.net_tx_packets, Some(17));
        assert_eq!(out.net_tx_bytes, Some(3000));
        assert_eq!(out.net_tx_errors, Some(6));
        assert_eq!(out.net_tx_dropped, Some(8));
    }

    #[test]
    fn qdiscs_of_the_named_links_get_tc_style_ids() {
        let eth0 = link("eth0", 2, 0);
        let q = |ifindex, kind: &str, handle| QdiscStats {
            ifindex,
            kind: kind.into(),
            handle,
            bytes: 42,
            packets: 7,
            drops: 1,
            bps: 9,
            ..QdiscStats::default()
        };
        let qdiscs = [
            q(1, "tbf", 0x1_0000),        // another link
            q(2, "noqueue", 0),           // nothing to report
            q(2, "tbf", 0x1_0000),        // tc's "1:"
            q(2, "ingress", 0xffff_0000), // "ffff:"
            q(2, "sfq", 0x10_0001),
        ];
        let mut out = Vec::new();
        traffic_control(&qdiscs, &[&eth0], &mut out);
        let ids: Vec<&str> = out.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["eth0:1:0", "eth0:ffff:0", "eth0:10:1"]);
        assert_eq!(
            (out[0].bytes, out[0].packets, out[0].drops, out[0].ratebps),
            (Some(42), Some(7), Some(1), Some(9))
        );
    }
}
