//! JSON and text renderings shared by the v1 calls and the GET endpoints.

use serde_json::{json, Value};

use super::{AgentInfo, Ctx};
use crate::containerizer::{ContainerStatus, Containerizer, UsagePass, LATENCY_BUCKETS};

pub(super) fn version(info: &AgentInfo) -> Value {
    json!({"version": info.version, "build_date": "", "build_time": 0, "build_user": ""})
}

pub(super) fn flags_v1(info: &AgentInfo) -> Value {
    Value::Array(
        info.flags
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    )
}

pub(super) fn flags_v0(info: &AgentInfo) -> Value {
    let map: serde_json::Map<String, Value> = info
        .flags
        .iter()
        .map(|(n, v)| (n.to_string(), Value::String(v.clone())))
        .collect();
    json!({"flags": map})
}

/// `container_status` of a container (Mesos's ContainerStatus).
fn status(c: &ContainerStatus) -> Value {
    let mut s = json!({"container_id": {"value": c.id.as_str()}});
    if let Some(pid) = c.executor_pid {
        s["executor_pid"] = json!(pid);
    }
    if !c.network_infos.is_empty() {
        let n: Vec<Value> = c.network_infos.iter().map(|n| n.to_json()).collect();
        s["network_infos"] = Value::Array(n);
    }
    s
}

/// GET_CONTAINERS entries: every container, with our `state`.
pub(super) fn containers_v1(cz: &dyn Containerizer) -> Value {
    let mut buf = Vec::with_capacity(4096);
    let pass = UsagePass::new();
    Value::Array(
        cz.list()
            .iter()
            .map(|c| {
                let mut e = json!({
                    "container_id": {"value": c.id.as_str()},
                    "state": c.state.name(),
                    "container_status": status(c),
                });
                if let Some(stats) = cz.usage(&c.id, &pass, &mut buf) {
                    e["resource_statistics"] = json!(stats);
                }
                e
            })
            .collect(),
    )
}

/// The executor fields Mesos writes for each `/monitor/statistics` and `/containers` entry
/// (`src/slave/http.cpp`: `info.framework_id().value()`, `info.executor_id().value()`,
/// `info.name()`, `info.source()`). A mesolite container is standalone: it has no framework
/// and no ExecutorInfo, so `framework_id` and `executor_name` are the empty strings Mesos
/// writes for unset fields, and `executor_id` and `source` are the container ID, as for
/// Mesos's command executors (whose ID and source are their task's).
pub(super) fn executor_fields(id: &str) -> serde_json::Map<String, Value> {
    let mut e = serde_json::Map::new();
    e.insert("framework_id".into(), json!(""));
    e.insert("executor_id".into(), json!(id));
    e.insert("executor_name".into(), json!(""));
    e.insert("source".into(), json!(id));
    e
}

/// `/containers`: Mesos's entries, whose container status is `status` (not the v1
/// `container_status`), plus our `state`.
pub(super) fn containers_v0(cz: &dyn Containerizer, only: Option<&str>) -> Value {
    let mut buf = Vec::with_capacity(4096);
    let pass = UsagePass::new();
    Value::Array(
        cz.list()
            .iter()
            .filter(|c| only.is_none_or(|id| id == c.id.as_str()))
            .map(|c| {
                let mut e = executor_fields(c.id.as_str());
                e.insert("container_id".into(), json!(c.id.as_str()));
                e.insert("state".into(), json!(c.state.name()));
                e.insert("status".into(), status(c));
                let mut e = Value::Object(e);
                if let Some(stats) = cz.usage(&c.id, &pass, &mut buf) {
                    e["statistics"] = json!(stats);
                }
                e
            })
            .collect(),
    )
}

/// Every metric as (Mesos-style name, value).
pub(super) fn metric_pairs(ctx: &Ctx<'_>) -> Vec<(String, f64)> {
    let m = ctx.containerizer.metrics();
    let mut out = vec![
        (
            "containerizer/mesos/launches".to_string(),
            m.launches as f64,
        ),
        (
            "containerizer/mesos/launch_failures".to_string(),
            m.launch_failures as f64,
        ),
        (
            "containerizer/mesos/container_destroy_errors".to_string(),
            m.destroy_errors as f64,
        ),
        (
            "agent/uptime_secs".to_string(),
            ctx.info.started.elapsed().as_secs_f64(),
        ),
        (
            "agent/loop_iterations".to_string(),
            ctx.info.loop_iterations as f64,
        ),
        (
            "agent/loop_max_iteration_ms".to_string(),
            ctx.info.loop_stats.max().as_secs_f64() * 1000.0,
        ),
        (
            "agent/loop_iterations_over_2ms".to_string(),
            ctx.info.loop_stats.over_budget as f64,
        ),
        (
            "agent/loop_iterations_over_5ms".to_string(),
            ctx.info.loop_stats.over_slow as f64,
        ),
    ];
    for (state, n) in ctx.containerizer.count_by_state() {
        out.push((
            format!(
                "containerizer/mesos/containers_{}",
                state.name().to_ascii_lowercase()
            ),
            n as f64,
        ));
    }
    if let Some(f) = ctx.containerizer.fetch_counters() {
        for (name, v) in [
            ("task_fetches_succeeded", f.succeeded),
            ("task_fetches_failed", f.failed),
            ("cache_size_total_bytes", f.cache_capacity),
            ("cache_size_used_bytes", f.cache_used),
            ("cache_hits", f.hits),
            ("cache_misses", f.misses),
            ("cache_evictions", f.evictions),
        ] {
            out.push((format!("containerizer/fetcher/{name}"), v as f64));
        }
    }
    ctx.containerizer.extra_metrics(&mut out);
    let total = ctx.containerizer.total().clone();
    let used = ctx.containerizer.allocated();
    out.push(("slave/cpus_total".into(), total.cpus));
    out.push(("slave/cpus_used".into(), used.cpus));
    out.push(("slave/mem_total".into(), total.mem_mb));
    out.push(("slave/mem_used".into(), used.mem_mb));
    out.push(("slave/disk_total".into(), total.disk_mb));
    out.push(("slave/disk_used".into(), used.disk_mb));
    if let Some(fleet) = ctx.fleet.as_deref() {
        out.push(("fleet/etcd_requests".into(), fleet.requests() as f64));
        out.push((
            "fleet/elected".into(),
            f64::from(u8::from(fleet.is_leader())),
        ));
    }
    out
}

pub(super) fn metrics_v1(ctx: &Ctx<'_>) -> Value {
    Value::Array(
        metric_pairs(ctx)
            .into_iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    )
}

pub(super) fn metrics_snapshot(ctx: &Ctx<'_>) -> Value {
    let map: serde_json::Map<String, Value> = metric_pairs(ctx)
        .into_iter()
        .map(|(n, v)| (n, json!(v)))
        .collect();
    Value::Object(map)
}

/// Prometheus text exposition format 0.0.4.
pub(super) fn prometheus(ctx: &Ctx<'_>) -> String {
    use std::fmt::Write;
    let m = ctx.containerizer.metrics();
    let f = ctx.containerizer.fetch_counters().unwrap_or_default();
    let mut s = String::with_capacity(2048);
    let _ = writeln!(
        s,
        "# HELP mesolite_containers Containers by containerizer state."
    );
    let _ = writeln!(s, "# TYPE mesolite_containers gauge");
    for (state, n) in ctx.containerizer.count_by_state() {
        let _ = writeln!(s, "mesolite_containers{{state=\"{}\"}} {n}", state.name());
    }
    for (name, help, v) in [
        (
            "mesolite_launches_total",
            "Container launches attempted.",
            m.launches,
        ),
        (
            "mesolite_launch_failures_total",
            "Container launches that failed.",
            m.launch_failures,
        ),
        (
            "mesolite_destroy_errors_total",
            "Container destroys that failed.",
            m.destroy_errors,
        ),
        (
            "mesolite_loop_iterations_total",
            "Event loop iterations.",
            ctx.info.loop_iterations,
        ),
        (
            "mesolite_loop_iterations_over_2ms_total",
            "Event loop iterations whose handling took over 2 ms.",
            ctx.info.loop_stats.over_budget,
        ),
        (
            "mesolite_loop_iterations_over_5ms_total",
            "Event loop iterations whose handling took over 5 ms.",
            ctx.info.loop_stats.over_slow,
        ),
        (
            "mesolite_fetches_succeeded_total",
            "Launches whose URIs were all fetched.",
            f.succeeded,
        ),
        (
            "mesolite_fetches_failed_total",
            "Launches whose fetch failed.",
            f.failed,
        ),
        (
            "mesolite_fetcher_cache_hits_total",
            "URIs served from the fetcher cache.",
            f.hits,
        ),
        (
            "mesolite_fetcher_cache_misses_total",
            "Cached URIs that had to be downloaded.",
            f.misses,
        ),
        (
            "mesolite_fetcher_cache_evictions_total",
            "Fetcher cache entries evicted to make room.",
            f.evictions,
        ),
    ] {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    }
    let h = &m.launch_latency;
    let _ = writeln!(
        s,
        "# HELP mesolite_launch_latency_seconds From LAUNCH_CONTAINER to the task's exec."
    );
    let _ = writeln!(s, "# TYPE mesolite_launch_latency_seconds histogram");
    for (bound, count) in LATENCY_BUCKETS.iter().zip(h.buckets.iter()) {
        let _ = writeln!(
            s,
            "mesolite_launch_latency_seconds_bucket{{le=\"{bound}\"}} {count}"
        );
    }
    let _ = writeln!(
        s,
        "mesolite_launch_latency_seconds_bucket{{le=\"+Inf\"}} {}",
        h.count
    );
    let _ = writeln!(s, "mesolite_launch_latency_seconds_sum {}", h.sum);
    let _ = writeln!(s, "mesolite_launch_latency_seconds_count {}", h.count);
    let _ = writeln!(
        s,
        "# HELP mesolite_loop_max_iteration_seconds The longest event loop iteration's handling \
since the start or the last reset_loop_max.\n# TYPE mesolite_loop_max_iteration_seconds gauge\n\
mesolite_loop_max_iteration_seconds {}",
        ctx.info.loop_stats.max().as_secs_f64()
    );
    let _ = writeln!(
        s,
        "# HELP mesolite_uptime_seconds Seconds since the agent started."
    );
    let _ = writeln!(s, "# TYPE mesolite_uptime_seconds gauge");
    let _ = writeln!(
        s,
        "mesolite_uptime_seconds {}",
        ctx.info.started.elapsed().as_secs_f64()
    );
    s
}
