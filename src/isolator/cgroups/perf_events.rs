//! `--perf_events`: perf's event names (as `perf list` spells them, with its aliases) to the
//! kernel's (type, config) and to the `PerfStatistics` field each is reported in.

use crate::stats::PerfField;
use crate::sys::perf::{TYPE_HARDWARE, TYPE_HW_CACHE, TYPE_SOFTWARE};

/// One event to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfEvent {
    pub field: PerfField,
    pub type_: u32,
    pub config: u64,
}

/// `PERF_COUNT_HW_*` by field name.
const HARDWARE: [(&str, u64); 10] = [
    ("cycles", 0),
    ("instructions", 1),
    ("cache_references", 2),
    ("cache_misses", 3),
    ("branches", 4),
    ("branch_misses", 5),
    ("bus_cycles", 6),
    ("stalled_cycles_frontend", 7),
    ("stalled_cycles_backend", 8),
    ("ref_cycles", 9),
];

/// `PERF_COUNT_SW_*` by field name.
const SOFTWARE: [(&str, u64); 9] = [
    ("cpu_clock", 0),
    ("task_clock", 1),
    ("page_faults", 2),
    ("context_switches", 3),
    ("cpu_migrations", 4),
    ("minor_faults", 5),
    ("major_faults", 6),
    ("alignment_faults", 7),
    ("emulation_faults", 8),
];

/// `PERF_COUNT_HW_CACHE_*` ids by the field names' prefix.
const CACHES: [(&str, u64); 7] = [
    ("l1_dcache_", 0),
    ("l1_icache_", 1),
    ("llc_", 2),
    ("dtlb_", 3),
    ("itlb_", 4),
    ("branch_", 5),
    ("node_", 6),
];

/// perf's other names for an event, normalised, to the name `perf stat` reports (Mesos's
/// field name).
const ALIASES: [(&str, &str); 7] = [
    ("cpu_cycles", "cycles"),
    ("branch_instructions", "branches"),
    ("idle_cycles_frontend", "stalled_cycles_frontend"),
    ("idle_cycles_backend", "stalled_cycles_backend"),
    ("faults", "page_faults"),
    ("cs", "context_switches"),
    ("migrations", "cpu_migrations"),
];

/// An event name as the field it is reported in: lower case, `-` as `_`, aliases resolved.
fn normalise(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase().replace('-', "_");
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map_or(lower, |(_, to)| (*to).to_string())
}

/// The event called `name`, or `None` if perf has no such event Mesos can report.
pub fn lookup(name: &str) -> Option<PerfEvent> {
    let field_name = normalise(name);
    let field = PerfField::by_name(&field_name)?;
    let find = |table: &[(&str, u64)]| table.iter().find(|(n, _)| *n == field_name).map(|e| e.1);
    let (type_, config) = if let Some(c) = find(&HARDWARE) {
        (TYPE_HARDWARE, c)
    } else if let Some(c) = find(&SOFTWARE) {
        (TYPE_SOFTWARE, c)
    } else {
        (TYPE_HW_CACHE, cache_config(&field_name)?)
    };
    Some(PerfEvent {
        field,
        type_,
        config,
    })
}

/// `id | op << 8 | result << 16` for `<cache>_<loads|load_misses|stores|...>`.
fn cache_config(field_name: &str) -> Option<u64> {
    let (rest, id) = CACHES
        .iter()
        .find_map(|(prefix, id)| Some((field_name.strip_prefix(prefix)?, *id)))?;
    let (op, result) = match rest {
        "loads" => (0, 0),
        "load_misses" => (0, 1),
        "stores" => (1, 0),
        "store_misses" => (1, 1),
        "prefetches" => (2, 0),
        "prefetch_misses" => (2, 1),
        _ => return None,
    };
    Some(id | op << 8 | result << 16)
}

/// Parses `--perf_events`: each name once; an unknown name is the error.
pub fn parse_list(text: &str) -> Result<Vec<PerfEvent>, String> {
    let mut events: Vec<PerfEvent> = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let event = lookup(name).ok_or_else(|| {
            format!("Invalid perf event '{name}' in --perf_events (perf's names: cycles, instructions, task-clock, context-switches, page-faults, cpu-migrations, L1-dcache-loads, ...)")
        })?;
        if !events.iter().any(|e| e.field == event.field) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err("--perf_events names no event".into());
    }
    Ok(events)
}

/// The CPUs of a `/sys/devices/system/cpu/online` text (`0-3,6`).
pub fn parse_cpu_list(text: &str) -> Option<Vec<i32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<i32>().ok()?..=b.parse::<i32>().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn names_map_to_type_config_and_field() {
        let e = lookup("task-clock").unwrap();
        assert_eq!((e.type_, e.config, e.field.name()), (1, 1, "task_clock"));
        let e = lookup("cycles").unwrap();
        assert_eq!((e.type_, e.config), (0, 0));
        assert_eq!(lookup("cpu-cycles").unwrap().field.name(), "cycles");
        assert_eq!(lookup("cs").unwrap().field.name(), "context_switches");
        assert_eq!(lookup("page-faults").unwrap().config, 2);
        let e = lookup("L1-dcache-load-misses").unwrap();
        assert_eq!((e.type_, e.config), (3, 1 << 16));
        let e = lookup("dTLB-stores").unwrap();
        assert_eq!(e.config, 3 | 1 << 8);
        assert_eq!(
            lookup("node-prefetch-misses").unwrap().config,
            6 | 2 << 8 | 1 << 16
        );
        assert_eq!(lookup("branch-loads").unwrap().config, 5);
        assert_eq!(
            lookup("iTLB-stores"),
            None,
            "no such field in PerfStatistics"
        );
        assert_eq!(lookup("bogus"), None);
    }

    #[test]
    fn lists_refuse_unknown_names_and_drop_duplicates() {
        let events = parse_list("task-clock, context-switches,cs,page-faults").unwrap();
        let names: Vec<&str> = events.iter().map(|e| e.field.name()).collect();
        assert_eq!(names, ["task_clock", "context_switches", "page_faults"]);
        let err = parse_list("cycles,nope").unwrap_err();
        assert!(err.contains("'nope'"), "{err}");
        assert!(parse_list(" , ").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,2-4,7"), Some(vec![0, 2, 3, 4, 7]));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
