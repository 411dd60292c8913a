//! `mesolite ps|wait|kill|rm`: GET_CONTAINERS, WAIT_CONTAINER, KILL_CONTAINER, REMOVE_CONTAINER.

use std::io::Write;

use serde_json::{json, Value};

use super::agent::{answer_json, call, container_id, node_cpus, CliError, Common};
use super::args::{parse, ArgError, OptSpec};
use super::table::{cpus_cell, format_table, human_bytes, or_dash};

pub const PS_HELP: &str = "\
mesolite ps [--json] [--socket=PATH]
    List containers: ID, state, init pid, CPUs, memory limit, resident memory.
    CPUS is the container's allocation (the cpus it asked for); `0.5 (max 1)` adds a hard
    limit where one is set (a CFS quota, with --cgroups_enable_cfs); without one the
    container may use the whole node.
";
pub const WAIT_HELP: &str = "\
mesolite wait [--json] [--socket=PATH] ID
    Wait for container ID to end and print how it ended. Exits with the task's exit code,
    or 128+N when it was killed by signal N.
";
pub const KILL_HELP: &str = "\
mesolite kill [--signal=N|NAME] [--socket=PATH] ID
    Send a signal (default: the agent's, SIGKILL) to every process of container ID.
    Names: TERM, KILL, INT, HUP, QUIT, USR1, USR2 (with or without SIG).
";
pub const RM_HELP: &str = "\
mesolite rm [--socket=PATH] ID
    Remove a terminated container's sandbox and state.
";

/// `{"type": "GET_CONTAINERS", ...}`.
pub fn ps_request() -> Value {
    json!({"type": "GET_CONTAINERS",
           "get_containers": {"show_nested": false, "show_standalone": true}})
}

pub fn wait_request(id: &str) -> Value {
    json!({"type": "WAIT_CONTAINER", "wait_container": {"container_id": container_id(id)}})
}

pub fn kill_request(id: &str, signal: Option<i32>) -> Value {
    let mut kill = json!({"container_id": container_id(id)});
    if let Some(signal) = signal {
        kill["signal"] = json!(signal);
    }
    json!({"type": "KILL_CONTAINER", "kill_container": kill})
}

pub fn rm_request(id: &str) -> Value {
    json!({"type": "REMOVE_CONTAINER", "remove_container": {"container_id": container_id(id)}})
}

/// The containers listed in a GET_CONTAINERS answer (none when the list is absent, as protobuf
/// JSON omits empty repeated fields).
pub fn containers(answer: &Value) -> &[Value] {
    answer["get_containers"]["containers"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The human table for a GET_CONTAINERS answer, with the node's cpus (from GET_METRICS) to
/// tell a hard CPU limit from none.
pub fn ps_table(answer: &Value, node_cpus: Option<f64>) -> String {
    let rows: Vec<Vec<String>> = containers(answer)
        .iter()
        .map(|c| {
            let stats = &c["resource_statistics"];
            vec![
                or_dash(c["container_id"]["value"].as_str().map(str::to_string)),
                or_dash(c["state"].as_str().map(str::to_string)),
                or_dash(
                    c["container_status"]["executor_pid"]
                        .as_u64()
                        .map(|p| p.to_string()),
                ),
                cpus_cell(stats, node_cpus),
                or_dash(stats["mem_limit_bytes"].as_u64().map(human_bytes)),
                or_dash(stats["mem_rss_bytes"].as_u64().map(human_bytes)),
            ]
        })
        .collect();
    format_table(&["ID", "STATE", "PID", "CPUS", "MEM", "RSS"], &rows)
}

/// A WAIT_CONTAINER answer as text lines and the exit code that mirrors the task's.
pub fn describe_wait(answer: &Value) -> (String, i32) {
    let wait = &answer["wait_container"];
    let state = wait["state"].as_str().unwrap_or("unknown state");
    let (mut text, code) = match wait["exit_status"].as_i64() {
        // A raw wait(2) status: low 7 bits are the terminating signal, 0 for a normal exit.
        Some(status) if status & 0x7f == 0 => {
            let code = (status >> 8) & 0xff;
            (format!("exited {code} ({state})"), code)
        }
        Some(status) => {
            let signal = status & 0x7f;
            (format!("killed by signal {signal} ({state})"), 128 + signal)
        }
        None => (format!("ended without an exit status ({state})"), 1),
    };
    for key in ["reason", "message"] {
        if let Some(v) = wait[key].as_str() {
            text.push_str(&format!("\n{key}: {v}"));
        }
    }
    text.push('\n');
    // Both parts are at most 255 here.
    (text, i32::try_from(code).unwrap_or(1))
}

/// A signal number or name (`TERM`, `SIGTERM`, `term`).
pub fn parse_signal(text: &str) -> Result<i32, ArgError> {
    let bad = || ArgError::BadValue {
        option: "--signal".to_string(),
        value: text.to_string(),
        expected: "a signal number (1-64) or TERM, KILL, INT, HUP, QUIT, USR1, USR2",
    };
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    match name {
        "HUP" => Ok(libc::SIGHUP),
        "INT" => Ok(libc::SIGINT),
        "QUIT" => Ok(libc::SIGQUIT),
        "KILL" => Ok(libc::SIGKILL),
        "USR1" => Ok(libc::SIGUSR1),
        "USR2" => Ok(libc::SIGUSR2),
        "TERM" => Ok(libc::SIGTERM),
        _ => Err(bad()),
    }
}

pub fn run_ps(args: &[String], env: Option<&str>, out: &mut dyn Write) -> Result<i32, CliError> {
    let parsed = parse(args, &[], false)?;
    parsed.expect_positional(&[], 0)?;
    let common = Common::from_parsed(&parsed, env);
    let resp = call(&common, &ps_request(), None)?;
    if common.json {
        out.write_all(&resp.body)?;
        writeln!(out)?;
    } else {
        let list = answer_json(&resp, "container list")?;
        out.write_all(ps_table(&list, node_cpus(&common)).as_bytes())?;
    }
    Ok(0)
}

pub fn run_wait(args: &[String], env: Option<&str>, out: &mut dyn Write) -> Result<i32, CliError> {
    let parsed = parse(args, &[], false)?;
    parsed.expect_positional(&["ID"], 0)?;
    let common = Common::from_parsed(&parsed, env);
    let id = &parsed.positional[0];
    let resp = call(&common, &wait_request(id), Some(id))?;
    let (text, code) = describe_wait(&answer_json(&resp, "wait result")?);
    if common.json {
        out.write_all(&resp.body)?;
        writeln!(out)?;
    } else {
        out.write_all(text.as_bytes())?;
    }
    Ok(code)
}

pub fn run_kill(args: &[String], env: Option<&str>, out: &mut dyn Write) -> Result<i32, CliError> {
    let parsed = parse(args, &[OptSpec::value("signal").short('s')], false)?;
    parsed.expect_positional(&["ID"], 0)?;
    let signal = parsed.value("signal").map(parse_signal).transpose()?;
    let common = Common::from_parsed(&parsed, env);
    let id = &parsed.positional[0];
    call(&common, &kill_request(id, signal), Some(id))?;
    print_id(&common, id, out)
}

pub fn run_rm(args: &[String], env: Option<&str>, out: &mut dyn Write) -> Result<i32, CliError> {
    let parsed = parse(args, &[], false)?;
    parsed.expect_positional(&["ID"], 0)?;
    let common = Common::from_parsed(&parsed, env);
    let id = &parsed.positional[0];
    call(&common, &rm_request(id), Some(id))?;
    print_id(&common, id, out)
}

/// KILL and REMOVE answer with an empty body: print the ID (or a JSON object naming it).
fn print_id(common: &Common, id: &str, out: &mut dyn Write) -> Result<i32, CliError> {
    if common.json {
        writeln!(out, "{}", json!({"container_id": container_id(id)}))?;
    } else {
        writeln!(out, "{id}")?;
    }
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ps_table_shows_limits_and_dashes() {
        let answer = json!({"type": "GET_CONTAINERS", "get_containers": {"containers": [
            {"container_id": {"value": "web-1"}, "state": "RUNNING",
             "container_status": {"container_id": {"value": "web-1"}, "executor_pid": 4242},
             "resource_statistics": {"timestamp": 1.0, "cpus_limit": 2.0, "cpus_soft_limit": 0.5,
                                     "mem_limit_bytes": 67_108_864, "mem_rss_bytes": 1_843_200}},
            {"container_id": {"value": "cfs"}, "state": "RUNNING",
             "resource_statistics": {"timestamp": 1.0, "cpus_limit": 0.25, "cpus_soft_limit": 0.25}},
            {"container_id": {"value": "batch"}, "state": "TERMINATED"}]}});
        // On a 2-cpu node: web-1 has no hard limit (the node), cfs a quota of its allocation.
        assert_eq!(
            ps_table(&answer, Some(2.0)),
            "ID     STATE       PID   CPUS             MEM      RSS\n\
             web-1  RUNNING     4242  0.5              64.0MiB  1.8MiB\n\
             cfs    RUNNING     -     0.25 (max 0.25)  -        -\n\
             batch  TERMINATED  -     -                -        -\n"
        );
        // Without the node's cpus no limit is claimed; without a soft limit the limit stands in.
        let old = json!({"get_containers": {"containers": [{"container_id": {"value": "a"},
            "resource_statistics": {"timestamp": 1.0, "cpus_limit": 1.0}}]}});
        assert_eq!(
            ps_table(&old, None),
            "ID  STATE  PID  CPUS  MEM  RSS\na   -      -    1     -    -\n"
        );
        assert_eq!(
            ps_table(&json!({"get_containers": {}}), None),
            "ID  STATE  PID  CPUS  MEM  RSS\n"
        );
        let metrics =
            json!({"get_metrics": {"metrics": [{"name": "slave/cpus_total", "value": 2.0}]}});
        assert_eq!(
            crate::cli::agent::metric(&metrics, "slave/cpus_total"),
            Some(2.0)
        );
    }

    #[test]
    fn wait_describes_exits_and_signals() {
        let exited = json!({"wait_container": {"exit_status": 10752, "state": "TASK_FAILED"}});
        assert_eq!(
            describe_wait(&exited),
            ("exited 42 (TASK_FAILED)\n".to_string(), 42)
        );
        let killed = json!({"wait_container": {"exit_status": 9, "state": "TASK_KILLED"}});
        assert_eq!(
            describe_wait(&killed),
            ("killed by signal 9 (TASK_KILLED)\n".to_string(), 137)
        );
        let oom = json!({"wait_container": {"exit_status": 9, "state": "TASK_FAILED",
            "reason": "REASON_CONTAINER_LIMITATION_MEMORY", "message": "Memory limit exceeded"}});
        assert_eq!(
            describe_wait(&oom).0,
            "killed by signal 9 (TASK_FAILED)\nreason: REASON_CONTAINER_LIMITATION_MEMORY\n\
             message: Memory limit exceeded\n"
        );
        let failed = json!({"wait_container": {"state": "TASK_FAILED",
            "reason": "REASON_CONTAINER_LAUNCH_FAILED"}});
        assert_eq!(describe_wait(&failed).1, 1);
        let ok = json!({"wait_container": {"exit_status": 0, "state": "TASK_FINISHED"}});
        assert_eq!(
            describe_wait(&ok),
            ("exited 0 (TASK_FINISHED)\n".to_string(), 0)
        );
    }

    #[test]
    fn signals_by_number_and_name() {
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("sigkill"), Ok(9));
        assert_eq!(parse_signal("USR1"), Ok(libc::SIGUSR1));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("BOGUS").is_err());
    }

    #[test]
    fn requests_match_the_api() {
        assert_eq!(
            kill_request("web-1", Some(15)),
            json!({"type": "KILL_CONTAINER",
                   "kill_container": {"container_id": {"value": "web-1"}, "signal": 15}})
        );
        assert_eq!(
            kill_request("web-1", None),
            json!({"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": "web-1"}}})
        );
        assert_eq!(
            rm_request("web-1"),
            json!({"type": "REMOVE_CONTAINER",
                   "remove_container": {"container_id": {"value": "web-1"}}})
        );
        assert_eq!(
            wait_request("web-1"),
            json!({"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": "web-1"}}})
        );
    }
}
