//! `mesolite stats`: GET /monitor/statistics.

use std::io::Write;

use serde_json::Value;

use super::agent::{answer_json, check, node_cpus, CliError, Common};
use super::args::parse;
use super::table::{cpus_cell, format_table, human_bytes, human_secs, or_dash};

pub const HELP: &str = "\
mesolite stats [--json] [--socket=PATH] [ID]
    Resource usage of every container (or of ID): CPU time, CPUs (the allocation, with
    `(max N)` where a hard limit is set, as in `mesolite ps`), memory used and limit,
    process count.
";

pub const STATS_PATH: &str = "/monitor/statistics";

/// The container an entry is about: mesolite adds `container_id`; Mesos names the executor.
fn entry_id(entry: &Value) -> Option<&str> {
    entry["container_id"]
        .as_str()
        .or_else(|| entry["container_id"]["value"].as_str())
        .or_else(|| entry["executor_id"].as_str())
}

/// The entries about `id` (all of them without one); an ID not listed is `NoSuchContainer`.
pub fn select(answer: &Value, id: Option<&str>) -> Result<Vec<Value>, CliError> {
    let entries = answer
        .as_array()
        .ok_or_else(|| CliError::UnexpectedAnswer {
            what: "statistics list",
            body: answer.to_string(),
        })?;
    let Some(id) = id else {
        return Ok(entries.clone());
    };
    let picked: Vec<Value> = entries
        .iter()
        .filter(|e| entry_id(e) == Some(id))
        .cloned()
        .collect();
    if picked.is_empty() {
        return Err(CliError::NoSuchContainer(id.to_string()));
    }
    Ok(picked)
}

/// The human table; `node_cpus` (GET_METRICS) tells a hard CPU limit from none.
pub fn stats_table(entries: &[Value], node_cpus: Option<f64>) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let s = &e["statistics"];
            let used = s["mem_total_bytes"]
                .as_u64()
                .or(s["mem_rss_bytes"].as_u64());
            vec![
                or_dash(entry_id(e).map(str::to_string)),
                or_dash(s["cpus_user_time_secs"].as_f64().map(human_secs)),
                or_dash(s["cpus_system_time_secs"].as_f64().map(human_secs)),
                cpus_cell(s, node_cpus),
                or_dash(used.map(human_bytes)),
                or_dash(s["mem_limit_bytes"].as_u64().map(human_bytes)),
                or_dash(s["processes"].as_u64().map(|p| p.to_string())),
            ]
        })
        .collect();
    format_table(
        &[
            "ID",
            "CPU-USER",
            "CPU-SYS",
            "CPUS",
            "MEM",
            "MEM-LIMIT",
            "PROCS",
        ],
        &rows,
    )
}

pub fn run(args: &[String], env: Option<&str>, out: &mut dyn Write) -> Result<i32, CliError> {
    let parsed = parse(args, &[], false)?;
    parsed.expect_positional(&[], 1)?;
    let common = Common::from_parsed(&parsed, env);
    let resp = check(common.client().get(STATS_PATH)?, None)?;
    let entries = select(
        &answer_json(&resp, "statistics list")?,
        parsed.positional.first().map(String::as_str),
    )?;
    if common.json {
        writeln!(out, "{}", Value::Array(entries))?;
    } else {
        out.write_all(stats_table(&entries, node_cpus(&common)).as_bytes())?;
    }
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer() -> Value {
        json!([
            {"container_id": "web-1", "executor_id": "web-1", "source": "web-1",
             "statistics": {"timestamp": 1.0, "cpus_user_time_secs": 1.234,
                            "cpus_system_time_secs": 0.5, "cpus_limit": 1.0,
                            "cpus_soft_limit": 0.5,
                            "mem_total_bytes": 3_145_728, "mem_rss_bytes": 1024,
                            "mem_limit_bytes": 67_108_864, "processes": 3}},
            {"executor_id": "old", "statistics": {"timestamp": 1.0, "mem_rss_bytes": 2048}}
        ])
    }

    #[test]
    fn table_prefers_total_memory_and_dashes_missing_fields() {
        let entries = select(&answer(), None).unwrap();
        assert_eq!(
            stats_table(&entries, Some(2.0)),
            "ID     CPU-USER  CPU-SYS  CPUS         MEM     MEM-LIMIT  PROCS\n\
             web-1  1.23s     0.50s    0.5 (max 1)  3.0MiB  64.0MiB    3\n\
             old    -         -        -            2.0KiB  -          -\n"
        );
        // On a 1-cpu node a limit of 1 is no limit.
        assert!(stats_table(&entries, Some(1.0)).contains("0.50s    0.5   "));
    }

    #[test]
    fn selects_one_container_or_reports_it_missing() {
        assert_eq!(select(&answer(), Some("web-1")).unwrap().len(), 1);
        assert_eq!(select(&answer(), Some("old")).unwrap().len(), 1);
        assert!(matches!(
            select(&answer(), Some("nope")),
            Err(CliError::NoSuchContainer(id)) if id == "nope"
        ));
        assert!(select(&json!({"not": "a list"}), None).is_err());
    }
}
