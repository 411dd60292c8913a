//! Issue 5, acceptance 1: volumes (filesystem/shared, volume/host_path, volume/sandbox_path)
//! against the real kernel: a private /tmp per container, read-only volumes, and the paths that
//! are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use common::{root_or_skip, Agent};
use mesolite::http::ClientResponse;
use serde_json::{json, Value};

const ISOLATION: &str =
    "--isolation=filesystem/shared,volume/host_path,volume/sandbox_path,namespaces/pid";

/// The sandboxes must not be under /tmp, which the tests mount over.
fn start(extra: &[&str]) -> Agent {
    let base = Path::new("/var/tmp");
    Agent::start_under(base, extra, &[])
}

fn launch(agent: &Agent, id: &str, cmd: &str, container: Value) -> ClientResponse {
    agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id},
        "command": {"value": cmd, "shell": true},
        "container": container}}))
}

fn stdout(agent: &Agent, id: &str) -> String {
    std::fs::read_to_string(agent.sandbox(id).join("stdout")).unwrap_or_default()
}

fn stderr(agent: &Agent, id: &str) -> String {
    std::fs::read_to_string(agent.sandbox(id).join("stderr")).unwrap_or_default()
}

fn private_tmp() -> Value {
    json!({"type": "MESOS",
           "volumes": [{"host_path": "tmp", "container_path": "/tmp", "mode": "RW"}]})
}

#[test]
fn private_tmp_is_invisible_to_other_containers_and_the_host() {
    if !root_or_skip("private_tmp") {
        return;
    }
    let agent = start(&[ISOLATION]);
    let name = format!("mltest-private-{}", std::process::id());
    let write = format!("echo secret > /tmp/{name} && cat /tmp/{name} && sleep 1000");
    let r = launch(&agent, "a", &write, private_tmp());
    assert_eq!(r.status, 200, "{}", r.text());
    Agent::eventually(
        "container a wrote its file",
        std::time::Duration::from_secs(10),
        || stdout(&agent, "a").contains("secret"),
    );
    // The file is in a's sandbox, not in the host's /tmp.
    assert!(agent.sandbox("a").join("tmp").join(&name).exists());
    assert!(!Path::new("/tmp").join(&name).exists());
    // The private /tmp keeps the host /tmp's mode (sticky, world-writable).
    let mode = std::fs::metadata(agent.sandbox("a").join("tmp"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o1777);

    // Container b, running beside a, sees its own empty /tmp.
    let r = launch(
        &agent,
        "b",
        &format!("if [ -e /tmp/{name} ]; then echo visible; exit 1; fi; echo invisible"),
        private_tmp(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let w = agent.wait_json("b");
    assert_eq!(w["exit_status"], 0, "{}", stdout(&agent, "b"));
    assert!(stdout(&agent, "b").contains("invisible"));
    assert_eq!(agent.kill("a", None).status, 200);
    agent.wait_json("a");
}

#[test]
fn read_only_volume_refuses_writes_with_erofs() {
    if !root_or_skip("read_only_volume") {
        return;
    }
    let agent = start(&[ISOLATION]);
    let src = agent.dir.join("ro-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello"), "from the host\n").unwrap();
    // Relative container paths are under the sandbox (created there); the legacy field and the
    // HOST_PATH source form both work.
    let container = json!({"volumes": [
        {"host_path": src.display().to_string(), "container_path": "legacy", "mode": "RO"},
        {"container_path": "hp", "mode": "RO",
         "source": {"type": "HOST_PATH", "host_path": {"path": src.display().to_string()}}}
    ]});
    let cmd = "cat legacy/hello hp/hello; echo x > legacy/new; a=$?; echo y > hp/new; b=$?; \
               [ $a -ne 0 ] && [ $b -ne 0 ]";
    let r = launch(&agent, "ro", cmd, container);
    assert_eq!(r.status, 200, "{}", r.text());
    let w = agent.wait_json("ro");
    assert_eq!(w["exit_status"], 0, "stderr: {}", stderr(&agent, "ro"));
    assert_eq!(stdout(&agent, "ro"), "from the host\nfrom the host\n");
    let err = stderr(&agent, "ro");
    assert_eq!(err.matches("Read-only file system").count(), 2, "{err}");
    assert!(!src.join("new").exists());

    // The same volume RW: the write reaches the host directory.
    let container = json!({"volumes": [
        {"host_path": src.display().to_string(), "container_path": "rw", "mode": "RW"}]});
    let r = launch(&agent, "rw", "echo y > rw/new", container);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("rw")["exit_status"], 0);
    assert_eq!(std::fs::read_to_string(src.join("new")).unwrap(), "y\n");
}

#[test]
fn sandbox_path_volume_at_an_absolute_container_path() {
    if !root_or_skip("sandbox_path_volume") {
        return;
    }
    let agent = start(&[ISOLATION]);
    let container = json!({"volumes": [{"container_path": "/tmp", "mode": "RW",
        "source": {"type": "SANDBOX_PATH", "sandbox_path": {"type": "SELF", "path": "scratch"}}}]});
    let name = format!("mltest-scratch-{}", std::process::id());
    let r = launch(&agent, "sp", &format!("echo s > /tmp/{name}"), container);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("sp")["exit_status"], 0);
    assert!(agent.sandbox("sp").join("scratch").join(&name).exists());
    assert!(!Path::new("/tmp").join(&name).exists());
}

#[test]
fn escaping_paths_are_refused_with_400() {
    if !root_or_skip("escaping_paths") {
        return;
    }
    let agent = start(&[ISOLATION]);
    let dotdot = json!({"volumes": [
        {"host_path": "tmp", "container_path": "/tmp/../etc", "mode": "RW"}]});
    let r = launch(&agent, "dotdot", "true", dotdot);
    assert_eq!(r.status, 400);
    assert!(r.text().contains(".."), "{}", r.text());

    // A sandbox directory that is a symlink out of the sandbox (the sandbox exists before the
    // launch, as one re-used by a framework would).
    for (id, volume) in [
        (
            "esc1",
            json!({"host_path": "esc", "container_path": "/tmp", "mode": "RW"}),
        ),
        (
            "esc2",
            json!({"container_path": "/tmp", "mode": "RW", "source": {"type": "SANDBOX_PATH",
                   "sandbox_path": {"type": "SELF", "path": "esc/sub"}}}),
        ),
    ] {
        let sandbox = agent.sandbox(id);
        std::fs::create_dir_all(&sandbox).unwrap();
        symlink("/etc", sandbox.join("esc")).unwrap();
        let r = launch(&agent, id, "true", json!({"volumes": [volume]}));
        assert_eq!(r.status, 400, "{id}: {}", r.text());
        assert!(r.text().contains("escapes the sandbox"), "{}", r.text());
        assert!(!Path::new("/etc/sub").exists());
    }

    // A missing absolute host path, and a missing mount point outside the sandbox.
    let missing = json!({"volumes": [
        {"host_path": "/nonexistent/mltest", "container_path": "data", "mode": "RO"}]});
    let r = launch(&agent, "missing", "true", missing);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("does not exist"), "{}", r.text());
    let no_target = json!({"volumes": [
        {"host_path": "tmp", "container_path": "/nonexistent-mltest", "mode": "RW"}]});
    let r = launch(&agent, "notarget", "true", no_target);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("does not exist"), "{}", r.text());
    assert!(!Path::new("/nonexistent-mltest").exists());
}

#[test]
fn a_volume_over_the_sandbox_is_refused() {
    if !root_or_skip("volume_over_sandbox") {
        return;
    }
    // Here the sandboxes are under /tmp: a private /tmp would hide them.
    let agent = Agent::start(&[ISOLATION]);
    let r = launch(&agent, "hide", "true", private_tmp());
    assert_eq!(r.status, 400);
    assert!(r.text().contains("would hide the sandbox"), "{}", r.text());
}

#[test]
fn volumes_need_their_isolator() {
    if !root_or_skip("volumes_need_isolator") {
        return;
    }
    let agent = start(&["--isolation=namespaces/pid"]);
    let r = launch(&agent, "noiso", "true", private_tmp());
    assert_eq!(r.status, 400);
    assert!(r.text().contains("filesystem/shared"), "{}", r.text());
    assert!(agent.container("noiso").is_none());
}

#[test]
fn default_container_info_applies_to_launches_without_container() {
    if !root_or_skip("default_container_info") {
        return;
    }
    let info =
        r#"{"type":"MESOS","volumes":[{"host_path":"tmp","container_path":"/tmp","mode":"RW"}]}"#;
    let agent = start(&[ISOLATION, &format!("--default_container_info={info}")]);
    let name = format!("mltest-default-{}", std::process::id());
    let r = agent.launch_shell("d", &format!("echo d > /tmp/{name}"), json!([]));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("d")["exit_status"], 0);
    assert!(agent.sandbox("d").join("tmp").join(&name).exists());
    assert!(!Path::new("/tmp").join(&name).exists());
    // A launch that gives its own `container` does not get the default.
    let r = launch(
        &agent,
        "own",
        &format!("echo o > /tmp/{name}-own"),
        json!({"type": "MESOS"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.wait_json("own")["exit_status"], 0);
    let host_file = Path::new("/tmp").join(format!("{name}-own"));
    assert!(host_file.exists());
    let _ = std::fs::remove_file(host_file);
}
