//! `ResourceStatistics`, with the field names of Mesos's `mesos.proto` (§2.1 of the reference).
//!
//! Every field but `timestamp` is optional: an isolator fills what it measures and the rest is
//! left out of the JSON, as Mesos's protobuf-to-JSON does for unset fields.

pub mod blkio;
pub mod json;
pub mod net;
pub mod perf;

pub use blkio::{
    BlkioOp, BlkioStatistics, BlkioValue, CfqStatistics, DeviceNumber, ThrottlingStatistics,
};
pub use perf::{PerfField, PerfStatistics, PerfUnit, PERF_FIELDS};

use serde::Serialize;

/// One sample of a container's resource usage and limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResourceStatistics {
    /// Seconds since the epoch at which the sample was read.
    pub timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_user_time_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_system_time_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_soft_limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_periods: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_throttled: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_throttled_time_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_total_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_rss_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_cache_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_anon_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_file_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_mapped_file_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_swap_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_unevictable_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_soft_limit_bytes: Option<u64>,
    /// Memory pressure events at each level since the agent started watching (cgroups/mem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_low_pressure_counter: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_medium_pressure_counter: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_critical_pressure_counter: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_used_bytes: Option<u64>,
    /// Summed over the container's interfaces (`net::fill`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_rx_packets: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_rx_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_rx_errors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_rx_dropped: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_tx_packets: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_tx_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_tx_errors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_tx_dropped: Option<u64>,
    /// One per qdisc on the container's interfaces and their host-side peers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub net_traffic_control_statistics: Vec<TrafficControlStatistics>,
    /// The highest memory usage recorded (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`):
    /// not a Mesos field, so never in the JSON; `/metrics` reports it as cAdvisor does.
    #[serde(skip)]
    pub mem_max_usage_bytes: Option<u64>,
    /// Inactive page cache (`inactive_file`), for cAdvisor's working set; not in the JSON.
    #[serde(skip)]
    pub mem_inactive_file_bytes: Option<u64>,
    /// cgroups/blkio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_statistics: Option<BlkioStatistics>,
    /// cgroups/perf_event: the last complete sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perf: Option<PerfStatistics>,
}

/// Mesos's `TrafficControlStatistics`: one qdisc's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrafficControlStatistics {
    /// `<interface>:<major>:<minor>`, the qdisc's handle in hex as `tc` writes it: "eth0:1:0"
    /// for a `tbf` of handle `1:` on eth0, "veth12ab:ffff:0" for an ingress qdisc (see
    /// `net::fill`).
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlimits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qlen: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratebps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratepps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeues: Option<u64>,
}

impl TrafficControlStatistics {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = json::Object::begin(out);
        o.str("id", &self.id);
        o.opt_u64("backlog", self.backlog);
        o.opt_u64("bytes", self.bytes);
        o.opt_u64("drops", self.drops);
        o.opt_u64("overlimits", self.overlimits);
        o.opt_u64("packets", self.packets);
        o.opt_u64("qlen", self.qlen);
        o.opt_u64("ratebps", self.ratebps);
        o.opt_u64("ratepps", self.ratepps);
        o.opt_u64("requeues", self.requeues);
        o.end();
    }
}

impl ResourceStatistics {
    /// Appends the JSON object serde writes for this struct, without going through serde: the
    /// statistics endpoint writes one per container per request.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let u32s = |v: Option<u32>| v.map(u64::from);
        let mut o = json::Object::begin(out);
        o.f64("timestamp", self.timestamp);
        o.opt_u64("processes", u32s(self.processes));
        o.opt_u64("threads", u32s(self.threads));
        o.opt_f64("cpus_user_time_secs", self.cpus_user_time_secs);
        o.opt_f64("cpus_system_time_secs", self.cpus_system_time_secs);
        o.opt_f64("cpus_limit", self.cpus_limit);
        o.opt_f64("cpus_soft_limit", self.cpus_soft_limit);
        o.opt_u64("cpus_nr_periods", u32s(self.cpus_nr_periods));
        o.opt_u64("cpus_nr_throttled", u32s(self.cpus_nr_throttled));
        o.opt_f64("cpus_throttled_time_secs", self.cpus_throttled_time_secs);
        o.opt_u64("mem_total_bytes", self.mem_total_bytes);
        o.opt_u64("mem_rss_bytes", self.mem_rss_bytes);
        o.opt_u64("mem_cache_bytes", self.mem_cache_bytes);
        o.opt_u64("mem_anon_bytes", self.mem_anon_bytes);
        o.opt_u64("mem_file_bytes", self.mem_file_bytes);
        o.opt_u64("mem_mapped_file_bytes", self.mem_mapped_file_bytes);
        o.opt_u64("mem_swap_bytes", self.mem_swap_bytes);
        o.opt_u64("mem_unevictable_bytes", self.mem_unevictable_bytes);
        o.opt_u64("mem_limit_bytes", self.mem_limit_bytes);
        o.opt_u64("mem_soft_limit_bytes", self.mem_soft_limit_bytes);
        o.opt_u64("mem_low_pressure_counter", self.mem_low_pressure_counter);
        o.opt_u64(
            "mem_medium_pressure_counter",
            self.mem_medium_pressure_counter,
        );
        o.opt_u64(
            "mem_critical_pressure_counter",
            self.mem_critical_pressure_counter,
        );
        o.opt_u64("disk_limit_bytes", self.disk_limit_bytes);
        o.opt_u64("disk_used_bytes", self.disk_used_bytes);
        o.opt_u64("net_rx_packets", self.net_rx_packets);
        o.opt_u64("net_rx_bytes", self.net_rx_bytes);
        o.opt_u64("net_rx_errors", self.net_rx_errors);
        o.opt_u64("net_rx_dropped", self.net_rx_dropped);
        o.opt_u64("net_tx_packets", self.net_tx_packets);
        o.opt_u64("net_tx_bytes", self.net_tx_bytes);
        o.opt_u64("net_tx_errors", self.net_tx_errors);
        o.opt_u64("net_tx_dropped", self.net_tx_dropped);
        if !self.net_traffic_control_statistics.is_empty() {
            let out = o.key("net_traffic_control_statistics");
            out.push(b'[');
            for (i, tc) in self.net_traffic_control_statistics.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                tc.write_json(out);
            }
            out.push(b']');
        }
        if let Some(b) = &self.blkio_statistics {
            b.write_json(o.key("blkio_statistics"));
        }
        if let Some(p) = &self.perf {
            p.write_json(o.key("perf"));
        }
        o.end();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn sample_blkio() -> BlkioStatistics {
        let v = |op, value| BlkioValue { op, value };
        let dev = DeviceNumber {
            major_number: 254,
            minor_number: 0,
        };
        BlkioStatistics {
            cfq: vec![
                CfqStatistics {
                    device: Some(dev),
                    sectors: Some(8),
                    io_serviced: vec![v(BlkioOp::Read, 1), v(BlkioOp::Total, 1)],
                    io_queued: vec![v(BlkioOp::Unknown, 2)],
                    ..Default::default()
                },
                CfqStatistics::default(),
            ],
            cfq_recursive: Vec::new(),
            throttling: vec![ThrottlingStatistics {
                device: None,
                io_serviced: Vec::new(),
                io_service_bytes: vec![v(BlkioOp::Write, 10_485_760), v(BlkioOp::Async, 0)],
            }],
        }
    }

    fn hand_written(s: &ResourceStatistics) -> String {
        let mut out = Vec::new();
        s.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn write_json_is_byte_for_byte_serde_json() {
        let full = ResourceStatistics {
            timestamp: 1_700_000_000.123_456,
            processes: Some(3),
            threads: Some(u32::MAX),
            cpus_user_time_secs: Some(77.08),
            cpus_system_time_secs: Some(0.0),
            cpus_limit: Some(2.0),
            cpus_soft_limit: Some(0.5),
            cpus_nr_periods: Some(769_021),
            cpus_nr_throttled: Some(0),
            cpus_throttled_time_secs: Some(5e-6),
            mem_total_bytes: Some(u64::MAX),
            mem_rss_bytes: Some(13_574_144),
            mem_cache_bytes: Some(539_385_856),
            mem_anon_bytes: Some(13_574_144),
            mem_file_bytes: Some(539_385_856),
            mem_mapped_file_bytes: Some(10_964_992),
            mem_swap_bytes: Some(4096),
            mem_unevictable_bytes: Some(1),
            mem_limit_bytes: Some(67_108_864),
            mem_soft_limit_bytes: Some(67_108_864),
            disk_limit_bytes: Some(1 << 30),
            disk_used_bytes: Some(0),
            net_rx_packets: Some(10),
            net_rx_bytes: Some(1500),
            net_rx_errors: Some(0),
            net_rx_dropped: Some(1),
            net_tx_packets: Some(u64::MAX),
            net_tx_bytes: Some(2),
            net_tx_errors: Some(3),
            net_tx_dropped: Some(4),
            net_traffic_control_statistics: vec![
                TrafficControlStatistics {
                    id: "eth0:1:0".into(),
                    backlog: Some(0),
                    bytes: Some(123_456),
                    drops: Some(2),
                    overlimits: Some(7),
                    packets: Some(99),
                    qlen: Some(0),
                    ratebps: Some(0),
                    ratepps: Some(0),
                    requeues: Some(0),
                },
                TrafficControlStatistics {
                    id: "ifb\"x:ffff:0".into(),
                    bytes: Some(1),
                    ..Default::default()
                },
            ],
            mem_max_usage_bytes: Some(1 << 27),
            mem_inactive_file_bytes: Some(4096),
            mem_low_pressure_counter: Some(3),
            mem_medium_pressure_counter: Some(0),
            mem_critical_pressure_counter: Some(u64::MAX),
            blkio_statistics: Some(sample_blkio()),
            perf: Some(PerfStatistics {
                timestamp: 1_700_000_000.5,
                duration: 10.0,
                values: vec![
                    (PerfField::by_name("cycles").unwrap(), 0),
                    (PerfField::by_name("task_clock").unwrap(), 10_003_420_001),
                    (PerfField::by_name("context_switches").unwrap(), 12),
                ],
            }),
        };
        let sparse = ResourceStatistics {
            timestamp: 12.0,
            mem_rss_bytes: Some(4096),
            cpus_limit: Some(f64::NAN),
            net_tx_bytes: Some(8),
            ..Default::default()
        };
        for s in [full, sparse, ResourceStatistics::default()] {
            assert_eq!(hand_written(&s), serde_json::to_string(&s).unwrap());
        }
    }
}
