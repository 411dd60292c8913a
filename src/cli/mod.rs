//! The CLI verbs (`launch`, `ps`, `wait`, `kill`, `rm`, `stats`, `logs`, `app`, `nodes`): thin clients of the
//! agent's unix socket, with human tables by default and `--json` for scripts.

mod agent;
mod apps;
mod args;
mod containers;
mod launch;
mod logs;
mod nodes;
mod stats;
mod table;

use std::io::Write;

pub use agent::{CliError, DEFAULT_SOCKET};

/// The verbs this module handles (`agent` is the daemon's, dispatched elsewhere).
pub const VERBS: [&str; 9] = [
    "launch", "ps", "wait", "kill", "rm", "stats", "logs", "app", "nodes",
];

/// The environment variable naming the socket when `--socket` is not given.
pub const SOCKET_ENV: &str = "MESOLITE_SOCKET";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Launch,
    Ps,
    Wait,
    Kill,
    Rm,
    Stats,
    Logs,
    App,
    Nodes,
}

impl Verb {
    fn parse(verb: &str) -> Option<Verb> {
        match verb {
            "launch" => Some(Verb::Launch),
            "ps" => Some(Verb::Ps),
            "wait" => Some(Verb::Wait),
            "kill" => Some(Verb::Kill),
            "rm" => Some(Verb::Rm),
            "stats" => Some(Verb::Stats),
            "logs" => Some(Verb::Logs),
            "app" => Some(Verb::App),
            "nodes" => Some(Verb::Nodes),
            _ => None,
        }
    }

    fn help(self) -> &'static str {
        match self {
            Verb::Launch => launch::HELP,
            Verb::Ps => containers::PS_HELP,
            Verb::Wait => containers::WAIT_HELP,
            Verb::Kill => containers::KILL_HELP,
            Verb::Rm => containers::RM_HELP,
            Verb::Stats => stats::HELP,
            Verb::Logs => logs::HELP,
            Verb::App => apps::HELP,
            Verb::Nodes => nodes::HELP,
        }
    }
}

/// True for the verbs [`run`] handles.
pub fn is_verb(verb: &str) -> bool {
    Verb::parse(verb).is_some()
}

/// Help for every verb.
pub fn usage() -> String {
    let mut text = String::from(
        "usage: mesolite <verb> [options]\n\n\
         mesolite agent [flags]\n    Run the agent (see `mesolite agent --help`).\n",
    );
    for verb in VERBS.into_iter().filter_map(Verb::parse) {
        text.push('\n');
        text.push_str(verb.help());
    }
    text.push_str(&format!(
        "\nCommon options:\n    --socket=PATH  the agent's socket (default: ${SOCKET_ENV}, \
         else {DEFAULT_SOCKET})\n    --json         print the agent's JSON\n    \
         -h, --help     this verb's help\n"
    ));
    text
}

/// Runs `verb` with `args` (the words after the verb), printing to stdout/stderr; returns the
/// process exit code.
pub fn run(verb: &str, args: &[String]) -> i32 {
    let env_socket = std::env::var(SOCKET_ENV).ok();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_with(
        verb,
        args,
        env_socket.as_deref(),
        &mut stdout.lock(),
        &mut stderr.lock(),
    )
}

/// [`run`] with the environment's socket and the output streams passed in.
pub fn run_with(
    verb: &str,
    args: &[String],
    env_socket: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let Some(parsed_verb) = Verb::parse(verb) else {
        // Output errors here have nowhere to be reported.
        let _ = write!(err, "mesolite: unknown verb {verb:?}\n\n{}", usage());
        return 2;
    };
    let help = parsed_verb.help();
    if args::wants_help(args) {
        return match out.write_all(help.as_bytes()) {
            Ok(()) => 0,
            Err(e) => CliError::Output(e).exit_code(),
        };
    }
    let result = match parsed_verb {
        Verb::Launch => launch::run(args, env_socket, out, err),
        Verb::Ps => containers::run_ps(args, env_socket, out),
        Verb::Wait => containers::run_wait(args, env_socket, out),
        Verb::Kill => containers::run_kill(args, env_socket, out),
        Verb::Rm => containers::run_rm(args, env_socket, out),
        Verb::Stats => stats::run(args, env_socket, out),
        Verb::Logs => logs::run(args, env_socket, out),
        Verb::App => apps::run(args, env_socket, out),
        Verb::Nodes => nodes::run(args, env_socket, out),
    };
    let result = result.and_then(|code| out.flush().map(|()| code).map_err(CliError::Output));
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            let _ = match (&e, code) {
                (_, 141) => Ok(()),
                (CliError::Usage(_), _) => write!(err, "mesolite {verb}: {e}\n\n{help}"),
                _ => writeln!(err, "mesolite {verb}: {e}"),
            };
            code
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{json, Value};

    use super::*;
    use crate::http::test_server::FakeServer;
    use crate::http::{Request, Response};

    /// Runs a verb against `socket`, returning (exit code, stdout, stderr).
    fn cli(verb: &str, args: &[&str], socket: &std::path::Path) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let socket = socket.to_string_lossy().into_owned();
        let code = run_with(verb, &args, Some(&socket), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn body_json(req: &Request) -> Value {
        serde_json::from_slice(&req.body).unwrap()
    }

    #[test]
    fn launch_posts_the_call_and_prints_the_id() {
        let server = FakeServer::start(1, |_| Response::new(200).to_bytes(false));
        let (code, out, err) = cli(
            "launch",
            &["--id=web-1", "--mem=64", "sleep", "10"],
            &server.socket,
        );
        assert_eq!((code, out.as_str(), err.as_str()), (0, "web-1\n", ""));
        let reqs = server.requests();
        assert_eq!(reqs[0].path, "/api/v1");
        assert_eq!(reqs[0].header("content-type"), Some("application/json"));
        let sent = body_json(&reqs[0]);
        assert_eq!(sent["type"], "LAUNCH_CONTAINER");
        assert_eq!(sent["launch_container"]["command"]["value"], "sleep 10");
        assert_eq!(sent["launch_container"]["resources"][0]["name"], "mem");
    }

    #[test]
    fn launch_of_an_existing_id_still_succeeds() {
        let server = FakeServer::start(1, |_| Response::new(202).to_bytes(false));
        let (code, out, err) = cli("launch", &["--id=web-1", "--", "true"], &server.socket);
        assert_eq!((code, out.as_str()), (0, "web-1\n"));
        assert_eq!(err, "container web-1 already exists\n");
    }

    #[test]
    fn launch_failure_prints_the_agent_message() {
        let server = FakeServer::start(1, |_| {
            Response::text(400, "unknown resource 'gpus'").to_bytes(false)
        });
        let (code, out, err) = cli("launch", &["true"], &server.socket);
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            "mesolite launch: agent answered 400 Bad Request: unknown resource 'gpus'\n"
        );
    }

    #[test]
    fn wait_exits_with_the_task_code_and_404_is_no_such_container() {
        let server = FakeServer::start(2, |req| {
            if body_json(req)["wait_container"]["container_id"]["value"] == "gone" {
                return Response::text(404, "unknown container").to_bytes(false);
            }
            let answer = json!({"type": "WAIT_CONTAINER",
                "wait_container": {"exit_status": 10752, "state": "TASK_FAILED"}});
            Response::json(200, &answer).to_bytes(false)
        });
        let (code, out, _) = cli("wait", &["web-1"], &server.socket);
        assert_eq!((code, out.as_str()), (42, "exited 42 (TASK_FAILED)\n"));
        let (code, out, err) = cli("wait", &["gone"], &server.socket);
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(err, "mesolite wait: no such container: gone\n");
    }

    #[test]
    fn ps_json_prints_the_agent_answer_verbatim() {
        let answer = json!({"type": "GET_CONTAINERS", "get_containers": {"containers": []}});
        let sent = answer.clone();
        let server = FakeServer::start(1, move |_| Response::json(200, &sent).to_bytes(false));
        let (code, out, _) = cli("ps", &["--json"], &server.socket);
        assert_eq!(code, 0);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), answer);
        assert_eq!(body_json(&server.requests()[0]), containers::ps_request());
    }

    #[test]
    fn nodes_lists_the_fleet_with_its_scheduler() {
        let answer = json!({"slaves": [
            {"hostname": "node-a", "address": "10.0.0.1:5051", "tasks": 2, "leader": true,
             "resources": {"cpus": 2.0, "mem": 1024.0, "ports": "[31000-31099]"},
             "used_resources": {"cpus": 0.5, "mem": 64.0}},
            {"hostname": "node-b", "address": null, "tasks": 0, "leader": false,
             "resources": {"cpus": 4.0, "mem": 2048.0, "ports": ""}, "used_resources": {}},
        ]});
        let server = FakeServer::start(1, move |_| Response::json(200, &answer).to_bytes(false));
        let (code, out, err) = cli("nodes", &[], &server.socket);
        assert_eq!(code, 0, "{err}");
        assert_eq!(server.requests()[0].path, "/master/slaves");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("HOSTNAME"), "{out}");
        let a: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            a,
            [
                "node-a",
                "10.0.0.1:5051",
                "0.5/2",
                "64M/1024M",
                "[31000-31099]",
                "2",
                "*"
            ]
        );
        let b: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(b, ["node-b", "-", "0/4", "0M/2048M", "0"]);
    }

    #[test]
    fn kill_sends_the_named_signal() {
        let server = FakeServer::start(1, |_| Response::new(200).to_bytes(false));
        let (code, out, _) = cli("kill", &["--signal=TERM", "web-1"], &server.socket);
        assert_eq!((code, out.as_str()), (0, "web-1\n"));
        assert_eq!(
            body_json(&server.requests()[0]),
            containers::kill_request("web-1", Some(15))
        );
    }

    #[test]
    fn stats_reads_the_monitor_endpoint() {
        let server = FakeServer::start(1, |_| {
            let answer = json!([{"container_id": "web-1",
                "statistics": {"timestamp": 1.0, "mem_rss_bytes": 1024, "processes": 1}}]);
            Response::json(200, &answer).to_bytes(false)
        });
        let (code, out, _) = cli("stats", &["web-1"], &server.socket);
        assert_eq!(code, 0);
        assert!(out.starts_with("ID     CPU-USER"), "{out}");
        assert!(
            out.contains("web-1  -         -        -     1.0KiB  -          1"),
            "{out}"
        );
        assert_eq!(server.requests()[0].path, "/monitor/statistics");
    }

    #[test]
    fn logs_follow_polls_until_terminated_and_drained() {
        let reads = Arc::new(Mutex::new(0));
        let states = Arc::new(Mutex::new(vec!["TERMINATED", "RUNNING"]));
        let (reads_in, states_in) = (Arc::clone(&reads), Arc::clone(&states));
        // Reads: "hello " / empty / (RUNNING) "world" / empty / (TERMINATED) empty → end.
        let server = FakeServer::start(8, move |req| {
            let answer = match req.path.as_str() {
                "/flags" => json!({"flags": {"work_dir": "/w"}}),
                "/files/read" => {
                    let mut n = reads_in.lock().unwrap();
                    *n += 1;
                    let data = match *n {
                        1 => "hello ",
                        3 => "world\n",
                        _ => "",
                    };
                    json!({"data": data, "offset": req.query_param("offset")})
                }
                _ => {
                    let state = states_in.lock().unwrap().pop().unwrap_or("TERMINATED");
                    json!({"get_containers": {"containers": [
                        {"container_id": {"value": "web-1"}, "state": state}]}})
                }
            };
            Response::json(200, &answer).to_bytes(false)
        });
        let (code, out, err) = cli("logs", &["-f", "web-1"], &server.socket);
        assert_eq!((code, out.as_str(), err.as_str()), (0, "hello world\n", ""));
        let reqs = server.requests();
        let targets: Vec<&str> = reqs.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets[0], "/flags");
        assert_eq!(
            targets[1],
            "/files/read?path=/w/containers/web-1/stdout&offset=0&length=1048576"
        );
        assert_eq!(
            targets[4],
            "/files/read?path=/w/containers/web-1/stdout&offset=6&length=1048576"
        );
        assert_eq!(reqs.len(), 8);
        assert!(states.lock().unwrap().is_empty());
    }

    #[test]
    fn logs_of_a_missing_file_is_no_such_container() {
        let server = FakeServer::start(2, |req| match req.path.as_str() {
            "/flags" => Response::json(200, &json!({"flags": {"work_dir": "/w"}})).to_bytes(false),
            _ => Response::text(404, "not found").to_bytes(false),
        });
        let (code, _, err) = cli("logs", &["nope", "stderr"], &server.socket);
        assert_eq!(
            (code, err.as_str()),
            (1, "mesolite logs: no such container: nope\n")
        );
        assert!(server.requests()[1]
            .target
            .contains("/w/containers/nope/stderr"));
    }

    #[test]
    fn connection_failure_names_the_socket() {
        let (code, _, err) = cli("ps", &[], std::path::Path::new("/nonexistent/agent.sock"));
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "mesolite ps: cannot connect to /nonexistent/agent.sock: No such file or directory \
             (is the agent running?)\n"
        );
    }

    #[test]
    fn usage_errors_help_and_unknown_verbs() {
        let nowhere = std::path::Path::new("/nonexistent/agent.sock");
        let (code, _, err) = cli("wait", &[], nowhere);
        assert_eq!(code, 2);
        assert!(
            err.starts_with("mesolite wait: missing ID\n\nmesolite wait"),
            "{err}"
        );
        let (code, out, _) = cli("kill", &["--help"], nowhere);
        assert_eq!((code, out.as_str()), (0, containers::KILL_HELP));
        let (code, _, err) = cli("kill", &["--signal=BOGUS", "x"], nowhere);
        assert_eq!(code, 2, "{err}");
        let (code, _, err) = cli("frobnicate", &[], nowhere);
        assert_eq!(code, 2);
        assert!(err.contains("unknown verb") && err.contains("mesolite logs"));
        assert!(is_verb("logs") && !is_verb("agent"));
        for verb in VERBS {
            assert!(usage().contains(&format!("mesolite {verb} ")), "{verb}");
        }
    }
}
