//! The codec against hand-made datagrams: alignment, bounds, acks and errors, multi-part
//! dumps, and the link and qdisc parsers.
#![allow(clippy::unwrap_used)] // a panic is how a test fails

use super::message::{self, Builder, Malformed, Message};
use super::{link, qdisc, Answer, Failure, NLMSG_DONE, NLMSG_ERROR};

fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut a = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
    a.extend_from_slice(&ty.to_ne_bytes());
    a.extend_from_slice(payload);
    a
}

/// A whole message: header, then `parts` each padded to 4 bytes.
fn msg(ty: u16, flags: u16, seq: u32, parts: &[&[u8]]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = Builder::new(&mut buf, ty, flags, seq).unwrap();
    for p in parts {
        b.put(p).unwrap();
    }
    b.finish().unwrap().to_vec()
}

fn u64s(vals: &[u64]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

fn u32s(vals: &[u32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

#[test]
fn set_up_request_is_aligned_and_nul_terminated() {
    let mut buf = [0xffu8; 128];
    let m = link::set_up_request(&mut buf, 7, "lo").unwrap().to_vec();
    // header 16 + ifinfomsg 16 + attr (4 + "lo\0" = 7, padded to 8).
    assert_eq!(m.len(), 40);
    assert_eq!(message::u32_at(&m, 0), Some(40));
    assert_eq!(message::u16_at(&m, 4), Some(libc::RTM_NEWLINK));
    assert_eq!(
        message::u16_at(&m, 6),
        Some((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16)
    );
    assert_eq!(message::u32_at(&m, 8), Some(7));
    assert_eq!(message::u32_at(&m, 24), Some(libc::IFF_UP as u32)); // ifi_flags
    assert_eq!(message::u32_at(&m, 28), Some(libc::IFF_UP as u32)); // ifi_change
    assert_eq!(message::u16_at(&m, 32), Some(7)); // nla_len leaves the padding out
    assert_eq!(message::u16_at(&m, 34), Some(libc::IFLA_IFNAME));
    assert_eq!(&m[36..40], b"lo\0\0");

    // A name of 4 bytes needs a whole padding word for its NUL.
    let m = link::set_up_request(&mut buf, 1, "eth0").unwrap();
    assert_eq!(m.len(), 16 + 16 + 12);
    assert_eq!(&m[36..44], b"eth0\0\0\0\0");
}

#[test]
fn requests_that_do_not_fit_or_bad_names_are_refused() {
    let mut small = [0u8; 36];
    assert!(link::set_up_request(&mut small, 1, "lo").is_err());
    let mut buf = [0u8; 128];
    for bad in ["", "sixteen-bytes-xx", "a\0b"] {
        assert!(link::set_up_request(&mut buf, 1, bad).is_err(), "{bad:?}");
    }
    assert!(link::set_up_request(&mut buf, 1, "fifteen-bytes-x").is_ok());
    assert_eq!(qdisc::dump_request(&mut buf, 3).unwrap().len(), 36);
    assert_eq!(link::dump_request(&mut buf, 3).unwrap().len(), 32);
}

#[test]
fn messages_walk_a_datagram_and_the_last_may_lack_padding() {
    let mut d = msg(100, 0, 1, &[b"abcde"]); // 21 bytes, padded to 24
    assert_eq!(d.len(), 24);
    d[0] = 21; // nlmsg_len as the kernel writes it: without the padding
    let mut last = msg(101, 2, 1, &[b"xyz"]);
    last[0] = 19;
    last.truncate(19);
    d.extend_from_slice(&last);
    let all: Vec<Message<'_>> = message::messages(&d).map(Result::unwrap).collect();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].ty, all[0].payload), (100, &b"abcde"[..]));
    assert_eq!(
        (all[1].ty, all[1].flags, all[1].payload),
        (101, 2, &b"xyz"[..])
    );
}

#[test]
fn truncated_or_inconsistent_messages_are_errors() {
    let good = msg(100, 0, 1, &[b"abcd"]);
    // Header cut short.
    let r: Vec<_> = message::messages(&good[..10]).collect();
    assert!(matches!(r.as_slice(), [Err(Malformed(_))]));
    // nlmsg_len past the datagram.
    let mut long = good.clone();
    long[0] = 200;
    assert!(message::messages(&long).next().unwrap().is_err());
    // nlmsg_len below the header: must not loop forever.
    let mut tiny = good.clone();
    tiny[..4].copy_from_slice(&3u32.to_ne_bytes());
    let r: Vec<_> = message::messages(&tiny).collect();
    assert!(matches!(r.as_slice(), [Err(_)]));
    // After an error the iterator stops.
    let mut two = long.clone();
    two.extend_from_slice(&good);
    assert_eq!(message::messages(&two).count(), 1);
}

#[test]
fn attributes_are_bounded_and_their_flags_masked() {
    let mut p = attr(3, b"eth1\0");
    p.extend_from_slice(&[0; 3]); // padding
    p.extend_from_slice(&attr(7 | 0x8000, &[1, 2, 3, 4])); // NLA_F_NESTED
    let all: Vec<_> = message::attrs(&p, 0).unwrap().map(Result::unwrap).collect();
    assert_eq!(all, vec![(3, &b"eth1\0"[..]), (7, &[1u8, 2, 3, 4][..])]);
    assert_eq!(message::attr_str(all[0].1), Ok("eth1"));

    let cut = &p[..p.len() - 1];
    let r: Vec<_> = message::attrs(cut, 0).unwrap().collect();
    assert!(r[1].is_err());
    let r: Vec<_> = message::attrs(&[8, 0], 0).unwrap().collect();
    assert!(matches!(r.as_slice(), [Err(_)]));
    let r: Vec<_> = message::attrs(&[2, 0, 1, 0], 0).unwrap().collect();
    assert!(matches!(r.as_slice(), [Err(_)]), "nla_len below its header");
    assert!(
        message::attrs(&[0; 4], 8).is_err(),
        "family header cut short"
    );
    assert!(message::attr_str(&[0xff, 0xfe]).is_err());
}

fn newlink(seq: u32, flags: u16, index: i32, name: &str, stats: Option<Vec<u8>>) -> Vec<u8> {
    let mut ifi = vec![0u8; 16];
    ifi[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut name = name.as_bytes().to_vec();
    name.push(0);
    let mut parts = vec![ifi, attr(libc::IFLA_IFNAME, &name)];
    parts.extend(stats);
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    msg(libc::RTM_NEWLINK, flags, seq, &refs)
}

fn parse_one<T>(
    d: &[u8],
    f: fn(&Message<'_>) -> Result<Option<T>, Malformed>,
) -> Result<T, Malformed> {
    let m = message::messages(d).next().unwrap()?;
    f(&m).map(Option::unwrap)
}

#[test]
fn links_read_stats64_or_fall_back_to_32_bit_stats() {
    // rtnl_link_stats64 has more than eight counters; the parser reads the first eight.
    let s64 = attr(libc::IFLA_STATS64, &u64s(&[1, 2, 3, 4, 5, 6, 7, 8, 99, 99]));
    let l = parse_one(&newlink(1, 0, 4, "eth0", Some(s64)), link::parse).unwrap();
    let want = link::LinkStats {
        name: "eth0".into(),
        ifindex: 4,
        rx_packets: 1,
        tx_packets: 2,
        rx_bytes: 3,
        tx_bytes: 4,
        rx_errors: 5,
        tx_errors: 6,
        rx_dropped: 7,
        tx_dropped: 8,
    };
    assert_eq!(l, want);
    let s32 = attr(libc::IFLA_STATS, &u32s(&[1, 2, 3, 4, 5, 6, 7, 8]));
    assert_eq!(
        parse_one(&newlink(1, 0, 4, "eth0", Some(s32)), link::parse),
        Ok(want)
    );

    let short = attr(libc::IFLA_STATS64, &u64s(&[1, 2, 3]));
    assert!(parse_one(&newlink(1, 0, 4, "eth0", Some(short)), link::parse).is_err());
    let nameless = msg(libc::RTM_NEWLINK, 0, 1, &[&[0u8; 16]]);
    assert!(parse_one(&nameless, link::parse).is_err());
    let cut = msg(libc::RTM_NEWLINK, 0, 1, &[&[0u8; 6]]);
    assert!(parse_one(&cut, link::parse).is_err());
    let other = msg(libc::RTM_NEWADDR, 0, 1, &[&[0u8; 16]]);
    let m = message::messages(&other).next().unwrap().unwrap();
    assert_eq!(link::parse(&m), Ok(None));
}

fn newqdisc(kind: &str, stats: Vec<Vec<u8>>) -> Vec<u8> {
    let mut tcm = vec![0u8; 20];
    tcm[4..8].copy_from_slice(&3i32.to_ne_bytes());
    tcm[8..12].copy_from_slice(&0x1_0000u32.to_ne_bytes());
    tcm[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
    let mut kind = kind.as_bytes().to_vec();
    kind.push(0);
    let mut parts = vec![tcm, attr(1, &kind)];
    parts.extend(stats);
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    msg(libc::RTM_NEWQDISC, 0, 1, &refs)
}

fn padded(mut a: Vec<u8>) -> Vec<u8> {
    a.resize(message::align(a.len()), 0);
    a
}

#[test]
fn qdiscs_read_stats2_with_64_bit_rates_and_packets() {
    let mut basic = u64s(&[5000]);
    basic.extend(u32s(&[40, 0])); // gnet_stats_basic: bytes, packets, padding
    let mut nest = padded(attr(1, &basic));
    nest.extend(padded(attr(2, &u32s(&[11, 12])))); // RATE_EST
    nest.extend(padded(attr(3, &u32s(&[1, 2, 3, 4, 5])))); // QUEUE
    let q = parse_one(
        &newqdisc("tbf", vec![attr(7 | 0x8000, &nest)]),
        qdisc::parse,
    )
    .unwrap();
    let want = qdisc::QdiscStats {
        ifindex: 3,
        kind: "tbf".into(),
        handle: 0x1_0000,
        parent: u32::MAX,
        bytes: 5000,
        packets: 40,
        qlen: 1,
        backlog: 2,
        drops: 3,
        requeues: 4,
        overlimits: 5,
        bps: 11,
        pps: 12,
    };
    assert_eq!(q, want);

    // The 64-bit forms win whatever their order.
    let mut nest64 = padded(attr(8, &u64s(&[1 << 40])));
    nest64.extend(padded(attr(5, &u64s(&[1 << 33, 7]))));
    nest64.extend(nest.clone());
    let q = parse_one(&newqdisc("htb", vec![attr(7, &nest64)]), qdisc::parse).unwrap();
    assert_eq!((q.packets, q.bps, q.pps), (1 << 40, 1 << 33, 7));

    let short = padded(attr(3, &u32s(&[1, 2])));
    assert!(parse_one(&newqdisc("tbf", vec![attr(7, &short)]), qdisc::parse).is_err());
}

#[test]
fn qdiscs_fall_back_to_tc_stats() {
    let mut old = u64s(&[900]);
    old.extend(u32s(&[9, 1, 2, 3, 4, 5, 6, 0]));
    let q = parse_one(&newqdisc("pfifo", vec![attr(3, &old)]), qdisc::parse).unwrap();
    assert_eq!(
        (
            q.bytes,
            q.packets,
            q.drops,
            q.overlimits,
            q.bps,
            q.pps,
            q.qlen,
            q.backlog
        ),
        (900, 9, 1, 2, 3, 4, 5, 6)
    );
    assert!(parse_one(&newqdisc("pfifo", vec![attr(3, &old[..20])]), qdisc::parse).is_err());
    let cut = msg(libc::RTM_NEWQDISC, 0, 1, &[&[0u8; 12]]);
    assert!(parse_one(&cut, qdisc::parse).is_err());
}

fn error_msg(seq: u32, code: i32) -> Vec<u8> {
    // The error code, then the request it answers (its header here).
    msg(NLMSG_ERROR, 0, seq, &[&code.to_ne_bytes(), &[0u8; 16]])
}

fn done(seq: u32, code: i32) -> Vec<u8> {
    msg(NLMSG_DONE, 2, seq, &[&code.to_ne_bytes()])
}

fn names(datagrams: &[Vec<u8>], seq: u32) -> Result<Vec<String>, Failure> {
    let mut answer = Answer {
        seq,
        dump: true,
        interrupted: false,
    };
    let mut out = Vec::new();
    let mut collect = |m: &Message<'_>| {
        out.extend(link::parse(m)?.map(|l| l.name));
        Ok(())
    };
    for (i, d) in datagrams.iter().enumerate() {
        if answer.datagram(d, &mut collect)? {
            assert_eq!(i, datagrams.len() - 1, "complete before the last datagram");
            return Ok(out);
        }
    }
    panic!("answer never completed");
}

#[test]
fn acks_and_errors_end_a_request() {
    let mut answer = Answer {
        seq: 5,
        dump: false,
        interrupted: false,
    };
    let mut none = |_: &Message<'_>| Ok(());
    // An ack for an older request is skipped, ours completes it.
    let mut d = error_msg(4, 0);
    d.extend(error_msg(5, 0));
    assert_eq!(answer.datagram(&d, &mut none), Ok(true));
    assert_eq!(
        answer.datagram(&error_msg(5, -libc::ENODEV), &mut none),
        Err(Failure::Kernel(libc::ENODEV))
    );
    assert_eq!(answer.datagram(&error_msg(4, -1), &mut none), Ok(false));
    let mut cut = msg(NLMSG_ERROR, 0, 5, &[&[0u8; 2]]);
    cut[0] = 18; // the code cut to two bytes
    assert!(matches!(
        answer.datagram(&cut, &mut none),
        Err(Failure::Malformed(_))
    ));
}

#[test]
fn dumps_span_datagrams_until_done() {
    let mut first = newlink(9, 2, 1, "lo", None);
    first.extend(newlink(9, 2, 2, "eth0", None));
    let mut second = newlink(8, 2, 3, "stale", None);
    second.extend(newlink(9, 2, 3, "eth1", None));
    second.extend(done(9, 0));
    assert_eq!(
        names(&[first.clone(), second], 9).unwrap(),
        ["lo", "eth0", "eth1"]
    );

    let mut failed = first.clone();
    failed.extend(done(9, -libc::EPERM));
    assert_eq!(names(&[failed], 9), Err(Failure::Kernel(libc::EPERM)));

    let mut intr = newlink(9, 2 | 0x10, 1, "lo", None);
    intr.extend(done(9, 0));
    assert_eq!(names(&[intr], 9), Err(Failure::Interrupted));

    let mut bad = first;
    bad.extend(newlink(9, 2, 1, "x", None)[..30].to_vec());
    assert!(matches!(names(&[bad], 9), Err(Failure::Malformed(_))));
}
