//! Issue 16's walkthrough against a real dockerd and Debian's docker-registry: the seed's Node.js
//! hello-world image pushed to the registry, `app_marathon.json` deployed with 2 instances through
//! the socket, "Hello World" from both assigned host ports; an unknown image is a 422 with nothing
//! left running; and the PyPI `marathon` client, on the TCP listener with credentials, creates,
//! lists, scales and deletes an app and reads its tasks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apps_support;
mod common;
mod dockerd_support;
mod provisioner_support;

use std::process::Command;
use std::time::Duration;

use apps_support::{app_marathon_text, curl, docker_on_bridge, marathon_client, node_image};
use common::{root_or_skip, Agent};
use provisioner_support::{start_registry, TempDir};
use serde_json::Value;

fn running(agent: &Agent, id: &str) -> Vec<Value> {
    let r = agent.client().get(&format!("/v2/apps/{id}/tasks")).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().unwrap()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .cloned()
        .collect()
}

#[test]
fn the_seeds_walkthrough_deploys_hello_world_on_two_host_ports() {
    if !root_or_skip("apps seed walkthrough") {
        return;
    }
    let Some((_one, dir)) = dockerd_support::scratch("appsseed") else {
        return;
    };
    let t = TempDir::new();
    let Some(registry) = start_registry(&t) else {
        return;
    };
    let Some((_docker, _bridge)) = docker_on_bridge(&dir.join("docker")) else {
        return;
    };
    let Some(image) = node_image(&dir.join("docker"), &dir.join("build"), registry.port) else {
        return;
    };
    let socket_flag = format!(
        "--docker_socket={}",
        dir.join("docker/docker.sock").display()
    );
    let agent = Agent::start(&["--containerizers=docker,mesos", &socket_flag]);

    // The seed's app_marathon.json, with 2 instances, posted with the seed's own curl command.
    let text = app_marathon_text(registry.port).replace("\"instances\": 1", "\"instances\": 2");
    assert!(text.contains("\"instances\": 2"), "{text}");
    let file = dir.join("app_marathon.json");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(&agent.socket)
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "http://localhost/v2/apps",
        ])
        .arg(format!("-d@{}", file.display()))
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(answer.ends_with("\n201"), "{answer}\n{}", agent.log_text());
    let app: Value = serde_json::from_str(answer.rsplit_once('\n').unwrap().0).unwrap();
    assert_eq!(app["container"]["docker"]["image"], image.as_str());
    assert_eq!(app["container"]["docker"]["portMappings"][0]["hostPort"], 0);

    let mut tasks = Vec::new();
    Agent::eventually("2 running instances", Duration::from_secs(60), || {
        tasks = running(&agent, "app");
        tasks.len() == 2
    });
    let mut ports: Vec<u64> = tasks
        .iter()
        .map(|t| t["ports"][0].as_u64().unwrap())
        .collect();
    ports.sort();
    // The seed opens localhost:31000: the first instance's port, the next one beside it.
    assert_eq!(ports, vec![31000, 31001], "{tasks:?}");
    for port in &ports {
        let mut body = None;
        Agent::eventually(
            &format!("Hello World on {port}"),
            Duration::from_secs(30),
            || {
                body = curl(&format!("http://127.0.0.1:{port}/"));
                body.as_deref()
                    .is_some_and(|b| b.starts_with("Hello World"))
            },
        );
        println!("curl 127.0.0.1:{port}: {:?}", body.unwrap());
    }

    // An unknown image: 422 at the POST, and nothing is left running or kept.
    let bad = app_marathon_text(registry.port)
        .replace("\"id\": \"app\"", "\"id\": \"nope\"")
        .replace(
            "containersol/nodejs_app:latest",
            "containersol/no_such_image:latest",
        );
    let r = agent
        .client()
        .request(
            "POST",
            "/v2/apps",
            &[("Content-Type", "application/json")],
            bad.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    let body = r.json().unwrap();
    assert_eq!(
        body["details"][0]["path"], "/container/docker/image",
        "{body}"
    );
    assert!(
        body["details"][0]["errors"][0]
            .as_str()
            .unwrap()
            .contains("no_such_image"),
        "{body}"
    );
    assert_eq!(agent.client().get("/v2/apps/nope").unwrap().status, 404);
    Agent::eventually(
        "no container of the refused app",
        Duration::from_secs(30),
        || {
            agent.containers().iter().all(|c| {
                !c["container_id"]["value"]
                    .as_str()
                    .unwrap()
                    .starts_with("nope_")
            })
        },
    );
    let r = agent
        .client()
        .request("DELETE", "/v2/apps/app", &[], &[])
        .unwrap();
    assert_eq!(r.status, 200);
    Agent::eventually(
        "the app's containers are gone",
        Duration::from_secs(60),
        || agent.containers().is_empty(),
    );
}

#[test]
fn the_marathon_client_library_drives_an_app_over_tcp_with_credentials() {
    if !root_or_skip("apps marathon client") {
        return;
    }
    let t = TempDir::new();
    let creds = t.0.join("credentials.json");
    std::fs::write(
        &creds,
        r#"{"credentials": [{"principal": "ops", "secret": "s3cret"}]}"#,
    )
    .unwrap();
    let agent = Agent::start_tcp(&[
        &format!("--http_credentials={}", creds.display()),
        "--authenticate_http_readwrite",
    ]);
    let port = agent.port();
    let url = format!("http://127.0.0.1:{port}");
    let Some(run) = marathon_client(&url, "ops:s3cret", "/mlclient", 60) else {
        return;
    };
    assert!(
        run.ok(),
        "{}\n{}\n{}",
        run.stdout,
        run.stderr,
        agent.log_text()
    );
    for step in [
        "create", "list", "scale", "running", "tasks", "delete", "stopped",
    ] {
        assert!(
            run.step(step).is_some(),
            "step {step} missing: {}",
            run.stdout
        );
    }
    println!("{}", run.stdout.trim());
    // Wrong credentials: the library's create fails.
    let Some(bad) = marathon_client(&url, "ops:wrong", "/mlbad", 10) else {
        return;
    };
    assert!(!bad.ok());
    assert_eq!(bad.last()["step"], "create", "{}", bad.stdout);
}
