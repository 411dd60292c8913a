//! `/metrics`, streamed: the agent's own metrics, then every live container's figures under
//! cAdvisor's names, units and help texts (google/cadvisor `metrics/prometheus.go`), labelled
//! `container_id`, so dashboards and alerts written for cAdvisor work unchanged.
//!
//! The figures come from the same `usage` pass as `/monitor/statistics`, a few containers per
//! loop iteration. The text format wants each family's samples together under one `# HELP`
//! and `# TYPE`, so the samples are measured first and then written family by family, also a
//! slice at a time: a thousand containers never hold the loop for the whole answer.

use std::io::Write;
use std::time::Instant;

use super::stream::Body;
use crate::cgroups::{cfs_quota_us, cpu_shares, CFS_PERIOD_US};
use crate::containerizer::{ContainerId, Containerizer, UsagePass};
use crate::stats::ResourceStatistics;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// One metric family: its sample for a container, if the container has that figure.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    /// Labels after `container_id`, written as they appear (`,cpu="total"`).
    labels: &'static str,
    value: fn(&ResourceStatistics, Spec) -> Option<f64>,
}

/// What a sample's limits mean on this agent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spec {
    /// `--cgroups_enable_cfs`: `cpus_limit` is a CFS quota (otherwise the whole node).
    pub cfs: bool,
}

fn num<T: Into<f64>>(v: Option<T>) -> Option<f64> {
    v.map(Into::into)
}

fn bytes(v: Option<u64>) -> Option<f64> {
    v.map(|b| b as f64)
}

/// cAdvisor's families, in its order, for the figures a container's statistics hold. The
/// CFS counters appear, as in cAdvisor, only where a quota is set.
const FAMILIES: &[Family] = &[
    Family {
        name: "container_last_seen",
        help: "Last time a container was seen by the exporter",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| Some(s.timestamp.floor()),
    },
    Family {
        name: "container_cpu_user_seconds_total",
        help: "Cumulative user cpu time consumed in seconds.",
        kind: Kind::Counter,
        labels: "",
        value: |s, _| s.cpus_user_time_secs,
    },
    Family {
        name: "container_cpu_system_seconds_total",
        help: "Cumulative system cpu time consumed in seconds.",
        kind: Kind::Counter,
        labels: "",
        value: |s, _| s.cpus_system_time_secs,
    },
    Family {
        name: "container_cpu_usage_seconds_total",
        help: "Cumulative cpu time consumed in seconds.",
        kind: Kind::Counter,
        labels: ",cpu=\"total\"",
        value: |s, _| match (s.cpus_user_time_secs, s.cpus_system_time_secs) {
            (None, None) => None,
            (u, sys) => Some(u.unwrap_or(0.0) + sys.unwrap_or(0.0)),
        },
    },
    Family {
        name: "container_cpu_cfs_periods_total",
        help: "Number of elapsed enforcement period intervals.",
        kind: Kind::Counter,
        labels: "",
        value: |s, spec| num(s.cpus_nr_periods.filter(|_| spec.cfs)),
    },
    Family {
        name: "container_cpu_cfs_throttled_periods_total",
        help: "Number of throttled period intervals.",
        kind: Kind::Counter,
        labels: "",
        value: |s, spec| num(s.cpus_nr_throttled.filter(|_| spec.cfs)),
    },
    Family {
        name: "container_cpu_cfs_throttled_seconds_total",
        help: "Total time duration the container has been throttled.",
        kind: Kind::Counter,
        labels: "",
        value: |s, spec| s.cpus_throttled_time_secs.filter(|_| spec.cfs),
    },
    Family {
        name: "container_memory_cache",
        help: "Number of bytes of page cache memory.",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| bytes(s.mem_cache_bytes),
    },
    Family {
        name: "container_memory_rss",
        help: "Size of RSS in bytes.",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| bytes(s.mem_rss_bytes),
    },
    Family {
        name: "container_memory_mapped_file",
        help: "Size of memory mapped files in bytes.",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| bytes(s.mem_mapped_file_bytes),
    },
    Family {
        name: "container_memory_swap",
        help: "Container swap usage in bytes.",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| bytes(s.mem_swap_bytes),
    },
    Family {
        name: "container_memory_usage_bytes",
        help:
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| bytes(s.mem_total_bytes),
    },
    Family {
        name: "container_memory_max_usage_bytes",
        help: "Maximum memory usage recorded in bytes",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| bytes(s.mem_max_usage_bytes),
    },
    Family {
        name: "container_memory_working_set_bytes",
        help: "Current working set in bytes.",
        kind: Kind::Gauge,
        labels: "",
        // cAdvisor's: the usage less the inactive page cache, which the kernel reclaims first.
        value: |s, _| {
            bytes(
                s.mem_total_bytes
                    .map(|u| u.saturating_sub(s.mem_inactive_file_bytes.unwrap_or(0))),
            )
        },
    },
    Family {
        name: "container_processes",
        help: "Number of processes running inside the container.",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| num(s.processes),
    },
    Family {
        name: "container_threads",
        help: "Number of threads running inside the container",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| num(s.threads),
    },
    Family {
        name: "container_spec_cpu_period",
        help: "CPU period of the container.",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| s.cpus_soft_limit.map(|_| CFS_PERIOD_US as f64),
    },
    Family {
        name: "container_spec_cpu_quota",
        help: "CPU quota of the container.",
        kind: Kind::Gauge,
        labels: "",
        value: |s, spec| {
            s.cpus_limit
                .filter(|_| spec.cfs)
                .map(|cpus| cfs_quota_us(cpus) as f64)
        },
    },
    Family {
        name: "container_spec_cpu_shares",
        help: "CPU share of the container.",
        kind: Kind::Gauge,
        labels: "",
        value: |s, _| s.cpus_soft_limit.map(|cpus| cpu_shares(cpus) as f64),
    },
    Family {
        name: "container_spec_memory_limit_bytes",
        help: "Memory limit for the container.",
        kind: Kind::Gauge,
        labels: "",
        // cAdvisor writes 0 for no limit.
        value: |s, _| Some(s.mem_limit_bytes.unwrap_or(0) as f64),
    },
];

/// Where the body is.
#[derive(Debug)]
enum Phase {
    /// Measuring the next container.
    Measure,
    /// Writing family `family` from sample `row` on; `open` once its HELP/TYPE are out.
    Write {
        family: usize,
        row: usize,
        open: bool,
    },
}

pub(super) struct MetricsBody {
    /// The agent's own metrics, written first.
    agent: Option<String>,
    ids: Vec<ContainerId>,
    next: usize,
    samples: Vec<(ContainerId, ResourceStatistics)>,
    pass: UsagePass,
    buf: Vec<u8>,
    spec: Spec,
    phase: Phase,
}

impl MetricsBody {
    pub fn new(cz: &dyn Containerizer, agent: String, spec: Spec) -> MetricsBody {
        let ids = cz.ids();
        MetricsBody {
            agent: Some(agent),
            samples: Vec::with_capacity(ids.len()),
            ids,
            next: 0,
            pass: UsagePass::for_metrics(),
            buf: Vec::new(),
            spec,
            phase: Phase::Measure,
        }
    }
}

impl Body for MetricsBody {
    fn produce(&mut self, cz: &dyn Containerizer, out: &mut Vec<u8>, until: Instant) -> bool {
        if let Some(agent) = self.agent.take() {
            out.extend_from_slice(agent.as_bytes());
        }
        if let Phase::Measure = self.phase {
            while let Some(id) = self.ids.get(self.next) {
                self.next += 1;
                if let Some(stats) = cz.usage(id, &self.pass, &mut self.buf) {
                    self.samples.push((id.clone(), stats));
                }
                if Instant::now() >= until {
                    return false;
                }
            }
            self.phase = Phase::Write {
                family: 0,
                row: 0,
                open: false,
            };
        }
        write_families(&self.samples, self.spec, &mut self.phase, out, until)
    }
}

/// How many samples are written between looks at the clock.
const ROWS_PER_CLOCK: usize = 64;

/// Writes families from `phase` on until done (true) or `until` passes.
fn write_families(
    samples: &[(ContainerId, ResourceStatistics)],
    spec: Spec,
    phase: &mut Phase,
    out: &mut Vec<u8>,
    until: Instant,
) -> bool {
    let Phase::Write { family, row, open } = phase else {
        return false;
    };
    while let Some(f) = FAMILIES.get(*family) {
        while let Some((id, stats)) = samples.get(*row) {
            *row += 1;
            let Some(v) = (f.value)(stats, spec) else {
                continue;
            };
            if !*open {
                write_head(out, f);
                *open = true;
            }
            write_sample(out, f, id.as_str(), v);
            if *row % ROWS_PER_CLOCK == 0 && Instant::now() >= until {
                return false;
            }
        }
        *family += 1;
        *row = 0;
        *open = false;
    }
    true
}

fn write_head(out: &mut Vec<u8>, f: &Family) {
    let kind = match f.kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
    };
    let _ = writeln!(
        out,
        "# HELP {} {}\n# TYPE {} {kind}",
        f.name, f.help, f.name
    );
}

fn write_sample(out: &mut Vec<u8>, f: &Family, id: &str, v: f64) {
    out.extend_from_slice(f.name.as_bytes());
    out.extend_from_slice(b"{container_id=\"");
    escape_label(out, id);
    out.push(b'"');
    out.extend_from_slice(f.labels.as_bytes());
    out.extend_from_slice(b"} ");
    write_value(out, v);
    out.push(b'\n');
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
pub(super) fn escape_label(out: &mut Vec<u8>, v: &str) {
    for b in v.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// A sample value: Go's spellings for the non-finite ones, which Rust spells otherwise.
fn write_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
