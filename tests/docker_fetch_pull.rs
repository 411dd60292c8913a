//! FETCHING and PULLING of DOCKER containers against a private dockerd and Debian's
//! docker-registry on loopback (one anonymous, one behind htpasswd with the credentials in
//! `--docker_config`), Mesos's §9.7 DestroyWhileFetching, DestroyWhilePulling and a fetch
//! failure, and a hung dockerd (SIGSTOP): that launch fails at `--docker_api_timeout` while the
//! agent keeps answering and launching Mesos containers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod dockerd_support;

use std::io::BufRead;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{resources, root_or_skip, Agent};
use dockerd_support::Dockerd;
use serde_json::{json, Value};

const IMAGE: &str = "mesolite-test/busybox:1";
const USER: &str = "mltest";
const PASSWORD: &str = "s3cret";

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's docker-registry on 127.0.0.1, behind htpasswd (bcrypt by libcrypt via perl)
/// when `auth`.
fn registry(dir: &Path, auth: bool) -> Option<(Process, u16)> {
    let binary = Path::new("/usr/bin/docker-registry");
    if !binary.exists() {
        println!("SKIP: docker-registry is not installed (apt-get install docker-registry)");
        return None;
    }
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let mut config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
         http:\n  addr: 127.0.0.1:{port}\n",
        dir.join("storage").display()
    );
    if auth {
        let hash = Command::new("perl")
            .args([
                "-e",
                &format!("print crypt('{PASSWORD}', '$2b$05$abcdefghijklmnopqrstuu')"),
            ])
            .output()
            .unwrap();
        let hash = String::from_utf8(hash.stdout).unwrap();
        assert!(hash.starts_with("$2b$"), "no bcrypt in libcrypt: {hash}");
        let htpasswd = dir.join("htpasswd");
        std::fs::write(&htpasswd, format!("{USER}:{hash}\n")).unwrap();
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: mesolite\n    path: {}\n",
            htpasswd.display()
        ));
    }
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let child = Command::new(binary)
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let process = Process(child);
    Agent::eventually("the registry listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Some((process, port))
}

/// A server that accepts connections and never answers (a stalled download or registry).
fn stalling_server() -> (Process, u16) {
    let script = "import socket,sys\n\
                  s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(64)\n\
                  print(s.getsockname()[1], flush=True)\n\
                  held=[]\n\
                  while True:\n    c,_=s.accept(); held.append(c)\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap();
    (Process(child), port)
}

fn launch_docker(agent: &Agent, id: &str, command: Value, docker: Value) -> (u16, String) {
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id}, "command": command,
        "resources": resources(0.1, 32.0),
        "container": {"type": "DOCKER", "docker": docker}}}));
    (r.status, r.text())
}

/// A launch answered in another thread while the test looks at the agent.
fn launch_in_background(
    agent: &Agent,
    id: &str,
    command: Value,
    docker: Value,
) -> std::thread::JoinHandle<(u16, String)> {
    let client = agent.client();
    let body = json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id}, "command": command,
        "resources": resources(0.1, 32.0),
        "container": {"type": "DOCKER", "docker": docker}}});
    std::thread::spawn(move || {
        let r = client.post_json("/api/v1", &body).unwrap();
        (r.status, r.text())
    })
}

fn state_of(agent: &Agent, id: &str) -> String {
    agent
        .container(id)
        .map(|c| c["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn fetchers_of(pid: u32) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string(), "-f", "mesolite-fetch"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn write_config(path: &Path, host: &str, with_credentials: bool) {
    let auth = if with_credentials {
        // base64("mltest:s3cret")
        json!({"auths": {host: {"auth": "bWx0ZXN0OnMzY3JldA=="}}})
    } else {
        json!({"auths": {}})
    };
    std::fs::write(path, auth.to_string()).unwrap();
}

struct Setup {
    dir: PathBuf,
    docker: Dockerd,
    open_host: String,
    auth_host: String,
    _registries: Vec<Process>,
}

/// dockerd, the two registries and the test image pushed to both.
fn setup(dir: &Path) -> Option<Setup> {
    let (open, open_port) = registry(&dir.join("open-registry"), false)?;
    let (auth, auth_port) = registry(&dir.join("auth-registry"), true)?;
    let docker = Dockerd::start(&dir.join("docker"))?;
    docker.import_busybox(dir, IMAGE);
    let open_host = format!("127.0.0.1:{open_port}");
    let auth_host = format!("127.0.0.1:{auth_port}");
    // The client's own config (its login) apart from root's ~/.docker.
    let client_config = dir.join("client-config");
    std::fs::create_dir_all(&client_config).unwrap();
    let cfg = client_config.to_str().unwrap();
    write_config(&client_config.join("config.json"), &auth_host, true);
    for host in [&open_host, &auth_host] {
        let remote = format!("{host}/mesolite-test/pulled:1");
        docker.run(&["tag", IMAGE, &remote]);
        docker.run(&["--config", cfg, "push", &remote]);
        docker.run(&["rmi", &remote]);
    }
    Some(Setup {
        dir: dir.to_path_buf(),
        docker,
        open_host,
        auth_host,
        _registries: vec![open, auth],
    })
}

#[test]
fn docker_fetching_pulling_and_a_hung_dockerd() {
    if !root_or_skip("docker_fetching_pulling") {
        return;
    }
    let Some((_one, dir)) = dockerd_support::scratch("dockerfp") else {
        return;
    };
    let Some(s) = setup(&dir) else {
        return;
    };
    let config = s.dir.join("agent-docker-config.json");
    write_config(&config, &s.auth_host, true);
    let socket_flag = format!(
        "--docker_socket={}",
        s.dir.join("docker/docker.sock").display()
    );
    let config_flag = format!("--docker_config={}", config.display());
    let agent = Agent::start(&[
        "--containerizers=docker,mesos",
        &socket_flag,
        &config_flag,
        "--docker_api_timeout=10secs",
    ]);
    let agent_pid = agent.child.as_ref().unwrap().id();

    // Fetch, then pull (anonymous registry), then run: the URI is in the mounted sandbox.
    let file = s.dir.join("hello.txt");
    std::fs::write(&file, "fetched\n").unwrap();
    let (status, text) = launch_docker(
        &agent,
        "f1",
        json!({"value": "cat $MESOS_SANDBOX/hello.txt",
               "uris": [{"value": file.to_str().unwrap(), "extract": false}]}),
        json!({"image": format!("{}/mesolite-test/pulled:1", s.open_host), "network": "NONE"}),
    );
    assert_eq!(status, 200, "{text}\n{}", agent.log_text());
    let w = agent.wait_json("f1");
    assert_eq!(w["state"], "TASK_FINISHED", "{w}");
    let out = std::fs::read_to_string(agent.sandbox("f1").join("stdout")).unwrap();
    assert_eq!(out, "fetched\n");
    let log = agent.log_text();
    assert!(log.contains("Container f1: fetching 1 URIs"), "{log}");
    assert!(
        log.contains("Container f1: pull:"),
        "no pull progress: {log}"
    );

    // The registry behind htpasswd: the --docker_config credentials go as X-Registry-Auth.
    let auth_image = json!({"image": format!("{}/mesolite-test/pulled:1", s.auth_host),
                            "network": "NONE", "force_pull_image": true});
    let (status, text) = launch_docker(
        &agent,
        "a1",
        json!({"value": "echo authed"}),
        auth_image.clone(),
    );
    assert_eq!(status, 200, "{text}\n{}", agent.log_text());
    assert_eq!(agent.wait_json("a1")["state"], "TASK_FINISHED");
    assert!(agent
        .log_text()
        .contains(&format!("pulling with the credentials of {}", s.auth_host)));
    // Without them (the file is read at each pull) the registry refuses the pull.
    write_config(&config, &s.auth_host, false);
    let (status, text) = launch_docker(&agent, "a2", json!({"value": "true"}), auth_image);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("Failed to pull image") && text.to_lowercase().contains("auth"),
        "{text}"
    );

    // FetchFailure: the launch fails with the fetcher's error; nothing is pulled or created.
    let (status, text) = launch_docker(
        &agent,
        "ff",
        json!({"value": "true", "uris": [{"value": "/nonexistent/mltest-nothing"}]}),
        json!({"image": IMAGE, "network": "NONE"}),
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("Failed to fetch all URIs for container 'ff'"),
        "{text}"
    );
    assert_eq!(
        agent.wait_json("ff")["reason"],
        "REASON_CONTAINER_LAUNCH_FAILED"
    );

    // DestroyWhileFetching: the fetcher is killed at once, the launch fails.
    let (_stall, stall_port) = stalling_server();
    let launch = launch_in_background(
        &agent,
        "df",
        json!({"value": "true", "uris": [{"value": format!("http://127.0.0.1:{stall_port}/x")}]}),
        json!({"image": IMAGE, "network": "NONE"}),
    );
    Agent::eventually("FETCHING", Duration::from_secs(20), || {
        state_of(&agent, "df") == "FETCHING"
    });
    assert!(!fetchers_of(agent_pid).is_empty());
    assert_eq!(agent.kill("df", Some(9)).status, 200);
    let (status, text) = launch.join().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("destroyed while fetching"), "{text}");
    Agent::eventually("the fetcher gone", Duration::from_secs(10), || {
        fetchers_of(agent_pid).is_empty()
    });
    assert_eq!(state_of(&agent, "df"), "TERMINATED");

    // DestroyWhilePulling: a registry that never answers; the pull is abandoned.
    let launch = launch_in_background(
        &agent,
        "dp",
        json!({"value": "true"}),
        json!({"image": format!("127.0.0.1:{stall_port}/stalled/img:1"), "network": "NONE"}),
    );
    Agent::eventually("PULLING", Duration::from_secs(20), || {
        state_of(&agent, "dp") == "PULLING"
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(state_of(&agent, "dp"), "PULLING");
    assert_eq!(agent.kill("dp", Some(9)).status, 200);
    let (status, text) = launch.join().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("destroyed while pulling"), "{text}");
    let names = s.docker.run(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!names.contains("mesos-dp"), "{names}");

    // HungDockerTest: dockerd stopped; the launch fails at --docker_api_timeout with a clear
    // message while the agent answers at once and launches Mesos containers.
    // SAFETY: kill has no memory preconditions; the pid is our own dockerd.
    unsafe { libc::kill(s.docker.pid(), libc::SIGSTOP) };
    let started = Instant::now();
    let launch = launch_in_background(
        &agent,
        "hung",
        json!({"value": "true"}),
        json!({"image": IMAGE, "network": "NONE"}),
    );
    std::thread::sleep(Duration::from_millis(500));
    let health = Instant::now();
    let r = agent.client().get("/health").unwrap();
    assert_eq!(r.status, 200);
    assert!(
        health.elapsed() < Duration::from_secs(3),
        "{:?}",
        health.elapsed()
    );
    assert_eq!(state_of(&agent, "hung"), "PULLING");
    let r = agent.launch_shell("m1", "true", resources(0.1, 32.0));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("m1")["state"], "TASK_FINISHED");
    let (status, text) = launch.join().unwrap();
    let took = started.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(s.docker.pid(), libc::SIGCONT) };
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("dockerd did not answer within 10.0s"),
        "{text}"
    );
    assert!(took >= Duration::from_secs(9), "{took:?}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    // After SIGCONT the agent works on.
    let (status, text) = launch_docker(
        &agent,
        "after",
        json!({"value": "echo alive"}),
        json!({"image": IMAGE, "network": "NONE"}),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(agent.wait_json("after")["state"], "TASK_FINISHED");

    drop(agent);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
