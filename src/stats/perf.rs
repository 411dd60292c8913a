//! `PerfStatistics` (mesos.proto): one sample of a container's perf counters. Each field is a
//! perf event's name as `perf stat` prints it, lower-cased, `-` made `_`; the two clocks are
//! doubles in milliseconds (the unit `perf stat` prints them in, which Mesos copies), every
//! other field a count.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::json::Object;

/// How a field's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerfUnit {
    Count,
    /// Kept in nanoseconds (the kernel's unit), written as milliseconds.
    ClockNs,
}

/// The fields of `PerfStatistics` after `timestamp` and `duration`, in the proto's order.
pub const PERF_FIELDS: [(&str, PerfUnit); 51] = {
    use PerfUnit::{ClockNs as Ns, Count as N};
    [
        ("cycles", N),
        ("stalled_cycles_frontend", N),
        ("stalled_cycles_backend", N),
        ("instructions", N),
        ("cache_references", N),
        ("cache_misses", N),
        ("branches", N),
        ("branch_misses", N),
        ("bus_cycles", N),
        ("ref_cycles", N),
        ("cpu_clock", Ns),
        ("task_clock", Ns),
        ("page_faults", N),
        ("minor_faults", N),
        ("major_faults", N),
        ("context_switches", N),
        ("cpu_migrations", N),
        ("alignment_faults", N),
        ("emulation_faults", N),
        ("l1_dcache_loads", N),
        ("l1_dcache_load_misses", N),
        ("l1_dcache_stores", N),
        ("l1_dcache_store_misses", N),
        ("l1_dcache_prefetches", N),
        ("l1_dcache_prefetch_misses", N),
        ("l1_icache_loads", N),
        ("l1_icache_load_misses", N),
        ("l1_icache_prefetches", N),
        ("l1_icache_prefetch_misses", N),
        ("llc_loads", N),
        ("llc_load_misses", N),
        ("llc_stores", N),
        ("llc_store_misses", N),
        ("llc_prefetches", N),
        ("llc_prefetch_misses", N),
        ("dtlb_loads", N),
        ("dtlb_load_misses", N),
        ("dtlb_stores", N),
        ("dtlb_store_misses", N),
        ("dtlb_prefetches", N),
        ("dtlb_prefetch_misses", N),
        ("itlb_loads", N),
        ("itlb_load_misses", N),
        ("branch_loads", N),
        ("branch_load_misses", N),
        ("node_loads", N),
        ("node_load_misses", N),
        ("node_stores", N),
        ("node_store_misses", N),
        ("node_prefetches", N),
        ("node_prefetch_misses", N),
    ]
};

/// A field of `PerfStatistics`, by its index in [`PERF_FIELDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PerfField(u8);

impl PerfField {
    /// The field called `name` (the normalised event name).
    pub fn by_name(name: &str) -> Option<PerfField> {
        let i = PERF_FIELDS.iter().position(|(n, _)| *n == name)?;
        u8::try_from(i).ok().map(PerfField)
    }

    pub fn name(self) -> &'static str {
        PERF_FIELDS[usize::from(self.0)].0
    }

    pub fn unit(self) -> PerfUnit {
        PERF_FIELDS[usize::from(self.0)].1
    }

    fn json_value(self, raw: u64) -> Value {
        match self.unit() {
            PerfUnit::Count => Value::U64(raw),
            PerfUnit::ClockNs => Value::F64(raw as f64 / 1e6),
        }
    }
}

enum Value {
    U64(u64),
    F64(f64),
}

/// One sample: when it began, how long it counted, and the counted events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerfStatistics {
    /// Start of the sample, seconds since the epoch.
    pub timestamp: f64,
    /// How long it counted, in seconds (`--perf_duration`).
    pub duration: f64,
    /// Raw values (clocks in ns), sorted by field (the proto's order).
    pub values: Vec<(PerfField, u64)>,
}

impl PerfStatistics {
    /// Appends the JSON that serde writes for this value.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::begin(out);
        o.f64("timestamp", self.timestamp);
        o.f64("duration", self.duration);
        for &(field, raw) in &self.values {
            match field.json_value(raw) {
                Value::U64(v) => o.u64(field.name(), v),
                Value::F64(v) => o.f64(field.name(), v),
            }
        }
        o.end();
    }
}

impl Serialize for PerfStatistics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2 + self.values.len()))?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("duration", &self.duration)?;
        for &(field, raw) in &self.values {
            match field.json_value(raw) {
                Value::U64(v) => map.serialize_entry(field.name(), &v)?,
                Value::F64(v) => map.serialize_entry(field.name(), &v)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_name_and_clocks_are_milliseconds() {
        let task_clock = PerfField::by_name("task_clock").unwrap();
        assert_eq!(task_clock.unit(), PerfUnit::ClockNs);
        assert_eq!(PerfField::by_name("node_prefetch_misses").unwrap().0, 50);
        assert_eq!(
            PerfField::by_name("task-clock"),
            None,
            "normalised names only"
        );
        let s = PerfStatistics {
            timestamp: 1.5,
            duration: 2.0,
            values: vec![
                (PerfField::by_name("cycles").unwrap(), 7),
                (task_clock, 2_500_000),
            ],
        };
        let mut out = Vec::new();
        s.write_json(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"timestamp":1.5,"duration":2.0,"cycles":7,"task_clock":2.5}"#
        );
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"timestamp":1.5,"duration":2.0,"cycles":7,"task_clock":2.5}"#
        );
    }
}
