//! The CLI verbs against a real agent: launch, ps, wait, stats, logs, kill, rm.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::{root_or_skip, Agent};

fn cli(agent: &Agent, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(args)
        .env("MESOLITE_SOCKET", &agent.socket)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_verbs_drive_a_container_through_its_life() {
    if !root_or_skip("cli") {
        return;
    }
    let agent = Agent::start(&[]);
    let o = cli(
        &agent,
        &[
            "launch",
            "--id=web",
            "--cpus=0.2",
            "--mem=32",
            "--",
            "echo hello; echo oops >&2; sleep 1000",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o).trim(), "web");
    let ps = stdout(&cli(&agent, &["ps"]));
    assert!(ps.contains("web") && ps.contains("RUNNING"), "{ps}");
    let stats = stdout(&cli(&agent, &["stats", "--json", "web"]));
    assert!(stats.contains("mem_limit_bytes"), "{stats}");
    Agent::eventually("stdout written", std::time::Duration::from_secs(10), || {
        stdout(&cli(&agent, &["logs", "web"])).contains("hello")
    });
    assert!(stdout(&cli(&agent, &["logs", "web", "stderr"])).contains("oops"));
    assert!(cli(&agent, &["kill", "--signal=KILL", "web"])
        .status
        .success());
    let w = cli(&agent, &["wait", "--json", "web"]);
    assert!(stdout(&w).contains("\"exit_status\":9"), "{}", stdout(&w));
    assert_eq!(w.status.code(), Some(128 + 9));
    // logs -f ends by itself once the container is terminated and the file drained.
    let f = cli(&agent, &["logs", "-f", "web"]);
    assert!(f.status.success());
    assert_eq!(stdout(&f), "hello\n");
    assert!(cli(&agent, &["rm", "web"]).status.success());
    let gone = cli(&agent, &["wait", "web"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no such container"));
    let exit3 = cli(&agent, &["launch", "--id=three", "--", "exit 3"]);
    assert!(exit3.status.success());
    assert_eq!(cli(&agent, &["wait", "three"]).status.code(), Some(3));
}

#[test]
fn a_missing_agent_is_a_clear_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_mesolite"))
        .args(["ps", "--socket=/nonexistent/agent.sock"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/agent.sock"));
}

/// The CPUS of `ps`, on the node's cpus: without a CFS quota a `--cpus=0.5` container shows its
/// allocation, 0.5 (Mesos's `cpus_limit` is then the whole node, no limit); with one, the quota too.
#[test]
fn ps_shows_the_cpu_allocation_and_a_hard_limit_only_where_set() {
    if !root_or_skip("cli_ps_cpus") {
        return;
    }
    for (flags, want) in [
        (&[][..], "0.5"),
        (&["--cgroups_enable_cfs"][..], "0.5 (max 0.5)"),
    ] {
        let agent = Agent::start(flags);
        // Mesolite's notion of the node's cpus, as `ps` reads it.
        let total = agent
            .call(serde_json::json!({"type": "GET_METRICS", "get_metrics": {}}))
            .json()
            .unwrap()["get_metrics"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "slave/cpus_total")
            .unwrap()["value"]
            .as_f64()
            .unwrap();
        let o = cli(
            &agent,
            &[
                "launch",
                "--id=half",
                "--cpus=0.5",
                "--mem=32",
                "--",
                "sleep 1000",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let ps = stdout(&cli(&agent, &["ps"]));
        let row = ps.lines().find(|l| l.starts_with("half ")).unwrap();
        let cells: Vec<&str> = row
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        // ID, STATE, PID, CPUS, MEM, RSS; never the whole node's cpus as the container's.
        assert_eq!(cells[3], want, "{flags:?} on {total} cpus:\n{ps}");
    }
}
