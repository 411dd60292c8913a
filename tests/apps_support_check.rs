//! The app tests' support, checked on its own before the agent's `/v2/apps` runs it (issue 16):
//! the Node.js hello-world image node_image.sh builds from this machine's Node.js answers "Hello
//! World" under `docker run -p`, after a round trip through the registry; marathon_client.py,
//! the PyPI `marathon` 0.13 library's steps, passes against fake_marathon.py and fails (non-zero,
//! the failing step named) when the credentials are wrong, tasks never run, or an answer has a
//! field Marathon's models lack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apps_support;
mod common;
mod dockerd_support;
mod provisioner_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use apps_support::{
    app_marathon, app_marathon_text, curl, docker_on_bridge, marathon_client, node_image,
    node_image_name, PYTHON, SUPPORT,
};
use common::tcp::free_port;
use common::{root_or_skip, Agent};
use provisioner_support::{http, start_registry, TempDir};

#[test]
fn node_image_answers_hello_world_from_the_registry() {
    if !root_or_skip("node_image") {
        return;
    }
    let Some((_one, dir)) = dockerd_support::scratch("appsnode") else {
        return;
    };
    let t = TempDir::new();
    let Some(registry) = start_registry(&t) else {
        return;
    };
    let Some((docker, bridge)) = docker_on_bridge(&dir.join("docker")) else {
        return;
    };
    let Some(image) = node_image(&dir.join("docker"), &dir.join("build"), registry.port) else {
        return;
    };
    assert_eq!(image, node_image_name(registry.port));
    let (code, _, body) = http(
        "GET",
        &format!(
            "{}/v2/containersol/nodejs_app/manifests/latest",
            registry.base()
        ),
        &[(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
        &[],
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let entrypoint = docker.run(&["inspect", "-f", "{{json .Config.Entrypoint}}", &image]);
    assert_eq!(entrypoint.trim(), r#"["/usr/bin/node","/app/app.js"]"#);

    // From the registry, not the local copy: what an agent pulling the image gets.
    docker.run(&["rmi", &image]);
    let port = free_port();
    let name = format!("mlnode{}", std::process::id());
    docker.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:8000"),
        &image,
    ]);
    let url = format!("http://127.0.0.1:{port}/");
    let mut body = None;
    Agent::eventually(
        "node answers on the mapped port",
        Duration::from_secs(30),
        || {
            body = curl(&url);
            body.is_some()
        },
    );
    // The seed's App.js ends its answer with a tab.
    assert_eq!(body.as_deref(), Some("Hello World\t"));
    let logs = docker.run(&["logs", &name]);
    assert!(
        logs.contains("Server running at http://127.0.0.1:8000/"),
        "{logs}"
    );
    docker.run(&["rm", "-f", &name]);

    // The seed's app definition, aimed at this registry.
    let app = app_marathon(registry.port);
    assert_eq!(app["id"], "app");
    assert_eq!(app["container"]["docker"]["image"], image.as_str());
    assert_eq!(
        app["container"]["docker"]["portMappings"][0]["containerPort"],
        8000
    );
    assert!(!app_marathon_text(registry.port).contains("{{"));
    drop(docker);
    drop(bridge);
    let _ = std::fs::remove_dir_all(&dir);
}

/// fake_marathon.py on a free port, killed when dropped.
struct FakeMarathon {
    child: Child,
    url: String,
}

impl FakeMarathon {
    fn start(user: &str, fault: Option<&str>) -> FakeMarathon {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(format!("{SUPPORT}/fake_marathon.py")).args([
            "--user",
            user,
            "--port",
            &free_port().to_string(),
        ]);
        if let Some(fault) = fault {
            cmd.args(["--fault", fault]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| {
            let _ = child.kill();
            panic!("fake_marathon.py did not start: {line:?}")
        });
        let url = format!("http://127.0.0.1:{port}");
        FakeMarathon { child, url }
    }
}

impl Drop for FakeMarathon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn marathon_client_script_against_a_fake_marathon() {
    let user = "mlprincipal:mlsecret";
    let fake = FakeMarathon::start(user, None);
    let Some(run) = marathon_client(&fake.url, user, "/mlclient", 30) else {
        return;
    };
    assert!(run.ok(), "{run:?}");
    let steps: Vec<&str> = run
        .steps
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["create", "list", "scale", "running", "tasks", "delete", "stopped"]
    );
    assert!(run.steps.iter().all(|s| s["ok"] == true), "{run:?}");
    assert_eq!(run.step("create").unwrap()["id"], "/mlclient");
    let tasks = run.step("tasks").unwrap()["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{run:?}");
    for task in tasks {
        assert!(task["id"].as_str().unwrap().starts_with("mlclient."));
        assert_eq!(task["state"], "TASK_RUNNING");
        assert!(task["ports"][0].as_u64().unwrap() >= 31000, "{task}");
        assert!(task["startedAt"].as_str().is_some(), "{task}");
    }
    assert_eq!(run.step("stopped").unwrap()["apps"], serde_json::json!([]));

    // A path with a group works the same (ids as Marathon nests them).
    let run = marathon_client(&fake.url, user, "/ml/grouped", 30).unwrap();
    assert!(run.ok(), "{run:?}");
    drop(fake);
}

/// Runs the client as `user` against a fake with `fault`; asserts it exits 1 at `step` with an
/// error containing `error`.
fn fails_at(fault: Option<&str>, user: &str, timeout_s: u32, step: &str, error: &str) {
    let fake = FakeMarathon::start("mlprincipal:mlsecret", fault);
    let Some(run) = marathon_client(&fake.url, user, "/mlbad", timeout_s) else {
        return;
    };
    assert_eq!(run.status, Some(1), "{run:?}");
    assert_eq!(run.last()["step"], step, "{run:?}");
    assert_eq!(run.last()["ok"], false, "{run:?}");
    let text = run.last()["error"].as_str().unwrap();
    assert!(text.contains(error), "{error:?} not in {run:?}");
}

#[test]
fn marathon_client_script_fails_when_marathon_misbehaves() {
    fails_at(None, "mlprincipal:wrong", 5, "create", "HTTP 401");
    fails_at(
        Some("never-run"),
        "mlprincipal:mlsecret",
        2,
        "running",
        "TASK_STAGING",
    );
    // Any answer field the library's models do not know is a TypeError in the client: what
    // keeps the agent's answers to Marathon's names.
    fails_at(
        Some("unknown-field"),
        "mlprincipal:mlsecret",
        5,
        "create",
        "unexpected keyword argument 'mesolite_extra'",
    );
}
