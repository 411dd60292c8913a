//! Qdiscs: RTM_GETQDISC dumps read into [`QdiscStats`], from TCA_STATS2 (the gnet_stats
//! nest) or, on a kernel that sends only the old struct, TCA_STATS.

use super::message::{self, Builder, Malformed, Message, Overflow};

/// `struct tcmsg`: family u8, pad u8, pad u16, ifindex i32, handle u32, parent u32, info u32.
const TCMSG_LEN: usize = 20;
const RTM_NEWQDISC: u16 = libc::RTM_NEWQDISC;
const RTM_GETQDISC: u16 = libc::RTM_GETQDISC;
// include/uapi/linux/rtnetlink.h, enum TCA_*.
const TCA_KIND: u16 = 1;
const TCA_STATS: u16 = 3;
const TCA_STATS2: u16 = 7;
// include/uapi/linux/gen_stats.h, enum TCA_STATS_*.
const TCA_STATS_BASIC: u16 = 1;
const TCA_STATS_RATE_EST: u16 = 2;
const TCA_STATS_QUEUE: u16 = 3;
const TCA_STATS_RATE_EST64: u16 = 5;
const TCA_STATS_PKT64: u16 = 8;

/// One qdisc and its counters (Mesos's TrafficControlStatistics, less the id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QdiscStats {
    pub ifindex: i32,
    /// TCA_KIND: "tbf", "htb", "ingress", "noqueue", ...
    pub kind: String,
    /// major:minor in the high and low 16 bits, as tc writes "1:0".
    pub handle: u32,
    /// TC_H_ROOT (0xffffffff) for a root qdisc.
    pub parent: u32,
    pub bytes: u64,
    pub packets: u64,
    pub qlen: u64,
    pub backlog: u64,
    pub drops: u64,
    pub requeues: u64,
    pub overlimits: u64,
    /// The rate estimator's bytes and packets per second (0 without an estimator).
    pub bps: u64,
    pub pps: u64,
}

/// RTM_GETQDISC for every qdisc of every link.
pub fn dump_request(buf: &mut [u8], seq: u32) -> Result<&[u8], Overflow> {
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    let mut b = Builder::new(buf, RTM_GETQDISC, flags, seq)?;
    b.put(&[0u8; TCMSG_LEN])?;
    b.finish()
}

/// One RTM_NEWQDISC message of a dump; `None` for another type.
pub fn parse(m: &Message<'_>) -> Result<Option<QdiscStats>, Malformed> {
    if m.ty != RTM_NEWQDISC {
        return Ok(None);
    }
    let short = Malformed("truncated tcmsg");
    let mut q = QdiscStats {
        ifindex: message::i32_at(m.payload, 4).ok_or(short)?,
        handle: message::u32_at(m.payload, 8).ok_or(short)?,
        parent: message::u32_at(m.payload, 12).ok_or(short)?,
        ..QdiscStats::default()
    };
    let mut old = None;
    let mut have2 = false;
    for attr in message::attrs(m.payload, TCMSG_LEN)? {
        let (ty, payload) = attr?;
        match ty {
            TCA_KIND => q.kind = message::attr_str(payload)?.to_string(),
            TCA_STATS2 => {
                stats2(&mut q, payload)?;
                have2 = true;
            }
            TCA_STATS => old = Some(payload),
            _ => {}
        }
    }
    if let (false, Some(p)) = (have2, old) {
        stats1(&mut q, p).ok_or(Malformed("short TCA_STATS"))?;
    }
    Ok(Some(q))
}

/// The TCA_STATS2 nest: gnet_stats_basic (bytes u64, packets u32), gnet_stats_rate_est (bps,
/// pps u32) or its 64-bit twin, gnet_stats_queue (qlen, backlog, drops, requeues,
/// overlimits u32), and the 64-bit packet count of newer kernels.
fn stats2(q: &mut QdiscStats, nest: &[u8]) -> Result<(), Malformed> {
    let mut have_rate64 = false;
    let mut have_pkt64 = false;
    for attr in message::attrs(nest, 0)? {
        let (ty, p) = attr?;
        let u32s = |i: usize| message::u32_at(p, i * 4).map(u64::from);
        match ty {
            TCA_STATS_BASIC => {
                q.bytes = message::u64_at(p, 0).ok_or(Malformed("short TCA_STATS_BASIC"))?;
                if !have_pkt64 {
                    q.packets = u32s(2).ok_or(Malformed("short TCA_STATS_BASIC"))?;
                }
            }
            TCA_STATS_PKT64 => {
                q.packets = message::u64_at(p, 0).ok_or(Malformed("short TCA_STATS_PKT64"))?;
                have_pkt64 = true;
            }
            TCA_STATS_RATE_EST if !have_rate64 => {
                let bad = Malformed("short TCA_STATS_RATE_EST");
                q.bps = u32s(0).ok_or(bad)?;
                q.pps = u32s(1).ok_or(bad)?;
            }
            TCA_STATS_RATE_EST64 => {
                let bad = Malformed("short TCA_STATS_RATE_EST64");
                q.bps = message::u64_at(p, 0).ok_or(bad)?;
                q.pps = message::u64_at(p, 8).ok_or(bad)?;
                have_rate64 = true;
            }
            TCA_STATS_QUEUE => {
                let bad = Malformed("short TCA_STATS_QUEUE");
                q.qlen = u32s(0).ok_or(bad)?;
                q.backlog = u32s(1).ok_or(bad)?;
                q.drops = u32s(2).ok_or(bad)?;
                q.requeues = u32s(3).ok_or(bad)?;
                q.overlimits = u32s(4).ok_or(bad)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// `struct tc_stats`: bytes u64, then packets, drops, overlimits, bps, pps, qlen, backlog
/// (u32 each). It has no requeues.
fn stats1(q: &mut QdiscStats, p: &[u8]) -> Option<()> {
    let at = |i: usize| message::u32_at(p, 8 + i * 4).map(u64::from);
    q.bytes = message::u64_at(p, 0)?;
    q.packets = at(0)?;
    q.drops = at(1)?;
    q.overlimits = at(2)?;
    q.bps = at(3)?;
    q.pps = at(4)?;
    q.qlen = at(5)?;
    q.backlog = at(6)?;
    Some(())
}
