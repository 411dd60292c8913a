//! `mesolite app deploy|ls|rm`: Marathon apps through the agent's `/v2/apps`.

use std::io::Write;

use serde_json::Value;

use super::agent::{answer_json, CliError, Common};
use super::args::{parse, ArgError, OptSpec};
use super::table::{format_table, human_cpus};

pub const HELP: &str = "\
mesolite app deploy [--force] FILE | app ls | app rm ID   [--json] [--socket=PATH]
    Marathon apps kept running by the agent. `deploy` posts the app definition in FILE
    (Marathon's JSON; `-` reads stdin) and updates the app when it exists (a rolling
    replacement of its instances if anything but `instances` changed); `ls` lists the apps
    with their running, staged and healthy instances and restarts; `rm` deletes an app and
    kills its instances.
";

pub fn run(args: &[String], env: Option<&str>, out: &mut dyn Write) -> Result<i32, CliError> {
    let parsed = parse(args, &[OptSpec::flag("force")], false)?;
    let common = Common::from_parsed(&parsed, env);
    let Some(sub) = parsed.positional.first() else {
        return Err(CliError::Usage(ArgError::MissingArgument(
            "deploy, ls or rm",
        )));
    };
    match sub.as_str() {
        "deploy" => {
            parsed.expect_positional(&["deploy", "FILE"], 0)?;
            deploy(&common, &parsed.positional[1], parsed.flag("force"), out)
        }
        "ls" => {
            parsed.expect_positional(&["ls"], 0)?;
            ls(&common, out)
        }
        "rm" => {
            parsed.expect_positional(&["rm", "ID"], 0)?;
            rm(&common, &parsed.positional[1], out)
        }
        other => Err(CliError::Usage(ArgError::ExtraArgument(other.to_string()))),
    }
}

const JSON_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

fn agent_error(resp: &crate::http::ClientResponse) -> CliError {
    // Marathon's errors: {"message": ..., "details": [{"path", "errors"}]}.
    let body = match resp.json() {
        Ok(v) => {
            let mut text = v["message"].as_str().unwrap_or_default().to_string();
            for d in v["details"].as_array().into_iter().flatten() {
                let errors: Vec<&str> = d["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                text.push_str(&format!(
                    "\n  {}: {}",
                    d["path"].as_str().unwrap_or("/"),
                    errors.join("; ")
                ));
            }
            if text.is_empty() {
                resp.text()
            } else {
                text
            }
        }
        Err(_) => resp.text(),
    };
    CliError::Agent {
        status: resp.status,
        body: body.trim().to_string(),
    }
}

fn deploy(common: &Common, file: &str, force: bool, out: &mut dyn Write) -> Result<i32, CliError> {
    let text = if file == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CliError::Input(format!("reading stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| CliError::Input(format!("{file}: {e}")))?
    };
    let def: Value =
        serde_json::from_str(&text).map_err(|e| CliError::Input(format!("{file}: {e}")))?;
    let id = def["id"].as_str().unwrap_or_default().to_string();
    let client = common.client();
    let target = if force {
        "/v2/apps?force=true"
    } else {
        "/v2/apps"
    };
    let mut resp = client.request("POST", target, &JSON_HEADERS, text.as_bytes())?;
    if resp.status == 409 && !id.is_empty() {
        // It exists: deploy the new definition over it.
        let path = format!("/v2/apps/{}", id.trim_start_matches('/'));
        resp = client.request("PUT", &path, &JSON_HEADERS, text.as_bytes())?;
    }
    if !(200..=299).contains(&resp.status) {
        return Err(agent_error(&resp));
    }
    if common.json {
        out.write_all(&resp.body)?;
        writeln!(out)?;
        return Ok(0);
    }
    let answer = answer_json(&resp, "app")?;
    let deployment = answer["deploymentId"]
        .as_str()
        .or_else(|| answer["deployments"][0]["id"].as_str())
        .unwrap_or("-");
    let shown = answer["id"].as_str().map_or(id.as_str(), |s| s);
    writeln!(out, "{shown} (deployment {deployment})")?;
    Ok(0)
}

fn ls(common: &Common, out: &mut dyn Write) -> Result<i32, CliError> {
    let resp = common.client().get("/v2/apps?embed=apps.restarts")?;
    if resp.status != 200 {
        return Err(agent_error(&resp));
    }
    if common.json {
        out.write_all(&resp.body)?;
        writeln!(out)?;
        return Ok(0);
    }
    let answer = answer_json(&resp, "app list")?;
    let rows: Vec<Vec<String>> = answer["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let what = a["container"]["docker"]["image"]
                .as_str()
                .map(str::to_string)
                .or_else(|| a["cmd"].as_str().map(str::to_string))
                .or_else(|| a["args"].as_array().map(|v| format!("{v:?}")))
                .unwrap_or_default();
            let n = |k: &str| a[k].as_i64().unwrap_or(0).to_string();
            vec![
                a["id"].as_str().unwrap_or_default().to_string(),
                format!("{}/{}", n("tasksRunning"), n("instances")),
                n("tasksStaged"),
                n("tasksHealthy"),
                n("restarts"),
                if a["deployments"].as_array().is_some_and(|d| !d.is_empty()) {
                    "yes".into()
                } else {
                    "-".into()
                },
                human_cpus(a["cpus"].as_f64().unwrap_or(0.0)),
                format!("{}M", a["mem"].as_f64().unwrap_or(0.0)),
                what,
            ]
        })
        .collect();
    out.write_all(
        format_table(
            &[
                "ID",
                "RUNNING",
                "STAGED",
                "HEALTHY",
                "RESTARTS",
                "DEPLOYING",
                "CPUS",
                "MEM",
                "IMAGE/CMD",
            ],
            &rows,
        )
        .as_bytes(),
    )?;
    Ok(0)
}

fn rm(common: &Common, id: &str, out: &mut dyn Write) -> Result<i32, CliError> {
    let path = format!("/v2/apps/{}", id.trim_start_matches('/'));
    let resp = common
        .client()
        .request("DELETE", &path, &JSON_HEADERS, &[])?;
    if !(200..=299).contains(&resp.status) {
        return Err(agent_error(&resp));
    }
    if common.json {
        out.write_all(&resp.body)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{id}")?;
    }
    Ok(0)
}
