//! Links: RTM_NEWLINK to set IFF_UP, RTM_GETLINK dumps read into [`LinkStats`].

use super::message::{self, Builder, Malformed, Message, Overflow};

/// `struct ifinfomsg`: family u8, pad u8, type u16, index i32, flags u32, change u32.
const IFINFOMSG_LEN: usize = 16;
const IFNAMSIZ: usize = 16;
const IFLA_IFNAME: u16 = libc::IFLA_IFNAME;
const IFLA_STATS: u16 = libc::IFLA_STATS;
const IFLA_STATS64: u16 = libc::IFLA_STATS64;
const RTM_NEWLINK: u16 = libc::RTM_NEWLINK;
const RTM_GETLINK: u16 = libc::RTM_GETLINK;

/// One link's identity and counters (IFLA_STATS64, or the 32-bit IFLA_STATS of an old
/// kernel).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub name: String,
    pub ifindex: i32,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; IFINFOMSG_LEN] {
    let mut h = [0u8; IFINFOMSG_LEN];
    // ifi_family AF_UNSPEC (0), ifi_type 0.
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    h
}

/// RTM_NEWLINK for the link named `name` (index 0: the kernel looks the name up) with IFF_UP
/// set and only IFF_UP changed; acked.
pub fn set_up_request<'a>(buf: &'a mut [u8], seq: u32, name: &str) -> Result<&'a [u8], Overflow> {
    if name.is_empty() || name.len() >= IFNAMSIZ || name.as_bytes().contains(&0) {
        return Err(Overflow);
    }
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    let up = libc::IFF_UP as u32;
    let mut b = Builder::new(buf, RTM_NEWLINK, flags, seq)?;
    b.put(&ifinfomsg(0, up, up))?;
    b.attr_str(IFLA_IFNAME, name)?;
    b.finish()
}

/// RTM_GETLINK for every link.
pub fn dump_request(buf: &mut [u8], seq: u32) -> Result<&[u8], Overflow> {
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    let mut b = Builder::new(buf, RTM_GETLINK, flags, seq)?;
    b.put(&ifinfomsg(0, 0, 0))?;
    b.finish()
}

/// One RTM_NEWLINK message of a dump; `None` for another type.
pub fn parse(m: &Message<'_>) -> Result<Option<LinkStats>, Malformed> {
    if m.ty != RTM_NEWLINK {
        return Ok(None);
    }
    let ifindex = message::i32_at(m.payload, 4).ok_or(Malformed("truncated ifinfomsg"))?;
    let mut link = LinkStats {
        ifindex,
        ..LinkStats::default()
    };
    let mut name = None;
    let mut have64 = false;
    for attr in message::attrs(m.payload, IFINFOMSG_LEN)? {
        let (ty, payload) = attr?;
        match ty {
            IFLA_IFNAME => name = Some(message::attr_str(payload)?),
            IFLA_STATS64 => {
                counters(&mut link, payload, 8).ok_or(Malformed("short IFLA_STATS64"))?;
                have64 = true;
            }
            IFLA_STATS if !have64 => {
                counters(&mut link, payload, 4).ok_or(Malformed("short IFLA_STATS"))?;
            }
            _ => {}
        }
    }
    link.name = name
        .ok_or(Malformed("link without IFLA_IFNAME"))?
        .to_string();
    Ok(Some(link))
}

/// The first eight counters of `rtnl_link_stats64` (`width` 8) or `rtnl_link_stats` (4):
/// rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped.
fn counters(link: &mut LinkStats, p: &[u8], width: usize) -> Option<()> {
    let at = |i: usize| {
        if width == 8 {
            message::u64_at(p, i * 8)
        } else {
            message::u32_at(p, i * 4).map(u64::from)
        }
    };
    link.rx_packets = at(0)?;
    link.tx_packets = at(1)?;
    link.rx_bytes = at(2)?;
    link.tx_bytes = at(3)?;
    link.rx_errors = at(4)?;
    link.tx_errors = at(5)?;
    link.rx_dropped = at(6)?;
    link.tx_dropped = at(7)?;
    Some(())
}
