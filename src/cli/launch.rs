//! `mesolite launch`: LAUNCH_CONTAINER.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::agent::{call, container_id, CliError, Common};
use super::args::{parse, ArgError, OptSpec, Parsed};

pub const HELP: &str = "\
mesolite launch [--id=ID] [--cpus=N] [--mem=MB] [--disk=MB] [--env=K=V]... [--user=U]
                [--hostname=H] [--image=NAME | --appc-image=NAME[:VERSION]] [--force-pull]
                [--no-shell] [--json] [--socket=PATH] [--] COMMAND [ARGS...]
    Launch a container running COMMAND (through /bin/sh -c unless --no-shell) and print its ID.
    Without --id, an ID is generated. An ID already in use is reported, not an error.
    --image runs it in a Docker image ([host[:port]/]repo[:tag|@digest]), --appc-image in an AppC
    image (VERSION is its version label); without COMMAND the image's own command runs.
    --force-pull fetches the image again even if it is in the store (cached: false).
";

const SPECS: [OptSpec; 11] = [
    OptSpec::value("id"),
    OptSpec::value("cpus"),
    OptSpec::value("mem"),
    OptSpec::value("disk"),
    OptSpec::value("env"),
    OptSpec::value("user"),
    OptSpec::value("hostname"),
    OptSpec::flag("no-shell"),
    OptSpec::value("image"),
    OptSpec::value("appc-image"),
    OptSpec::flag("force-pull"),
];

/// The image a launch names, if any.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageArg {
    Docker(String),
    Appc {
        name: String,
        version: Option<String>,
    },
}

impl ImageArg {
    /// `container.mesos.image` for this image.
    fn to_json(&self, cached: bool) -> Value {
        match self {
            ImageArg::Docker(name) => {
                json!({"type": "DOCKER", "docker": {"name": name}, "cached": cached})
            }
            ImageArg::Appc { name, version } => {
                let labels: Vec<Value> = version
                    .iter()
                    .map(|v| json!({"key": "version", "value": v}))
                    .collect();
                json!({"type": "APPC", "cached": cached,
                       "appc": {"name": name, "labels": {"labels": labels}}})
            }
        }
    }
}

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
    pub image: Option<ImageArg>,
    /// `--force-pull`: the image's `cached` is false.
    pub force_pull: bool,
    /// Empty only with an image: its own command runs.
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
    let image = match (parsed.value("image"), parsed.value("appc-image")) {
        (Some(_), Some(_)) => {
            return Err(ArgError::BadValue {
                option: "--appc-image".to_string(),
                value: parsed.value("appc-image").unwrap_or_default().to_string(),
                expected: "not both --image and --appc-image",
            })
        }
        (Some(name), None) if !name.is_empty() => Some(ImageArg::Docker(name.to_string())),
        (None, Some(text)) if !text.is_empty() && !text.starts_with(':') => {
            // An AppC name may hold '/', '.', '-' but no ':', so the first ':' starts the version.
            let (name, version) = match text.split_once(':') {
                Some((name, version)) if !version.is_empty() => (name, Some(version.to_string())),
                Some(_) => {
                    return Err(ArgError::BadValue {
                        option: "--appc-image".to_string(),
                        value: text.to_string(),
                        expected: "NAME or NAME:VERSION",
                    })
                }
                None => (text, None),
            };
            Some(ImageArg::Appc {
                name: name.to_string(),
                version,
            })
        }
        (None, None) => None,
        (docker, appc) => {
            let (option, value) = match docker {
                Some(v) => ("--image", v),
                None => ("--appc-image", appc.unwrap_or_default()),
            };
            return Err(ArgError::BadValue {
                option: option.to_string(),
                value: value.to_string(),
                expected: "an image name",
            });
        }
    };
    if parsed.positional.is_empty() && image.is_none() {
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
        image,
        force_pull: parsed.flag("force-pull"),
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
        // No command (an image's own runs): no value, and not through a shell.
        (_, None) => json!({"shell": false}),
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
    if args.hostname.is_some() || args.image.is_some() {
        let mut container = json!({"type": "MESOS"});
        if let Some(hostname) = &args.hostname {
            container["hostname"] = json!(hostname);
        }
        if let Some(image) = &args.image {
            container["mesos"] = json!({"image": image.to_json(!args.force_pull)});
        }
        launch["container"] = container;
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
    fn images_go_into_container_mesos_image() {
        let (launch, _) = parse_launch(&args(&["--image=busybox:1.36", "--hostname=h"])).unwrap();
        assert_eq!(
            launch_request(&launch, "c-1")["launch_container"],
            json!({"container_id": {"value": "c-1"}, "command": {"shell": false},
                   "resources": [], "container": {"type": "MESOS", "hostname": "h",
                   "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox:1.36"},
                                       "cached": true}}}})
        );
        let (launch, _) = parse_launch(&args(&[
            "--appc-image=example.com/app:1.0",
            "--force-pull",
            "--",
            "ls",
        ]))
        .unwrap();
        assert_eq!(
            launch_request(&launch, "c-2")["launch_container"]["container"],
            json!({"type": "MESOS", "mesos": {"image": {"type": "APPC", "cached": false,
                   "appc": {"name": "example.com/app",
                            "labels": {"labels": [{"key": "version", "value": "1.0"}]}}}}})
        );
        let (launch, _) = parse_launch(&args(&["--appc-image=example.com/app"])).unwrap();
        assert_eq!(
            launch.image,
            Some(ImageArg::Appc {
                name: "example.com/app".into(),
                version: None
            })
        );
        for bad in [
            &["--image=a", "--appc-image=b"][..],
            &["--image="],
            &["--appc-image=app:"],
            &["--appc-image=:1"],
        ] {
            assert!(
                matches!(parse_launch(&args(bad)), Err(ArgError::BadValue { .. })),
                "{bad:?}"
            );
        }
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
