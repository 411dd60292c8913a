//! The blkio statistics files, parsed from temporary directories laid out like cgroupfs.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use super::*;
use crate::cgroups::testutil::{cgroup_dir, TempDir};

const DEV: DeviceNumber = DeviceNumber {
    major_number: 254,
    minor_number: 0,
};

fn v(op: BlkioOp, value: u64) -> BlkioValue {
    BlkioValue { op, value }
}

#[test]
fn v1_throttle_files_give_devices_then_the_total() {
    let tmp = TempDir::new();
    let dir = tmp.path().join("c1");
    cgroup_dir(
        &dir,
        &[
            (
                "blkio.throttle.io_service_bytes",
                "8:0 Read 5\n8:0 Write 0\n254:0 Read 4096\n254:0 Write 10489856\n\
                 254:0 Sync 10493952\n254:0 Async 0\n254:0 Discard 7\n254:0 Total 10493952\n\
                 Total 10493957\n",
            ),
            ("blkio.throttle.io_serviced", "254:0 Write 3\nTotal 3\n"),
        ],
    );
    let stats = read_v1(&dir, &StatFiles::default(), &mut Vec::new()).unwrap();
    assert!(stats.cfq.is_empty() && stats.cfq_recursive.is_empty());
    let [first, vda, total] = stats.throttling.as_slice() else {
        panic!("{:?}", stats.throttling);
    };
    assert_eq!(first.device.unwrap().major_number, 8);
    assert_eq!(vda.device, Some(DEV));
    assert_eq!(vda.io_serviced, [v(BlkioOp::Write, 3)]);
    assert_eq!(
        vda.io_service_bytes,
        [
            v(BlkioOp::Read, 4096),
            v(BlkioOp::Write, 10_489_856),
            v(BlkioOp::Sync, 10_493_952),
            v(BlkioOp::Async, 0),
            v(BlkioOp::Total, 10_493_952),
        ],
        "Discard has no Mesos name and is left out"
    );
    assert_eq!(total.device, None);
    assert_eq!(total.io_service_bytes, [v(BlkioOp::Total, 10_493_957)]);
}

#[test]
fn v1_bfq_or_legacy_cfq_files_fill_cfq_and_cfq_recursive() {
    let tmp = TempDir::new();
    let dir = tmp.path().join("c1");
    cgroup_dir(
        &dir,
        &[
            ("blkio.bfq.io_serviced", "254:0 Read 2\nTotal 2\n"),
            ("blkio.bfq.io_serviced_recursive", "254:0 Read 9\nTotal 9\n"),
        ],
    );
    let files = StatFiles::default();
    let stats = read_v1(&dir, &files, &mut Vec::new()).unwrap();
    assert!(stats.throttling.is_empty(), "no throttle files here");
    assert_eq!(stats.cfq.len(), 2);
    assert_eq!(stats.cfq[0].device, Some(DEV));
    assert_eq!(stats.cfq[0].io_serviced, [v(BlkioOp::Read, 2)]);
    assert_eq!(stats.cfq[1].io_serviced, [v(BlkioOp::Total, 2)]);
    assert_eq!(stats.cfq_recursive[0].io_serviced, [v(BlkioOp::Read, 9)]);
    assert_eq!(
        files.kept(),
        2,
        "what exists is kept open for the next request"
    );

    let old = tmp.path().join("c2");
    cgroup_dir(
        &old,
        &[
            ("blkio.io_serviced", "254:0 Write 4\nTotal 4\n"),
            ("blkio.time", "254:0 17\n"),
            ("blkio.sectors_recursive", "254:0 8\n"),
        ],
    );
    let stats = read_v1(&old, &StatFiles::default(), &mut Vec::new()).unwrap();
    assert_eq!(stats.cfq[0].time, Some(17));
    assert_eq!(stats.cfq[0].io_serviced, [v(BlkioOp::Write, 4)]);
    assert_eq!(stats.cfq_recursive[0].sectors, Some(8));
}

#[test]
fn malformed_lines_are_errors_with_the_path() {
    let tmp = TempDir::new();
    let dir = tmp.path().join("c1");
    cgroup_dir(&dir, &[("blkio.throttle.io_serviced", "254:0 Read x\n")]);
    let err = read_v1(&dir, &StatFiles::default(), &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("blkio.throttle.io_serviced"),
        "{err}"
    );
    assert_eq!(parse_lines("a b c d"), None);
    assert_eq!(parse_lines("254 Read 1"), None);
}

#[test]
fn v2_io_stat_is_read_written_and_total_per_device_and_in_all() {
    let tmp = TempDir::new();
    let dir = tmp.path().join("c1");
    cgroup_dir(
        &dir,
        &[(
            "io.stat",
            "254:0 rbytes=4096 wbytes=10485760 rios=1 wios=80 dbytes=0 dios=0\n\
             8:16 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
        )],
    );
    let stats = read_v2(&dir, &StatFiles::default(), &mut Vec::new()).unwrap();
    let [sdb, vda, total] = stats.throttling.as_slice() else {
        panic!("{:?}", stats.throttling);
    };
    assert_eq!(sdb.device.unwrap().minor_number, 16);
    assert_eq!(vda.device, Some(DEV));
    assert_eq!(
        vda.io_service_bytes,
        [
            v(BlkioOp::Read, 4096),
            v(BlkioOp::Write, 10_485_760),
            v(BlkioOp::Total, 10_489_856)
        ]
    );
    assert_eq!(total.device, None);
    assert_eq!(
        total.io_serviced,
        [
            v(BlkioOp::Read, 2),
            v(BlkioOp::Write, 80),
            v(BlkioOp::Total, 82)
        ]
    );
    let empty = tmp.path().join("c2");
    cgroup_dir(&empty, &[]);
    assert_eq!(
        read_v2(&empty, &StatFiles::default(), &mut Vec::new()).unwrap(),
        BlkioStatistics::default()
    );
}
