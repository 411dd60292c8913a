//! Helpers shared by the agent-level image tests: an agent with images enabled, launches, the
//! busybox image in a local registry directory, and Debian's `docker-registry` on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::common::Agent;
use crate::provisioner_support::{header_value, http, push_blob, TempDir, TestImage};
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
