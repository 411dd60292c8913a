//! Container images end to end: a real agent launches tasks in a busybox image built here,
//! served from a local `docker save` directory and from Debian's `docker-registry` on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod images_support;
mod provisioner_support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use images_support::{launch_image, local_registry, mounts_under, push_image, start, stdout_of};
use provisioner_support::{build_image, start_registry, TempDir};
use serde_json::{json, Value};

/// Runs the image checks with one backend.
fn image_runs_with(backend: &str) {
    let t = TempDir::new();
    let image = build_image("echo from-cmd $GREETING; pwd");
    let registry = local_registry(&t, &image);
    let agent = start(registry.to_str().unwrap(), backend);
    // The task sees the image (a file only its upper layer has, whiteouts applied) and not the
    // host (no /usr in the image), its sandbox at /mnt/mesos/sandbox.
    let script = "cat /etc/added; test ! -e /etc/gone && echo gone-is-gone; \
                  test ! -e /usr && echo no-usr; echo sandbox=$MESOS_SANDBOX; pwd; \
                  echo inside > $MESOS_SANDBOX/written; ls /proc/1/ >/dev/null && echo proc; \
                  echo x > /dev/null && echo devnull; test -s /proc/kcore || echo kcore-masked; \
                  echo 1 > /proc/sysrq-trigger 2>/dev/null || echo sysrq-read-only";
    let r = launch_image(
        &agent,
        "img1",
        "busybox",
        json!({"value": script, "shell": true}),
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", agent.log_text());
    let w = agent.wait_json("img1");
    let out = stdout_of(&agent, "img1");
    assert_eq!(
        w["exit_status"],
        json!(0),
        "{w}\nstdout: {out}\nstderr: {}",
        std::fs::read_to_string(agent.sandbox("img1").join("stderr")).unwrap_or_default()
    );
    for want in [
        "added",
        "gone-is-gone",
        "no-usr",
        "sandbox=/mnt/mesos/sandbox",
        // docker/runtime: the image's WorkingDir is the cwd, even for a given command.
        "\n/etc\n",
        "proc",
        "devnull",
        "kcore-masked",
        "sysrq-read-only",
    ] {
        assert!(out.contains(want), "{want:?} missing from {out:?}");
    }
    assert_eq!(
        std::fs::read_to_string(agent.sandbox("img1").join("written")).unwrap(),
        "inside\n"
    );

    // No command value: the image's Cmd runs, with its Env and WorkingDir.
    let r = launch_image(&agent, "img2", "busybox", json!({"shell": false}));
    assert_eq!(r.status, 200, "{r:?}");
    let w = agent.wait_json("img2");
    assert_eq!(w["exit_status"], json!(0), "{w}");
    assert_eq!(stdout_of(&agent, "img2"), "from-cmd hi\n/etc\n");

    // A running container holds its rootfs; its end removes it, mounts included.
    let provisioner = agent.work_dir.join("provisioner");
    let r = launch_image(
        &agent,
        "img3",
        "busybox",
        json!({"value": "while :; do :; done"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let rootfses = provisioner
        .join("containers/img3/backends")
        .join(backend)
        .join("rootfses");
    assert_eq!(std::fs::read_dir(&rootfses).unwrap().count(), 1);
    if backend == "overlay" {
        let mounts = mounts_under(&provisioner);
        assert_eq!(mounts.len(), 1, "the overlay is mounted");
        // Its upper dir lives and dies with the container: unmounting need not sync the disk
        // (",volatile" or, on newer kernels, ",fsync=volatile").
        assert!(mounts[0].contains("volatile"), "{}", mounts[0]);
    }
    assert_eq!(agent.kill("img3", None).status, 200);
    assert_eq!(agent.wait_json("img3")["state"], json!("TASK_KILLED"));
    for id in ["img1", "img2", "img3"] {
        assert_eq!(agent.remove(id).status, 200);
    }
    Agent::eventually("rootfses removed", Duration::from_secs(10), || {
        !provisioner.join("containers/img3").exists()
    });
    assert_eq!(mounts_under(&provisioner), Vec::<String>::new());

    // Nothing uses the image any more: PRUNE_IMAGES frees its layers.
    let layers = agent.work_dir.join("store/docker/layers");
    assert!(std::fs::read_dir(&layers).unwrap().count() > 0);
    let r = agent.call(json!({"type": "PRUNE_IMAGES"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(std::fs::read_dir(&layers).unwrap().count(), 0);
}

#[test]
fn copy_backend_runs_the_image() {
    if root_or_skip("copy_backend_runs_the_image") {
        image_runs_with("copy");
    }
}

#[test]
fn overlay_backend_runs_the_image() {
    if root_or_skip("overlay_backend_runs_the_image") {
        image_runs_with("overlay");
    }
}

#[test]
fn missing_image_and_bad_requests_fail_the_launch() {
    if !root_or_skip("missing_image_and_bad_requests_fail_the_launch") {
        return;
    }
    let t = TempDir::new();
    let registry = local_registry(&t, &build_image("true"));
    let agent = start(registry.to_str().unwrap(), "copy");
    let r = launch_image(&agent, "nosuch", "nosuch:latest", json!({"value": "true"}));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text.contains("Failed to pull image"), "{r:?}");
    assert!(r.text.contains("nosuch"), "{r:?}");
    let w = agent.wait_json("nosuch");
    assert_eq!(w["reason"], json!("REASON_CONTAINER_LAUNCH_FAILED"), "{w}");
    assert!(agent.sandbox("nosuch").exists(), "the sandbox is kept");

    let appc = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "appc"}, "command": {"value": "true"},
        "container": {"type": "MESOS", "mesos": {"image": {"type": "APPC", "appc": {"name": "x"}}}}}}));
    assert_eq!(appc.status, 400);
    let bad = launch_image(&agent, "bad", "UPPER/Case::", json!({"value": "true"}));
    assert_eq!(bad.status, 400, "{bad:?}");

    // Without filesystem/linux an image is refused before anything is made.
    let plain = Agent::start(&["--image_providers=docker"]);
    let r = launch_image(&plain, "noiso", "busybox", json!({"value": "true"}));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text.contains("filesystem/linux"), "{r:?}");
}

/// Children of `pid` whose command name is `name`.
fn children_named(pid: u32, name: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = &stat[stat.find('(').unwrap() + 1..close];
        let ppid: u32 = stat[close + 2..]
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if ppid == pid && name.starts_with(comm) {
            out.push(p);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
}

#[test]
fn kill_during_provisioning_kills_the_puller() {
    if !root_or_skip("kill_during_provisioning_kills_the_puller") {
        return;
    }
    // A registry that accepts connections and never answers.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hang.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in hang.incoming().take(4).flatten() {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let agent = start(&format!("http://127.0.0.1:{port}"), "copy");
    let socket = agent.socket.clone();
    let launcher = std::thread::spawn(move || {
        let client =
            mesolite::http::Client::new(&socket).with_timeout(Some(Duration::from_secs(60)));
        let r = client
            .post_json(
                "/api/v1",
                &json!({"type": "LAUNCH_CONTAINER", "launch_container": {
                    "container_id": {"value": "slow"}, "command": {"value": "true"},
                    "container": {"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
                        "docker": {"name": "busybox"}}}}}}),
            )
            .unwrap();
        (r.status, r.text())
    });
    let agent_pid = agent.child.as_ref().unwrap().id();
    let mut puller = Vec::new();
    Agent::eventually("the puller runs", Duration::from_secs(10), || {
        puller = children_named(agent_pid, "mesolite-fetch");
        !puller.is_empty()
    });
    let state = agent.container("slow").unwrap()["container_status"].clone();
    let listed = agent.container("slow").unwrap().to_string();
    assert!(listed.contains("PROVISIONING"), "{listed} {state}");
    let started = Instant::now();
    assert_eq!(agent.kill("slow", None).status, 200);
    Agent::eventually("the puller is gone", Duration::from_secs(2), || {
        puller.iter().all(|p| !alive(*p))
    });
    assert!(started.elapsed() < Duration::from_secs(2));
    let (status, text) = launcher.join().unwrap();
    assert_eq!(status, 400, "{text}");
    let w = agent.wait_json("slow");
    assert_eq!(w["state"], json!("TASK_KILLED"), "{w}");
    drop(agent);
    drop(held);
}

/// Acceptance 3: ten concurrent launches of one uncached image.
const LAUNCHES: usize = 10;

#[test]
fn concurrent_launches_share_one_pull_from_a_real_registry() {
    if !root_or_skip("concurrent_launches_share_one_pull_from_a_real_registry") {
        return;
    }
    let t = TempDir::new();
    let Some(registry) = start_registry(&t) else {
        return;
    };
    let base = registry.base();
    let image = build_image("echo shared");
    push_image(&base, &image);
    let before = std::fs::read_to_string(&registry.access_log).unwrap();

    let agent = start(&base, "overlay");
    let threads: Vec<_> = (0..LAUNCHES)
        .map(|i| {
            let socket = agent.socket.clone();
            std::thread::spawn(move || {
                let client = mesolite::http::Client::new(&socket)
                    .with_timeout(Some(Duration::from_secs(60)));
                let r = client
                    .post_json(
                        "/api/v1",
                        &json!({"type": "LAUNCH_CONTAINER", "launch_container": {
                            "container_id": {"value": format!("c{i}")},
                            "command": {"shell": false},
                            "container": {"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
                                "docker": {"name": "busybox"}, "cached": false}}}}}),
                    )
                    .unwrap();
                (r.status, r.text())
            })
        })
        .collect();
    for th in threads {
        let (status, text) = th.join().unwrap();
        assert_eq!(status, 200, "{text}\n{}", agent.log_text());
    }
    for i in 0..LAUNCHES {
        let id = format!("c{i}");
        let w = agent.wait_json(&id);
        assert_eq!(w["exit_status"], json!(0), "{w}");
        assert_eq!(stdout_of(&agent, &id), "shared\n");
    }
    let log = registry.log_since(&before);
    let log = &log;
    for digest in image.layer_digests() {
        let get = format!("\"GET /v2/library/busybox/blobs/{digest}");
        assert_eq!(
            log.matches(&get).count(),
            1,
            "layer {digest} fetched other than once:\n{log}"
        );
    }
    for i in 0..LAUNCHES {
        assert_eq!(agent.remove(&format!("c{i}")).status, 200);
    }
    let provisioner = agent.work_dir.join("provisioner");
    Agent::eventually("rootfses removed", Duration::from_secs(10), || {
        mounts_under(&provisioner).is_empty()
    });
}

#[test]
fn volumes_are_mounted_inside_the_image() {
    if !root_or_skip("volumes_are_mounted_inside_the_image") {
        return;
    }
    let t = TempDir::new();
    let registry = local_registry(&t, &build_image("true"));
    let host = t.dir("host-data");
    std::fs::write(host.join("hello"), "from the host\n").unwrap();
    let agent = start(registry.to_str().unwrap(), "overlay");
    let r = agent.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
    "container_id": {"value": "vols"},
    "command": {"value": "cat /data/hello; echo w > /scratch/f; \
                echo x > /data/new 2>/dev/null || echo read-only"},
    "container": {"type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox"}}},
        "volumes": [
            {"container_path": "/data", "mode": "RO",
             "source": {"type": "HOST_PATH", "host_path": {"path": host.to_str().unwrap()}}},
            {"container_path": "/scratch", "mode": "RW",
             "source": {"type": "SANDBOX_PATH", "sandbox_path": {"type": "SELF", "path": "tmp"}}}
        ]}}}));
    assert_eq!(r.status, 200, "{}", r.text());
    let w = agent.wait_json("vols");
    assert_eq!(w["exit_status"], json!(0), "{w}");
    assert_eq!(stdout_of(&agent, "vols"), "from the host\nread-only\n");
    assert_eq!(
        std::fs::read_to_string(agent.sandbox("vols").join("tmp/f")).unwrap(),
        "w\n"
    );
    assert!(!host.join("new").exists());
    assert_eq!(agent.remove("vols").status, 200);
    let provisioner = agent.work_dir.join("provisioner");
    Agent::eventually("rootfs removed", Duration::from_secs(10), || {
        !provisioner.join("containers/vols").exists()
    });
    assert_eq!(mounts_under(&provisioner), Vec::<String>::new());
}

#[test]
fn the_image_user_runs_the_task() {
    if !root_or_skip("the_image_user_runs_the_task") {
        return;
    }
    let t = TempDir::new();
    let mut image = build_image(
        "while read k v rest; do [ \"$k\" = Uid: ] && echo uid=$v; done < /proc/self/status; \
         touch $MESOS_SANDBOX/mine && echo wrote",
    );
    let mut config: Value = serde_json::from_slice(&image.config).unwrap();
    config["config"]["User"] = json!("4321:4321");
    image.config = serde_json::to_vec(&config).unwrap();
    let registry = local_registry(&t, &image);
    let agent = start(registry.to_str().unwrap(), "copy");
    let r = launch_image(&agent, "user", "busybox", json!({"shell": false}));
    assert_eq!(r.status, 200, "{r:?}");
    let w = agent.wait_json("user");
    assert_eq!(w["exit_status"], json!(0), "{w}");
    assert_eq!(stdout_of(&agent, "user"), "uid=4321\nwrote\n");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(agent.sandbox("user").join("mine")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 4321));
}

#[test]
fn a_rootfs_that_cannot_be_made_fails_the_launch_with_the_reason() {
    if !root_or_skip("a_rootfs_that_cannot_be_made_fails_the_launch_with_the_reason") {
        return;
    }
    let t = TempDir::new();
    let registry = local_registry(&t, &build_image("true"));
    // The bind backend takes single-layer images only; this one has two.
    let agent = start(registry.to_str().unwrap(), "bind");
    // First after a pull (asynchronous), then from the store (synchronous).
    for id in ["bind1", "bind2"] {
        let r = launch_image(&agent, id, "busybox", json!({"value": "true"}));
        assert_eq!(r.status, 400, "{r:?}");
        assert!(r.text.contains("single-layer"), "{r:?}");
        let w = agent.wait_json(id);
        assert_eq!(w["reason"], json!("REASON_CONTAINER_LAUNCH_FAILED"), "{w}");
        assert!(
            w["message"].as_str().unwrap().contains("single-layer"),
            "{w}"
        );
        assert_eq!(agent.remove(id).status, 200);
    }
    assert_eq!(
        mounts_under(&agent.work_dir.join("provisioner")),
        Vec::<String>::new()
    );
}

#[test]
fn the_cli_launches_in_an_image() {
    if !root_or_skip("the_cli_launches_in_an_image") {
        return;
    }
    let t = TempDir::new();
    let registry = local_registry(&t, &build_image("echo from-cmd $GREETING"));
    let agent = start(registry.to_str().unwrap(), "overlay");
    let cli = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mesolite"))
            .args(args)
            .env("MESOLITE_SOCKET", &agent.socket)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{args:?}: {err}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // No COMMAND: the image's own Cmd runs.
    assert_eq!(
        cli(&["launch", "--id=own", "--image=busybox"]).trim(),
        "own"
    );
    // A command, in the image (no /usr there), pulled again with --force-pull.
    let script = "test ! -e /usr && echo image-only";
    cli(&[
        "launch",
        "--id=cmd",
        "--image=busybox",
        "--force-pull",
        "--",
        script,
    ]);
    for id in ["own", "cmd"] {
        // Exits with the task's code: 0, or the assertion in `cli` fails.
        cli(&["wait", id]);
    }
    assert_eq!(stdout_of(&agent, "own"), "from-cmd hi\n");
    assert_eq!(stdout_of(&agent, "cmd"), "image-only\n");
    let log = agent.log_text();
    assert_eq!(log.matches("Pulling image").count(), 2, "{log}");
}
