//! `mesolite nodes`: the fleet's nodes through the agent's `/master/slaves`.

use std::io::Write;

use super::agent::{answer_json, CliError, Common};
use super::args::parse;
use super::table::{format_table, human_cpus};

pub const HELP: &str = "\
mesolite nodes   [--json] [--socket=PATH]
    The nodes of the fleet (agents sharing --etcd_endpoints), as the agent sees them: each
    node's address, resources and what is allocated of them, its app instances, and which
    node schedules now (LEADER). A single agent lists itself.
";

pub fn run(args: &[String], env: Option<&str>, out: &mut dyn Write) -> Result<i32, CliError> {
    let parsed = parse(args, &[], false)?;
    parsed.expect_positional(&[], 0)?;
    let common = Common::from_parsed(&parsed, env);
    let resp = common.client().get("/master/slaves")?;
    if resp.status != 200 {
        return Err(CliError::Agent {
            status: resp.status,
            body: resp.text().trim().to_string(),
        });
    }
    if common.json {
        out.write_all(&resp.body)?;
        writeln!(out)?;
        return Ok(0);
    }
    let answer = answer_json(&resp, "node list")?;
    let rows: Vec<Vec<String>> = answer["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let r = &n["resources"];
            let u = &n["used_resources"];
            let pair = |k: &str, f: &dyn Fn(f64) -> String| {
                format!(
                    "{}/{}",
                    f(u[k].as_f64().unwrap_or(0.0)),
                    f(r[k].as_f64().unwrap_or(0.0))
                )
            };
            vec![
                n["hostname"].as_str().unwrap_or_default().to_string(),
                n["address"].as_str().unwrap_or("-").to_string(),
                pair("cpus", &human_cpus),
                pair("mem", &|m| format!("{m}M")),
                r["ports"].as_str().unwrap_or_default().to_string(),
                n["tasks"].as_u64().unwrap_or(0).to_string(),
                if n["leader"] == true {
                    "*".into()
                } else {
                    "".into()
                },
            ]
        })
        .collect();
    let headers = [
        "HOSTNAME", "ADDRESS", "CPUS", "MEM", "PORTS", "TASKS", "LEADER",
    ];
    out.write_all(format_table(&headers, &rows).as_bytes())?;
    Ok(0)
}
