//! `mesolite launch`: LAUNCH_CONTAINER.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::agent::{call, container_id, CliError, Common};
use super::args::{parse, ArgError, OptSpec, Parsed};

pub const HELP: &str = "\
mesolite launch [--id=ID] [--cpus=N] [--mem=MB] [--disk=MB] [--env=K=V]... [--user=U]
                [--hostname=H] [--no-shell] [--json] [--socket=PATH] [--] COMMAND [ARGS...]
    Launch a container running COMMAND (through /bin/sh -c unless --no-shell) and print its ID.
    Without --id, an ID is generated. An ID already in use is reported, not an error.
";

const SPECS: [OptSpec; 8] = [
    OptSpec::value("id"),
    OptSpec::value("cpus"),
    OptSpec::value("mem"),
    OptSpec::value("disk"),
    OptSpec::value("env"),
    OptSpec::value("user"),
    OptSpec::value("hostname"),
    OptSpec::flag("no-shell"),
];

/// A launch command line, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchArgs {
    pub id: Option<String>,
    pub cpus: Option<f64>,
    pub mem_mb: Option<f64>,
    pub disk_mb: Option<f64>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub shell: bool,
    pub command: Vec<String>,
}

fn positive(parsed: &Parsed, name: &str) -> Result<Option<f64>, ArgError> {
    let Some(text) = parsed.value(name) else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        _ => Err(ArgError::BadValue {
            option: format!("--{name}"),
            value: text.to_string(),
            expected: "a positive number",
        }),
    }
}

pub fn parse_launch(args: &[String]) -> Result<(LaunchArgs, Parsed), ArgError> {
    let parsed = parse(args, &SPECS, true)?;
    let env = parsed
        .values("env")
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(ArgError::BadValue {
                option: "--env".to_string(),
                value: kv.to_string(),
                expected: "NAME=VALUE",
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if parsed.positional.is_empty() {
        return Err(ArgError::MissingArgument("COMMAND"));
    }
    let launch = LaunchArgs {
        id: parsed.value("id").map(str::to_string),
        cpus: positive(&parsed, "cpus")?,
        mem_mb: positive(&parsed, "mem")?,
        disk_mb: positive(&parsed, "disk")?,
        env,
        user: parsed.value("user").map(str::to_string),
        hostname: parsed.value("hostname").map(str::to_string),
        shell: !parsed.flag("no-shell"),
        command: parsed.positional.clone(),
    };
    Ok((launch, parsed))
}

/// A fresh container ID from the time and pid: `c-` + hex, valid as a Mesos ContainerID.
pub fn generate_id(now: SystemTime, pid: u32) -> String {
    let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    // The low 48 bits of nanoseconds wrap every ~3 days: plenty to tell launches apart.
    format!("c-{:012x}{:x}", nanos & 0xffff_ffff_ffff, pid)
}

/// Quotes one word for `/bin/sh` when it holds anything the shell would interpret.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The shell command line for `command`: a single argument is taken as written (it is a script);
/// several are joined by spaces, each quoted as needed so `sh -c` sees the same words.
pub fn shell_command(command: &[String]) -> String {
    match command {
        [one] => one.clone(),
        words => words
            .iter()
            .map(|w| shell_word(w))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn scalar(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value}})
}

/// The LAUNCH_CONTAINER call for `args` under `id`.
pub fn launch_request(args: &LaunchArgs, id: &str) -> Value {
    let mut command = match (args.shell, args.command.first()) {
        (false, Some(program)) => {
            json!({"value": program, "arguments": args.command, "shell": false})
        }
        _ => json!({"value": shell_command(&args.command), "shell": true}),
    };
    if !args.env.is_empty() {
        let vars: Vec<Value> = args
            .env
            .iter()
            .map(|(k, v)| json!({"name": k, "type": "VALUE", "value": v}))
            .collect();
        command["environment"] = json!({ "variables": vars });
    }
    if let Some(user) = &args.user {
        command["user"] = json!(user);
    }
    let resources: Vec<Value> = [
        ("cpus", args.cpus),
        ("mem", args.mem_mb),
        ("disk", args.disk_mb),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|v| scalar(name, v)))
    .collect();
    let mut launch = json!({
        "container_id": container_id(id),
        "command": command,
        "resources": resources,
    });
    if let Some(hostname) = &args.hostname {
        launch["container"] = json!({"type": "MESOS", "hostname": hostname});
    }
    json!({"type": "LAUNCH_CONTAINER", "launch_container": launch})
}

pub fn run(
    args: &[String],
    env_socket: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CliError> {
    let (launch, parsed) = parse_launch(args)?;
    let common = Common::from_parsed(&parsed, env_socket);
    let id = launch
        .id
        .clone()
        .unwrap_or_else(|| generate_id(SystemTime::now(), std::process::id()));
    let resp = call(&common, &launch_request(&launch, &id), None)?;
    let existed = resp.status == 202;
    if common.json {
        let answer = json!({"container_id": container_id(&id), "already_existed": existed});
        writeln!(out, "{answer}")?;
    } else {
        writeln!(out, "{id}")?;
        if existed {
            writeln!(err, "container {id} already exists")?;
        }
    }
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn builds_a_shell_launch_with_everything() {
        let (launch, _) = parse_launch(&args(&[
            "--id=web-1",
            "--cpus=0.5",
            "--mem",
            "64",
            "--disk=256",
            "--env=MODE=prod",
            "--env=EMPTY=",
            "--user=nobody",
            "--hostname=web",
            "--",
            "./server",
            "--port",
            "8080",
        ]))
        .unwrap();
        assert_eq!(
            launch_request(&launch, "web-1"),
            json!({"type": "LAUNCH_CONTAINER", "launch_container": {
                "container_id": {"value": "web-1"},
                "command": {
                    "value": "./server --port 8080", "shell": true, "user": "nobody",
                    "environment": {"variables": [
                        {"name": "MODE", "type": "VALUE", "value": "prod"},
                        {"name": "EMPTY", "type": "VALUE", "value": ""}]}},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 64.0}},
                    {"name": "disk", "type": "SCALAR", "scalar": {"value": 256.0}}],
                "container": {"type": "MESOS", "hostname": "web"}}})
        );
    }

    #[test]
    fn no_shell_passes_argv() {
        let (launch, _) = parse_launch(&args(&["--no-shell", "sleep", "10"])).unwrap();
        assert_eq!(
            launch_request(&launch, "c-1"),
            json!({"type": "LAUNCH_CONTAINER", "launch_container": {
                "container_id": {"value": "c-1"},
                "command": {"value": "sleep", "arguments": ["sleep", "10"], "shell": false},
                "resources": []}})
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_command(&args(&["echo $HOME | wc"])),
            "echo $HOME | wc"
        );
        assert_eq!(
            shell_command(&args(&["sh", "-c", "echo hi; exit 3"])),
            "sh -c 'echo hi; exit 3'"
        );
        assert_eq!(
            shell_command(&args(&["echo", "it's", ""])),
            r"echo 'it'\''s' ''"
        );
    }

    #[test]
    fn rejects_bad_launch_lines() {
        assert_eq!(
            parse_launch(&args(&["--cpus=1"])).unwrap_err(),
            ArgError::MissingArgument("COMMAND")
        );
        for bad in [
            "--cpus=0",
            "--cpus=-1",
            "--mem=lots",
            "--disk=NaN",
            "--env=NOEQUALS",
            "--env==v",
        ] {
            assert!(
                matches!(
                    parse_launch(&args(&[bad, "true"])),
                    Err(ArgError::BadValue { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let t = UNIX_EPOCH + std::time::Duration::from_nanos(1_764_300_000_123_456_789);
        let id = generate_id(t, 4242);
        assert!(id.starts_with("c-"));
        assert!(!id.contains(['.', '/', ' ']));
        assert_ne!(id, generate_id(t, 4243));
        assert_ne!(
            id,
            generate_id(t + std::time::Duration::from_nanos(1), 4242)
        );
    }
}
