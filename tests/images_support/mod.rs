//! Helpers shared by the agent-level image tests: an agent with images enabled, launches, the
//! busybox image in a local registry directory, and Debian's `docker-registry` on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Agent;
use crate::provisioner_support::{header_value, http, TempDir, TestImage};
use mesolite::provisioner::Digest;
use serde_json::{json, Value};

pub const ISOLATION: &str = "--isolation=filesystem/linux,docker/runtime,namespaces/pid";

/// A directory registry holding `busybox:latest.tar`.
pub fn local_registry(t: &TempDir, image: &TestImage) -> PathBuf {
    let dir = t.dir("local-registry");
    image.write_docker_save(&dir.join("busybox:latest.tar"), "busybox:latest");
    dir
}

pub fn start(registry: &str, backend: &str) -> Agent {
    Agent::start(&[
        ISOLATION,
        "--image_providers=docker",
        &format!("--docker_registry={registry}"),
        &format!("--image_provisioner_backend={backend}"),
    ])
}

pub fn launch_image(agent: &Agent, id: &str, image: &str, command: Value) -> common_response::R {
    launch_with(
        agent,
        id,
        json!({"type": "DOCKER", "docker": {"name": image}}),
        command,
    )
}

/// A launch with `image` as the whole `container.mesos.image` object.
pub fn launch_with(agent: &Agent, id: &str, image: Value, command: Value) -> common_response::R {
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id},
        "command": command,
        "container": {"type": "MESOS", "mesos": {"image": image}}}}));
    common_response::R {
        status: r.status,
        text: r.text(),
    }
}

pub mod common_response {
    /// A LAUNCH answer, kept as plain data so threads can return it.
    #[derive(Debug)]
    pub struct R {
        pub status: u16,
        pub text: String,
    }
}

pub fn stdout_of(agent: &Agent, id: &str) -> String {
    std::fs::read_to_string(agent.sandbox(id).join("stdout")).unwrap_or_default()
}

pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&needle)))
        .map(str::to_string)
        .collect()
}

pub struct RegistryProcess {
    child: Child,
    pub port: u16,
    pub access_log: PathBuf,
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RegistryProcess {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The whole access log so far.
    pub fn log(&self) -> String {
        let mut log = String::new();
        std::fs::File::open(&self.access_log)
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        log
    }

    /// What the registry logged after `before` (an earlier `log()`).
    pub fn log_since(&self, before: &str) -> String {
        let log = self.log();
        log[before.len().min(log.len())..].to_string()
    }
}

/// Debian's docker-registry with its access log (on stdout) in a file.
pub fn start_registry(t: &TempDir) -> Option<RegistryProcess> {
    let binary = ["/usr/bin/docker-registry", "/usr/bin/registry"]
        .into_iter()
        .find(|b| Path::new(b).exists());
    let Some(binary) = binary else {
        println!("SKIP: docker-registry is not installed (apt-get install docker-registry)");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let storage = t.dir("registry-storage");
    let config = t.path().join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  \
             filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        ),
    )
    .unwrap();
    let access_log = t.path().join("registry.log");
    let out = std::fs::File::create(&access_log).unwrap();
    let err = out.try_clone().unwrap();
    let Ok(child) = Command::new(binary)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
    else {
        println!("SKIP: cannot start {binary}");
        return None;
    };
    let registry = RegistryProcess {
        child,
        port,
        access_log,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(registry);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("SKIP: {binary} did not listen on {port}");
    None
}

pub fn push_blob(base: &str, repo: &str, data: &[u8]) {
    let digest = Digest::of_bytes(data);
    let (code, headers, _) = http(
        "POST",
        &format!("{base}/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(code, 202);
    let location = header_value(&headers, "location").unwrap();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("{base}{location}")
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let (code, _, body) = http(
        "PUT",
        &format!("{location}{separator}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        data,
    );
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
}

/// Pushes `image` as `library/busybox:latest`; returns the manifest digest the registry reports.
pub fn push_image(base: &str, image: &TestImage) -> String {
    push_blob(base, "library/busybox", &image.config);
    for layer in &image.layers {
        push_blob(base, "library/busybox", layer);
    }
    let (code, headers, body) = http(
        "PUT",
        &format!("{base}/v2/library/busybox/manifests/latest"),
        &[(
            "Content-Type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
        &image.manifest(),
    );
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    header_value(&headers, "docker-content-digest").unwrap()
}
