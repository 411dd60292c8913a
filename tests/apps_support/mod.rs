//! Helpers for issue 16's app tests, checked on their own by tests/apps_support_check.rs:
//! - the seed's Node.js "Hello World" image, built from this machine's Node.js by
//!   `node_image.sh` and pushed to a registry on loopback (`node_image`);
//! - the seed's `app_marathon.json` (`app_marathon`): the file is the seed's text with
//!   `localhost:5000` replaced by `127.0.0.1:{{registry_port}}`, the test registry's address (it
//!   listens on 127.0.0.1 only; `localhost` may resolve to ::1 first);
//! - a private dockerd on a Linux bridge of the test's own, so that BRIDGE port mappings work
//!   (`docker_on_bridge`; iptables off, the userland proxy publishes the ports);
//! - `marathon_client.py`, the PyPI `marathon` 0.13 library driving an app (`marathon_client`).
//!
//! A test using these declares `mod dockerd_support;` beside `mod apps_support;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use crate::dockerd_support::Dockerd;

pub const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps_support");
/// Debian's Python, where apt put requests and requests-toolbelt (not a pyenv shim on PATH).
pub const PYTHON: &str = "/usr/bin/python3";
/// marathon_client.py's exit status when the library is not installed (it prints a SKIP line).
pub const CLIENT_SKIP: i32 = 77;

/// The image name node_image.sh pushes, on the registry at 127.0.0.1:`registry_port`.
pub fn node_image_name(registry_port: u16) -> String {
    format!("127.0.0.1:{registry_port}/containersol/nodejs_app:latest")
}

/// Builds and pushes the Node.js image with the dockerd whose socket is `<docker_dir>/docker.sock`
/// (a `Dockerd::start*` directory), working under `work`; the image name. `None` (SKIP printed)
/// without Node.js.
pub fn node_image(docker_dir: &Path, work: &Path, registry_port: u16) -> Option<String> {
    if !Path::new("/usr/bin/node").exists() {
        println!("SKIP: /usr/bin/node is missing (apt-get install nodejs)");
        return None;
    }
    std::fs::create_dir_all(work).unwrap();
    let out = Command::new(format!("{SUPPORT}/node_image.sh"))
        .arg(format!("--registry=127.0.0.1:{registry_port}"))
        .arg(format!("--dir={}", work.display()))
        .env(
            "DOCKER_HOST",
            format!("unix://{}", docker_dir.join("docker.sock").display()),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node_image.sh failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(name, node_image_name(registry_port));
    Some(name)
}

/// The seed's app_marathon.json text for a registry at 127.0.0.1:`registry_port` (for `curl
/// -d@file` as the seed does it).
pub fn app_marathon_text(registry_port: u16) -> String {
    std::fs::read_to_string(format!("{SUPPORT}/app_marathon.json"))
        .unwrap()
        .replace("{{registry_port}}", &registry_port.to_string())
}

/// The seed's app definition, parsed.
pub fn app_marathon(registry_port: u16) -> Value {
    serde_json::from_str(&app_marathon_text(registry_port)).unwrap()
}

/// A Linux bridge of the test's own with a /24 of its own, deleted when dropped.
pub struct Bridge {
    pub name: String,
    /// The bridge's address, `10.254.<n>.1`.
    pub gateway: String,
}

impl Bridge {
    pub fn create() -> Bridge {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Unique across the tests and helpers running beside this one: pid and call count.
        let name = format!("mlapp{}x{n}", pid % 100_000);
        let net = (pid + n * 37) % 200 + 20;
        let bridge = Bridge {
            name,
            gateway: format!("10.254.{net}.1"),
        };
        ip(&["link", "add", "name", &bridge.name, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", bridge.gateway),
            "dev",
            &bridge.name,
        ]);
        ip(&["link", "set", &bridge.name, "up"]);
        bridge
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

/// A private dockerd under `dir` on a new bridge (drop the dockerd first, then the bridge).
pub fn docker_on_bridge(dir: &Path) -> Option<(Dockerd, Bridge)> {
    let bridge = Bridge::create();
    let flag = format!("--bridge={}", bridge.name);
    let docker = Dockerd::start_with(dir, &[&flag, "--ip-forward=false", "--ip-masq=false"])?;
    Some((docker, bridge))
}

/// GET `url` with curl (5 s cap): the body, or `None` when curl fails.
pub fn curl(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", url])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One run of marathon_client.py.
#[derive(Debug)]
pub struct ClientRun {
    pub status: Option<i32>,
    /// Its JSON lines, one per step.
    pub steps: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

impl ClientRun {
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }

    /// The line of `step`, if the script got there.
    pub fn step(&self, step: &str) -> Option<&Value> {
        self.steps.iter().find(|s| s["step"] == step)
    }

    /// The last step's line (the failing one when the run failed).
    pub fn last(&self) -> &Value {
        self.steps.last().unwrap_or(&Value::Null)
    }
}

/// Runs marathon_client.py against `url` as `user` ("principal:secret") on app `app_id`, waiting
/// at most `timeout_s` for tasks to start and stop. `None` (SKIP printed) when the library is not
/// installed.
pub fn marathon_client(url: &str, user: &str, app_id: &str, timeout_s: u32) -> Option<ClientRun> {
    if !Path::new(PYTHON).exists() {
        println!("SKIP: {PYTHON} is missing (apt-get install python3)");
        return None;
    }
    let out: Output = Command::new(PYTHON)
        .arg(format!("{SUPPORT}/marathon_client.py"))
        .args(["--url", url, "--user", user, "--app-id", app_id])
        .arg(format!("--timeout={timeout_s}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.code() == Some(CLIENT_SKIP) {
        println!("{}", stdout.trim());
        return None;
    }
    let steps = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    Some(ClientRun {
        status: out.status.code(),
        steps,
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
