//! Every API answer held against Mesos's messages: field names and JSON types from
//! `include/mesos/v1/mesos.proto` and `include/mesos/v1/agent/agent.proto` (`mesos.md` §5), and
//! for the v0 endpoints the keys Mesos's `src/slave/http.cpp`, `src/files/files.cpp` and
//! `src/version/version.hpp` write. mesolite's documented additions (`api-examples.md`, README
//! "API") are listed per message as `ours`, and are the only extra fields: any other field, a
//! wrong JSON type, an enum name Mesos lacks or a missing required field fails the test.
//!
//! Fields Mesos has but mesolite never writes (ResourceStatistics' `net_snmp_statistics`, Resource's
//! reservations, ...) are left out on purpose: the day mesolite writes
//! one, this test fails until its message's schema is added here from the proto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cni_support;
mod common;

use std::time::Duration;

use common::{root_or_skip, Agent};
use serde_json::{json, Value};

/// A field's JSON type, as Mesos's JSON renders the proto type.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    /// `double`, `float`: any JSON number.
    Double,
    Int32,
    UInt32,
    UInt64,
    /// A proto enum: its value's name, one of these.
    Enum(&'static [&'static str]),
    Msg(&'static Msg),
    Repeated(&'static Ty),
    /// A JSON object whose keys are data (v0 `/flags`, `/metrics/snapshot`).
    Map(&'static Ty),
    /// A JSON array at the top of a v0 answer.
    Array(&'static Ty),
}

struct Msg {
    name: &'static str,
    /// Mesos's fields.
    fields: &'static [(&'static str, Ty)],
    /// Fields that must be present (proto2 `required`, or always written by Mesos's code).
    required: &'static [&'static str],
    /// mesolite's documented additions.
    ours: &'static [(&'static str, Ty)],
}

/// `static $id: Msg`, written as a table.
macro_rules! msg {
    ($id:ident $name:literal
     fields { $($f:literal => $t:expr),* $(,)? }
     required { $($r:literal),* $(,)? }
     ours { $($o:literal => $ot:expr),* $(,)? }) => {
        static $id: Msg = Msg {
            name: $name,
            fields: &[$(($f, $t)),*],
            required: &[$($r),*],
            ours: &[$(($o, $ot)),*],
        };
    };
}

use Ty::*;

// ---- mesos.proto (v1) ------------------------------------------------------------------------

const TASK_STATE: &[&str] = &[
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_UNREACHABLE",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
];

/// `TaskStatus.Reason`.
const REASON: &[&str] = &[
    "REASON_COMMAND_EXECUTOR_FAILED",
    "REASON_CONTAINER_LAUNCH_FAILED",
    "REASON_CONTAINER_LIMITATION",
    "REASON_CONTAINER_LIMITATION_DISK",
    "REASON_CONTAINER_LIMITATION_MEMORY",
    "REASON_CONTAINER_PREEMPTED",
    "REASON_CONTAINER_UPDATE_FAILED",
    "REASON_MAX_COMPLETION_TIME_REACHED",
    "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
    "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
    "REASON_EXECUTOR_TERMINATED",
    "REASON_EXECUTOR_UNREGISTERED",
    "REASON_FRAMEWORK_REMOVED",
    "REASON_GC_ERROR",
    "REASON_INVALID_FRAMEWORKID",
    "REASON_INVALID_OFFERS",
    "REASON_IO_SWITCHBOARD_EXITED",
    "REASON_MASTER_DISCONNECTED",
    "REASON_RECONCILIATION",
    "REASON_RESOURCES_UNKNOWN",
    "REASON_AGENT_DISCONNECTED",
    "REASON_AGENT_DRAINING",
    "REASON_AGENT_REMOVED",
    "REASON_AGENT_REMOVED_BY_OPERATOR",
    "REASON_AGENT_REREGISTERED",
    "REASON_AGENT_RESTARTED",
    "REASON_AGENT_UNKNOWN",
    "REASON_TASK_KILLED_DURING_LAUNCH",
    "REASON_TASK_CHECK_STATUS_UPDATED",
    "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
    "REASON_TASK_GROUP_INVALID",
    "REASON_TASK_GROUP_UNAUTHORIZED",
    "REASON_TASK_INVALID",
    "REASON_TASK_UNAUTHORIZED",
    "REASON_TASK_UNKNOWN",
];

/// mesolite's containerizer states (the `state` addition): Mesos's `Container::State` names.
const CONTAINER_STATE: &[&str] = &[
    "STARTING",
    "PROVISIONING",
    "PREPARING",
    "ISOLATING",
    "FETCHING",
    "RUNNING",
    "DESTROYING",
    "TERMINATED",
];

msg! {
    CONTAINER_ID "ContainerID"
    fields {
        "value" => Str,
        "parent" => Msg(&CONTAINER_ID),
    }
    required { "value" }
    ours {}
}

msg! {
    FRAMEWORK_ID "FrameworkID"
    fields {
        "value" => Str,
    }
    required { "value" }
    ours {}
}

msg! {
    EXECUTOR_ID "ExecutorID"
    fields {
        "value" => Str,
    }
    required { "value" }
    ours {}
}

msg! {
    SCALAR "Value.Scalar"
    fields {
        "value" => Double,
    }
    required { "value" }
    ours {}
}

msg! {
    RANGE "Value.Range"
    fields {
        "begin" => UInt64,
        "end" => UInt64,
    }
    required { "begin", "end" }
    ours {}
}

msg! {
    RANGES "Value.Ranges"
    fields {
        "range" => Repeated(&Msg(&RANGE)),
    }
    required {}
    ours {}
}

msg! {
    SET "Value.Set"
    fields {
        "item" => Repeated(&Str),
    }
    required {}
    ours {}
}

// `Resource` (without provider_id, allocation_info, reservation(s), disk, revocable, shared,
// which mesolite never writes).
msg! {
    RESOURCE "Resource"
    fields {
        "name" => Str,
        "type" => Enum(&["SCALAR", "RANGES", "SET", "TEXT"]),
        "scalar" => Msg(&SCALAR),
        "ranges" => Msg(&RANGES),
        "set" => Msg(&SET),
        "role" => Str,
    }
    required { "name", "type" }
    ours {}
}

msg! {
    TASK_RESOURCE_LIMITATION "TaskResourceLimitation"
    fields {
        "resources" => Repeated(&Msg(&RESOURCE)),
    }
    required {}
    ours {}
}

msg! {
    IP_ADDRESS "NetworkInfo.IPAddress"
    fields {
        "protocol" => Enum(&["IPv4", "IPv6"]),
        "ip_address" => Str,
    }
    required {}
    ours {}
}

msg! {
    PORT_MAPPING "NetworkInfo.PortMapping"
    fields {
        "host_port" => UInt32,
        "container_port" => UInt32,
        "protocol" => Str,
    }
    required { "host_port", "container_port" }
    ours {}
}

msg! {
    LABEL "Label"
    fields {
        "key" => Str,
        "value" => Str,
    }
    required { "key" }
    ours {}
}

msg! {
    LABELS "Labels"
    fields {
        "labels" => Repeated(&Msg(&LABEL)),
    }
    required {}
    ours {}
}

msg! {
    NETWORK_INFO "NetworkInfo"
    fields {
        "ip_addresses" => Repeated(&Msg(&IP_ADDRESS)),
        "name" => Str,
        "groups" => Repeated(&Str),
        "labels" => Msg(&LABELS),
        "port_mappings" => Repeated(&Msg(&PORT_MAPPING)),
    }
    required {}
    ours {}
}

msg! {
    NET_CLS "CgroupInfo.NetCls"
    fields {
        "classid" => UInt32,
    }
    required {}
    ours {}
}

msg! {
    CGROUP_INFO "CgroupInfo"
    fields {
        "net_cls" => Msg(&NET_CLS),
    }
    required {}
    ours {}
}

msg! {
    CONTAINER_STATUS "ContainerStatus"
    fields {
        "container_id" => Msg(&CONTAINER_ID),
        "network_infos" => Repeated(&Msg(&NETWORK_INFO)),
        "cgroup_info" => Msg(&CGROUP_INFO),
        "executor_pid" => UInt32,
    }
    required {}
    ours {}
}

// `PerfStatistics` (mesos.proto).
msg! {
    PERF_STATISTICS "PerfStatistics"
    fields {
        "timestamp" => Double,
        "duration" => Double,
        "cycles" => UInt64,
        "stalled_cycles_frontend" => UInt64,
        "stalled_cycles_backend" => UInt64,
        "instructions" => UInt64,
        "cache_references" => UInt64,
        "cache_misses" => UInt64,
        "branches" => UInt64,
        "branch_misses" => UInt64,
        "bus_cycles" => UInt64,
        "ref_cycles" => UInt64,
        "cpu_clock" => Double,
        "task_clock" => Double,
        "page_faults" => UInt64,
        "minor_faults" => UInt64,
        "major_faults" => UInt64,
        "context_switches" => UInt64,
        "cpu_migrations" => UInt64,
        "alignment_faults" => UInt64,
        "emulation_faults" => UInt64,
        "l1_dcache_loads" => UInt64,
        "l1_dcache_load_misses" => UInt64,
        "l1_dcache_stores" => UInt64,
        "l1_dcache_store_misses" => UInt64,
        "l1_dcache_prefetches" => UInt64,
        "l1_dcache_prefetch_misses" => UInt64,
        "l1_icache_loads" => UInt64,
        "l1_icache_load_misses" => UInt64,
        "l1_icache_prefetches" => UInt64,
        "l1_icache_prefetch_misses" => UInt64,
        "llc_loads" => UInt64,
        "llc_load_misses" => UInt64,
        "llc_stores" => UInt64,
        "llc_store_misses" => UInt64,
        "llc_prefetches" => UInt64,
        "llc_prefetch_misses" => UInt64,
        "dtlb_loads" => UInt64,
        "dtlb_load_misses" => UInt64,
        "dtlb_stores" => UInt64,
        "dtlb_store_misses" => UInt64,
        "dtlb_prefetches" => UInt64,
        "dtlb_prefetch_misses" => UInt64,
        "itlb_loads" => UInt64,
        "itlb_load_misses" => UInt64,
        "branch_loads" => UInt64,
        "branch_load_misses" => UInt64,
        "node_loads" => UInt64,
        "node_load_misses" => UInt64,
        "node_stores" => UInt64,
        "node_store_misses" => UInt64,
        "node_prefetches" => UInt64,
        "node_prefetch_misses" => UInt64,
    }
    required { "timestamp", "duration" }
    ours {}
}

const BLKIO_OPERATION: &[&str] = &["UNKNOWN", "TOTAL", "READ", "WRITE", "SYNC", "ASYNC"];

msg! {
    DEVICE_NUMBER "Device.Number"
    fields {
        "major_number" => UInt64,
        "minor_number" => UInt64,
    }
    required { "major_number", "minor_number" }
    ours {}
}

msg! {
    BLKIO_VALUE "CgroupInfo.Blkio.Value"
    fields {
        "op" => Enum(BLKIO_OPERATION),
        "value" => UInt64,
    }
    required {}
    ours {}
}

msg! {
    BLKIO_CFQ "CgroupInfo.Blkio.CFQ.Statistics"
    fields {
        "device" => Msg(&DEVICE_NUMBER),
        "sectors" => UInt64,
        "time" => UInt64,
        "io_serviced" => Repeated(&Msg(&BLKIO_VALUE)),
        "io_service_bytes" => Repeated(&Msg(&BLKIO_VALUE)),
        "io_service_time" => Repeated(&Msg(&BLKIO_VALUE)),
        "io_wait_time" => Repeated(&Msg(&BLKIO_VALUE)),
        "io_merged" => Repeated(&Msg(&BLKIO_VALUE)),
        "io_queued" => Repeated(&Msg(&BLKIO_VALUE)),
    }
    required {}
    ours {}
}

msg! {
    BLKIO_THROTTLING "CgroupInfo.Blkio.Throttling.Statistics"
    fields {
        "device" => Msg(&DEVICE_NUMBER),
        "io_serviced" => Repeated(&Msg(&BLKIO_VALUE)),
        "io_service_bytes" => Repeated(&Msg(&BLKIO_VALUE)),
    }
    required {}
    ours {}
}

msg! {
    BLKIO_STATISTICS "CgroupInfo.Blkio.Statistics"
    fields {
        "cfq" => Repeated(&Msg(&BLKIO_CFQ)),
        "cfq_recursive" => Repeated(&Msg(&BLKIO_CFQ)),
        "throttling" => Repeated(&Msg(&BLKIO_THROTTLING)),
    }
    required {}
    ours {}
}

// `ResourceStatistics`: every scalar field of the proto and the messages mesolite writes (the
// message-typed ones it never writes are left out, see the top of this file).
msg! {
    RESOURCE_STATISTICS "ResourceStatistics"
    fields {
        "timestamp" => Double,
        "processes" => UInt32,
        "threads" => UInt32,
        "cpus_user_time_secs" => Double,
        "cpus_system_time_secs" => Double,
        "cpus_limit" => Double,
        "cpus_soft_limit" => Double,
        "cpus_nr_periods" => UInt32,
        "cpus_nr_throttled" => UInt32,
        "cpus_throttled_time_secs" => Double,
        "mem_total_bytes" => UInt64,
        "mem_total_memsw_bytes" => UInt64,
        "mem_kmem_usage_bytes" => UInt64,
        "mem_kmem_tcp_usage_bytes" => UInt64,
        "mem_limit_bytes" => UInt64,
        "mem_soft_limit_bytes" => UInt64,
        "mem_file_bytes" => UInt64,
        "mem_anon_bytes" => UInt64,
        "mem_cache_bytes" => UInt64,
        "mem_rss_bytes" => UInt64,
        "mem_mapped_file_bytes" => UInt64,
        "mem_swap_bytes" => UInt64,
        "mem_unevictable_bytes" => UInt64,
        "mem_low_pressure_counter" => UInt64,
        "mem_medium_pressure_counter" => UInt64,
        "mem_critical_pressure_counter" => UInt64,
        "disk_limit_bytes" => UInt64,
        "disk_used_bytes" => UInt64,
        "blkio_statistics" => Msg(&BLKIO_STATISTICS),
        "perf" => Msg(&PERF_STATISTICS),
        "net_rx_packets" => UInt64,
        "net_rx_bytes" => UInt64,
        "net_rx_errors" => UInt64,
        "net_rx_dropped" => UInt64,
        "net_tx_packets" => UInt64,
        "net_tx_bytes" => UInt64,
        "net_tx_errors" => UInt64,
        "net_tx_dropped" => UInt64,
        "net_tx_rate_limit" => UInt64,
        "net_tx_burst_rate_limit" => UInt64,
        "net_tx_burst_size" => UInt64,
        "net_rx_rate_limit" => UInt64,
        "net_rx_burst_rate_limit" => UInt64,
        "net_rx_burst_size" => UInt64,
        "net_ephemeral_ports" => Msg(&RANGE),
        "net_tcp_rtt_microsecs_p50" => Double,
        "net_tcp_rtt_microsecs_p90" => Double,
        "net_tcp_rtt_microsecs_p95" => Double,
        "net_tcp_rtt_microsecs_p99" => Double,
        "net_tcp_active_connections" => Double,
        "net_tcp_time_wait_connections" => Double,
        "net_traffic_control_statistics" => Repeated(&Msg(&TRAFFIC_CONTROL_STATISTICS)),
    }
    required { "timestamp" }
    ours {}
}

msg! {
    TRAFFIC_CONTROL_STATISTICS "TrafficControlStatistics"
    fields {
        "id" => Str,
        "backlog" => UInt64,
        "bytes" => UInt64,
        "drops" => UInt64,
        "overlimits" => UInt64,
        "packets" => UInt64,
        "qlen" => UInt64,
        "ratebps" => UInt64,
        "ratepps" => UInt64,
        "requeues" => UInt64,
    }
    required { "id" }
    ours {}
}

msg! {
    VERSION_INFO "VersionInfo"
    fields {
        "version" => Str,
        "build_date" => Str,
        "build_time" => Double,
        "build_user" => Str,
        "git_sha" => Str,
        "git_branch" => Str,
        "git_tag" => Str,
    }
    required { "version" }
    ours {}
}

msg! {
    FLAG "Flag"
    fields {
        "name" => Str,
        "value" => Str,
    }
    required { "name" }
    ours {}
}

msg! {
    METRIC "Metric"
    fields {
        "name" => Str,
        "value" => Double,
    }
    required { "name" }
    ours {}
}

// ---- agent.proto (v1) ------------------------------------------------------------------------

msg! {
    GET_HEALTH "Response.GetHealth"
    fields {
        "healthy" => Bool,
    }
    required { "healthy" }
    ours {}
}

msg! {
    GET_FLAGS "Response.GetFlags"
    fields {
        "flags" => Repeated(&Msg(&FLAG)),
    }
    required {}
    ours {}
}

msg! {
    GET_VERSION "Response.GetVersion"
    fields {
        "version_info" => Msg(&VERSION_INFO),
    }
    required { "version_info" }
    ours {}
}

msg! {
    GET_METRICS "Response.GetMetrics"
    fields {
        "metrics" => Repeated(&Msg(&METRIC)),
    }
    required {}
    ours {}
}

msg! {
    CONTAINER "Response.GetContainers.Container"
    fields {
        "framework_id" => Msg(&FRAMEWORK_ID),
        "executor_id" => Msg(&EXECUTOR_ID),
        "executor_name" => Str,
        "container_id" => Msg(&CONTAINER_ID),
        "container_status" => Msg(&CONTAINER_STATUS),
        "resource_statistics" => Msg(&RESOURCE_STATISTICS),
    }
    required { "container_id" }
    ours { "state" => Enum(CONTAINER_STATE) }
}

msg! {
    GET_CONTAINERS "Response.GetContainers"
    fields {
        "containers" => Repeated(&Msg(&CONTAINER)),
    }
    required {}
    ours {}
}

msg! {
    WAIT_CONTAINER "Response.WaitContainer"
    fields {
        "exit_status" => Int32,
        "state" => Enum(TASK_STATE),
        "reason" => Enum(REASON),
        "limitation" => Msg(&TASK_RESOURCE_LIMITATION),
        "message" => Str,
    }
    required {}
    ours {}
}

msg! {
    RESPONSE "agent.Response"
    fields {
        "type" => Enum(RESPONSE_TYPE),
        "get_health" => Msg(&GET_HEALTH),
        "get_flags" => Msg(&GET_FLAGS),
        "get_version" => Msg(&GET_VERSION),
        "get_metrics" => Msg(&GET_METRICS),
        "get_containers" => Msg(&GET_CONTAINERS),
        "wait_container" => Msg(&WAIT_CONTAINER),
    }
    required { "type" }
    ours {}
}

// ---- v0 endpoints (keys as Mesos's code writes them) -----------------------------------------

const RESPONSE_TYPE: &[&str] = &[
    "UNKNOWN",
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_LOGGING_LEVEL",
    "LIST_FILES",
    "READ_FILE",
    "GET_STATE",
    "GET_CONTAINERS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_OPERATIONS",
    "GET_TASKS",
    "GET_AGENT",
    "GET_RESOURCE_PROVIDERS",
    "WAIT_NESTED_CONTAINER",
    "WAIT_CONTAINER",
];

// A `/monitor/statistics` entry (`Http::_statistics`).
msg! {
    STATISTICS_ENTRY "/monitor/statistics entry"
    fields {
        "framework_id" => Str,
        "executor_id" => Str,
        "executor_name" => Str,
        "source" => Str,
        "statistics" => Msg(&RESOURCE_STATISTICS),
    }
    required { "framework_id", "executor_id", "executor_name", "source", "statistics" }
    ours { "container_id" => Str }
}

// A `/containers` entry (`Http::__containers`): the executor's keys, `container_id`,
// `status` (a ContainerStatus) and `statistics`.
msg! {
    CONTAINERS_ENTRY "/containers entry"
    fields {
        "framework_id" => Str,
        "executor_id" => Str,
        "executor_name" => Str,
        "source" => Str,
        "container_id" => Str,
        "status" => Msg(&CONTAINER_STATUS),
        "statistics" => Msg(&RESOURCE_STATISTICS),
    }
    required { "container_id" }
    ours { "state" => Enum(CONTAINER_STATE) }
}

/// `/monitor/statistics`: an array of entries.
static STATISTICS_V0: Ty = Array(&Msg(&STATISTICS_ENTRY));

/// `/containers`: an array of entries.
static CONTAINERS_V0: Ty = Array(&Msg(&CONTAINERS_ENTRY));

// `/version` (`version.hpp`'s `version()`).
msg! {
    VERSION_V0 "/version"
    fields {
        "version" => Str,
        "git_sha" => Str,
        "git_branch" => Str,
        "git_tag" => Str,
        "build_date" => Str,
        "build_time" => Double,
        "build_user" => Str,
    }
    required { "version", "build_date", "build_time", "build_user" }
    ours {}
}

// `/flags` (`Http::_flags`): `{"flags": {name: value}}`.
msg! {
    FLAGS_V0 "/flags"
    fields {
        "flags" => Map(&Str),
    }
    required { "flags" }
    ours {}
}

// `/files/read` (`FilesProcess::_read`).
msg! {
    FILES_READ "/files/read"
    fields {
        "offset" => UInt64,
        "data" => Str,
    }
    required { "offset", "data" }
    ours { "file_id" => Str }
}

// ---- the walk ---------------------------------------------------------------------------------

fn check(path: &str, v: &Value, ty: &Ty, errs: &mut Vec<String>) {
    let bad = |errs: &mut Vec<String>, want: &str| {
        errs.push(format!("{path}: expected {want}, got {v}"));
    };
    match ty {
        Str => {
            if !v.is_string() {
                bad(errs, "a string")
            }
        }
        Bool => {
            if !v.is_boolean() {
                bad(errs, "a bool")
            }
        }
        Double => {
            if !v.is_number() {
                bad(errs, "a number")
            }
        }
        Int32 => {
            if v.as_i64().and_then(|n| i32::try_from(n).ok()).is_none() {
                bad(errs, "an int32")
            }
        }
        UInt32 => {
            if v.as_u64().and_then(|n| u32::try_from(n).ok()).is_none() {
                bad(errs, "a uint32")
            }
        }
        UInt64 => {
            if !v.is_u64() {
                bad(errs, "a uint64")
            }
        }
        Enum(names) => match v.as_str() {
            Some(s) if names.contains(&s) => {}
            _ => bad(errs, &format!("one of {names:?}")),
        },
        Repeated(inner) | Array(inner) => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(&format!("{path}[{i}]"), item, inner, errs);
                }
            }
            None => bad(errs, "an array"),
        },
        Map(inner) => match v.as_object() {
            Some(map) => {
                for (k, item) in map {
                    check(&format!("{path}.{k}"), item, inner, errs);
                }
            }
            None => bad(errs, "an object"),
        },
        Msg(msg) => {
            let Some(obj) = v.as_object() else {
                return bad(errs, &format!("a {} object", msg.name));
            };
            for (k, item) in obj {
                let field = msg.fields.iter().chain(msg.ours).find(|(n, _)| n == k);
                match field {
                    Some((_, t)) => check(&format!("{path}.{k}"), item, t, errs),
                    None => errs.push(format!(
                        "{path}: field '{k}' is not in Mesos's {} (nor one of our additions)",
                        msg.name
                    )),
                }
            }
            for r in msg.required {
                if !obj.contains_key(*r) {
                    errs.push(format!(
                        "{path}: required field '{r}' of {} missing",
                        msg.name
                    ));
                }
            }
        }
    }
}

fn errors(what: &str, v: &Value, ty: &Ty) -> Vec<String> {
    let mut errs = Vec::new();
    check(what, v, ty, &mut errs);
    errs
}

fn holds(what: &str, v: &Value, ty: &Ty) {
    let errs = errors(what, v, ty);
    assert!(
        errs.is_empty(),
        "{what} differs from Mesos:\n{}\nanswer: {v:#}",
        errs.join("\n")
    );
}

/// A v1 answer: a Response whose `type` is the call's and whose only other field is its own.
fn holds_v1(call: &str, v: &Value) {
    holds(call, v, &Msg(&RESPONSE));
    assert_eq!(v["type"], call, "{v}");
    let own = call.to_ascii_lowercase();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert!(
        keys.iter().all(|k| *k == "type" || **k == own),
        "{call}: {keys:?}"
    );
}

/// An answer with no body (LAUNCH, KILL, REMOVE, PRUNE_IMAGES: Mesos answers `200 OK` bare).
fn empty_ok(what: &str, r: &mesolite::http::ClientResponse, status: u16) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert!(r.body.is_empty(), "{what}: body {:?}", r.text());
}

/// The network statistics as the agent writes them (its hand-written JSON) hold against the
/// proto; an entry without its required `id` does not.
#[test]
fn net_statistics_hold_against_the_proto() {
    use mesolite::stats::{ResourceStatistics, TrafficControlStatistics};
    let tc = TrafficControlStatistics {
        id: "eth0:1:0".into(),
        backlog: Some(0),
        bytes: Some(1 << 40),
        drops: Some(1),
        overlimits: Some(2),
        packets: Some(3),
        qlen: Some(0),
        ratebps: Some(0),
        ratepps: Some(0),
        requeues: Some(0),
    };
    let st = ResourceStatistics {
        timestamp: 1.5,
        net_rx_packets: Some(1),
        net_rx_bytes: Some(2),
        net_rx_errors: Some(0),
        net_rx_dropped: Some(0),
        net_tx_packets: Some(3),
        net_tx_bytes: Some(u64::MAX),
        net_tx_errors: Some(0),
        net_tx_dropped: Some(0),
        net_traffic_control_statistics: vec![tc],
        ..Default::default()
    };
    let mut out = Vec::new();
    st.write_json(&mut out);
    let mut v: Value = serde_json::from_slice(&out).unwrap();
    let errs = errors("net", &v, &Msg(&RESOURCE_STATISTICS));
    assert!(errs.is_empty(), "{errs:?}");
    v["net_traffic_control_statistics"][0]
        .as_object_mut()
        .unwrap()
        .remove("id");
    assert_eq!(errors("no id", &v, &Msg(&RESOURCE_STATISTICS)).len(), 1);
}

#[test]
fn the_walk_refuses_what_mesos_lacks() {
    // An added field, anywhere.
    let mut a = json!({"type": "GET_CONTAINERS", "get_containers": {"containers": [
        {"container_id": {"value": "a"}, "state": "RUNNING",
         "container_status": {"container_id": {"value": "a"}, "executor_pid": 7}}]}});
    assert!(errors("ok", &a, &Msg(&RESPONSE)).is_empty());
    a["get_containers"]["containers"][0]["container_status"]["pid"] = json!(7);
    assert_eq!(errors("added", &a, &Msg(&RESPONSE)).len(), 1);
    // Our additions only where documented: `state` is not Mesos's in a ContainerStatus.
    let s = json!({"state": "RUNNING"});
    assert_eq!(errors("state", &s, &Msg(&CONTAINER_STATUS)).len(), 1);
    // The old limitation with its reason.
    let w = json!({"type": "WAIT_CONTAINER", "wait_container": {"limitation":
        {"resources": [], "reason": "REASON_CONTAINER_LIMITATION_MEMORY"}}});
    assert_eq!(errors("limitation", &w, &Msg(&RESPONSE)).len(), 1);
    // Wrong types, unknown enum names, a missing required field.
    let st = json!({"timestamp": "1", "mem_rss_bytes": -1, "cpus_limit": 1});
    assert_eq!(errors("types", &st, &Msg(&RESOURCE_STATISTICS)).len(), 2);
    let w = json!({"state": "KILLED"});
    assert_eq!(errors("enum", &w, &Msg(&WAIT_CONTAINER)).len(), 1);
    assert_eq!(
        errors("missing", &json!({}), &Msg(&RESOURCE_STATISTICS)).len(),
        1
    );
}

#[test]
fn every_answer_has_mesos_field_names_and_types() {
    if !root_or_skip("api_schema") {
        return;
    }
    let agent = Agent::start(&[
        "--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,cgroups/blkio,cgroups/perf_event,namespaces/pid,disk/du,filesystem/linux,docker/runtime",
        "--perf_events=task-clock,context-switches,page-faults,cycles,instructions",
        "--perf_interval=1secs",
        "--perf_duration=200ms",
        "--image_providers=docker",
        "--container_disk_watch_interval=100ms",
        "--enforce_container_disk_quota",
    ]);
    let res = json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                     {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}},
                     {"name": "disk", "type": "SCALAR", "scalar": {"value": 1}}]);

    for call in ["GET_HEALTH", "GET_VERSION", "GET_FLAGS"] {
        let r = agent.call(json!({ "type": call }));
        assert_eq!(r.status, 200, "{call}: {}", r.text());
        holds_v1(call, &r.json().unwrap());
    }

    // LAUNCH: a running one, a finished one, one over its disk quota, one that fails to launch.
    empty_ok(
        "LAUNCH_CONTAINER",
        &agent.launch_shell("run", "echo hello; sleep 1000", res.clone()),
        200,
    );
    empty_ok(
        "LAUNCH_CONTAINER in use",
        &agent.launch_shell("run", "true", json!([])),
        202,
    );
    empty_ok(
        "LAUNCH_CONTAINER",
        &agent.launch_shell("exit3", "exit 3", json!([])),
        200,
    );
    empty_ok(
        "LAUNCH_CONTAINER",
        &agent.launch_shell(
            "disk",
            "dd if=/dev/zero of=file bs=1048576 count=2 && sleep 1000",
            res.clone(),
        ),
        200,
    );
    let bad = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "bad"}, "command": {"value": "/no/such", "shell": false}}}));
    assert_eq!(bad.status, 400, "{}", bad.text());

    for id in ["exit3", "disk", "bad"] {
        let w = agent.wait(id);
        assert_eq!(w.status, 200, "WAIT {id}: {}", w.text());
        let w = w.json().unwrap();
        holds_v1("WAIT_CONTAINER", &w);
        if id == "disk" {
            assert!(
                w["wait_container"]["limitation"]["resources"].is_array(),
                "{w}"
            );
        }
    }

    Agent::eventually("stdout written", Duration::from_secs(10), || {
        std::fs::read_to_string(agent.sandbox("run").join("stdout"))
            .is_ok_and(|s| s.contains("hello"))
    });
    let r = agent.call(json!({"type": "GET_CONTAINERS",
        "get_containers": {"show_nested": false, "show_standalone": true}}));
    let containers = r.json().unwrap();
    holds_v1("GET_CONTAINERS", &containers);
    assert_eq!(
        containers["get_containers"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "{containers}"
    );
    let r = agent.call(json!({"type": "GET_METRICS", "get_metrics": {}}));
    holds_v1("GET_METRICS", &r.json().unwrap());

    let c = agent.client();
    // Every message-typed statistic is there to be checked: a perf sample has completed.
    Agent::eventually("a perf sample", Duration::from_secs(15), || {
        let v = c.get("/monitor/statistics").unwrap().json().unwrap();
        v.as_array().unwrap().iter().any(|e| {
            let s = &e["statistics"];
            s["perf"].is_object()
                && s["blkio_statistics"].is_object()
                && s["mem_low_pressure_counter"].is_u64()
        })
    });
    for path in ["/monitor/statistics", "/monitor/statistics.json"] {
        let v = c.get(path).unwrap().json().unwrap();
        assert!(!v.as_array().unwrap().is_empty(), "{path}: {v}");
        holds(path, &v, &STATISTICS_V0);
    }
    for path in ["/containers", "/containers?container_id=run"] {
        let v = c.get(path).unwrap().json().unwrap();
        assert!(!v.as_array().unwrap().is_empty(), "{path}: {v}");
        holds(path, &v, &CONTAINERS_V0);
    }
    holds(
        "/metrics/snapshot",
        &c.get("/metrics/snapshot").unwrap().json().unwrap(),
        &Map(&Double),
    );
    holds(
        "/version",
        &c.get("/version").unwrap().json().unwrap(),
        &Msg(&VERSION_V0),
    );
    holds(
        "/flags",
        &c.get("/flags").unwrap().json().unwrap(),
        &Msg(&FLAGS_V0),
    );
    let stdout = agent.sandbox("run").join("stdout");
    for q in ["", "&offset=-1", "&offset=2&length=3"] {
        let path = format!("/files/read?path={}{q}", stdout.display());
        let r = c.get(&path).unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        holds(&path, &r.json().unwrap(), &Msg(&FILES_READ));
    }
    let health = c.get("/health").unwrap();
    assert_eq!(health.status, 200);
    assert!(health.body.is_empty());

    // KILL, REMOVE, PRUNE_IMAGES answer a bare 200.
    empty_ok("KILL_CONTAINER", &agent.kill("run", Some(15)), 200);
    let w = agent.wait("run").json().unwrap();
    holds_v1("WAIT_CONTAINER", &w);
    for id in ["run", "exit3", "disk", "bad"] {
        empty_ok("REMOVE_CONTAINER", &agent.remove(id), 200);
    }
    empty_ok(
        "PRUNE_IMAGES",
        &agent.call(json!({"type": "PRUNE_IMAGES"})),
        200,
    );
}

#[test]
fn cni_network_infos_have_mesos_shapes() {
    if !root_or_skip("api_schema_cni") || !cni_support::plugins_or_skip("api_schema_cni") {
        return;
    }
    let mut cni = cni_support::Cni::new("schema", 11);
    cni.bridge_network("schemanet", 0, false, vec![]);
    let flags = cni.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut agent = Agent::start(&flags);
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "net"},
        "command": {"value": "sleep 60", "shell": true},
        "container": {"type": "MESOS", "network_infos": [{"name": "schemanet",
            "groups": ["g"], "labels": {"labels": [{"key": "k", "value": "v"}]},
            "ip_addresses": [{"protocol": "IPv4"}]}]}}}));
    empty_ok("LAUNCH_CONTAINER on a CNI network", &r, 200);
    let r = agent.call(json!({"type": "GET_CONTAINERS",
        "get_containers": {"show_nested": false, "show_standalone": true}}));
    let v = r.json().unwrap();
    holds_v1("GET_CONTAINERS", &v);
    let n = &v["get_containers"]["containers"][0]["container_status"]["network_infos"][0];
    assert_eq!(n["name"], "schemanet", "{v}");
    assert_eq!(n["ip_addresses"][0]["protocol"], "IPv4", "{v}");
    assert!(n["ip_addresses"][0]["ip_address"]
        .as_str()
        .unwrap()
        .starts_with(&cni.prefix(0)));
    assert_eq!(n["labels"]["labels"][0]["key"], "k", "{v}");
    let v: Value = agent.client().get("/containers").unwrap().json().unwrap();
    holds("/containers", &v, &CONTAINERS_V0);
    assert_eq!(
        v[0]["status"]["network_infos"][0]["name"], "schemanet",
        "{v}"
    );
    agent.kill("net", None);
    agent.wait_json("net");
    let dir = cni_support::cni_root(&agent.runtime_dir).join("net");
    Agent::eventually("detached", Duration::from_secs(30), || !dir.exists());
    agent.stop();
    cni_support::unmount_root(&agent.runtime_dir);
}
