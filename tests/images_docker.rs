//! The `ProvisionerDockerTest` scenarios of Mesos (reference/mesos.md §9.7) that the provisioner
//! unit tests do not already cover, ported as agent-level tests through the API: a launch by
//! digest, a scratch image, forced pulls, a layer missing from the store, and an OCI layout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod images_support;
mod provisioner_support;

use std::time::Duration;

use common::{root_or_skip, Agent};
use images_support::{launch_image, launch_with, mounts_under, push_image, start, stdout_of};
use mesolite::provisioner::Digest;
use provisioner_support::{
    build_image, dir, file, start_registry, RegistryProcess, TempDir, TestImage,
};
use serde_json::{json, Value};

/// Launches `id`, waits for its end and checks it exited 0 having printed `want`.
fn run_ok(agent: &Agent, id: &str, image: Value, command: Value, want: &str) {
    let r = launch_with(agent, id, image, command);
    assert_eq!(r.status, 200, "{r:?}\n{}", agent.log_text());
    let w = agent.wait_json(id);
    assert_eq!(
        w["exit_status"],
        json!(0),
        "{w}\nstderr: {}",
        std::fs::read_to_string(agent.sandbox(id).join("stderr")).unwrap_or_default()
    );
    assert_eq!(stdout_of(agent, id), want);
}

fn docker(name: &str) -> Value {
    json!({"type": "DOCKER", "docker": {"name": name}})
}

/// Requests for `what` (a path under `/v2/library/busybox/`) in an access log.
fn gets(log: &str, what: &str) -> usize {
    log.matches(&format!("\"GET /v2/library/busybox/{what}"))
        .count()
}

/// A registry holding `image` as `busybox:latest`, and its manifest digest.
fn registry_with(t: &TempDir, image: &TestImage) -> Option<(RegistryProcess, String)> {
    let registry = start_registry(t)?;
    let digest = push_image(&registry.base(), image);
    Some((registry, digest))
}

#[test]
fn image_digest() {
    if !root_or_skip("image_digest") {
        return;
    }
    let t = TempDir::new();
    let image = build_image("echo by-digest");
    let Some((registry, digest)) = registry_with(&t, &image) else {
        return;
    };
    assert_eq!(digest, Digest::of_bytes(&image.manifest()).to_string());
    let agent = start(&registry.base(), "overlay");
    let before = registry.log();
    let pinned = format!("busybox@{digest}");
    run_ok(
        &agent,
        "digest",
        docker(&pinned),
        json!({"shell": false}),
        "by-digest\n",
    );
    let log = registry.log_since(&before);
    assert_eq!(gets(&log, &format!("manifests/{digest}")), 1, "{log}");
    assert_eq!(gets(&log, "manifests/latest"), 0, "{log}");

    // A digest the registry does not have fails the launch, naming the image.
    let absent = Digest::of_bytes(b"no such manifest");
    let r = launch_image(
        &agent,
        "absent",
        &format!("busybox@{absent}"),
        json!({"value": "true"}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text.contains(&absent.to_string()), "{r:?}");
}

/// One layer with nothing but a static busybox at `/busybox` (no shell) and the directories
/// `dirs`.
fn scratch_image(dirs: &[&str]) -> TestImage {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static (/bin/busybox) is needed");
    let mut layer = tar::Builder::new(Vec::new());
    for d in dirs {
        dir(&mut layer, d);
    }
    file(&mut layer, "busybox", 0o755, &busybox);
    let layer = layer.into_inner().unwrap();
    let diff_ids = vec![Digest::of_bytes(&layer)];
    let config = json!({"architecture": "amd64", "os": "linux", "config": {},
                        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    TestImage {
        layers: vec![layer],
        layer_media_types: vec!["application/vnd.docker.image.rootfs.diff.tar"],
        diff_ids,
        config: serde_json::to_vec(&config).unwrap(),
    }
}

/// A local registry directory holding `image` as `scratch:latest`.
fn scratch_registry(t: &TempDir, image: &TestImage) -> String {
    let registry = t.dir("local-registry");
    image.write_docker_save(&registry.join("scratch:latest.tar"), "scratch:latest");
    registry.to_str().unwrap().to_string()
}

fn scratch_image_with(backend: &str, dirs: &[&str]) {
    let t = TempDir::new();
    let registry = scratch_registry(&t, &scratch_image(dirs));
    let agent = start(&registry, backend);
    // Without a shell the command is exec'd as given; busybox takes its applet from argv[1].
    let command = json!({"shell": false, "value": "/busybox",
                         "arguments": ["busybox", "echo", "from-scratch"]});
    run_ok(
        &agent,
        "scratch",
        docker("scratch"),
        command,
        "from-scratch\n",
    );
    // The task's root holds the image's one file plus the mount points filesystem/linux made.
    let r = launch_with(
        &agent,
        "ls",
        docker("scratch"),
        json!({"shell": false, "value": "/busybox", "arguments": ["busybox", "ls", "/"]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(agent.wait_json("ls")["exit_status"], json!(0));
    let listed = stdout_of(&agent, "ls");
    for want in ["busybox", "dev", "proc"] {
        assert!(
            listed.lines().any(|l| l == want),
            "{want} not in {listed:?}"
        );
    }
    assert!(
        !listed.lines().any(|l| l == "bin" || l == "usr"),
        "{listed:?}"
    );
    for id in ["scratch", "ls"] {
        assert_eq!(agent.remove(id).status, 200);
    }
    let provisioner = agent.work_dir.join("provisioner");
    Agent::eventually("rootfses removed", Duration::from_secs(10), || {
        !provisioner.join("containers/ls").exists()
    });
    assert_eq!(mounts_under(&provisioner), Vec::<String>::new());
}

#[test]
fn scratch_image_copy_backend() {
    if root_or_skip("scratch_image_copy_backend") {
        scratch_image_with("copy", &[]);
    }
}

#[test]
fn scratch_image_overlay_backend() {
    if root_or_skip("scratch_image_overlay_backend") {
        scratch_image_with("overlay", &[]);
    }
}

/// The bind backend's rootfs is read-only: as in Mesos, the image must hold the mount points
/// (`/tmp` and the sandbox directory; here `/dev`, `/proc` and `/sys` too). Without them the
/// launch fails naming the mount point and leaves nothing mounted; with them the image runs.
#[test]
fn scratch_image_bind_backend() {
    if !root_or_skip("scratch_image_bind_backend") {
        return;
    }
    let t = TempDir::new();
    let registry = scratch_registry(&t, &scratch_image(&[]));
    let agent = start(&registry, "bind");
    let r = launch_image(
        &agent,
        "bare",
        "scratch",
        json!({"shell": false, "value": "/busybox", "arguments": ["busybox", "true"]}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text.contains("/mnt/mesos/sandbox"), "{r:?}");
    let w = agent.wait_json("bare");
    assert_eq!(w["reason"], json!("REASON_CONTAINER_LAUNCH_FAILED"), "{w}");
    assert_eq!(agent.remove("bare").status, 200);
    assert_eq!(
        mounts_under(&agent.work_dir.join("provisioner")),
        Vec::<String>::new()
    );
    drop(agent);

    scratch_image_with(
        "bind",
        &[
            "dev",
            "proc",
            "sys",
            "tmp",
            "mnt",
            "mnt/mesos",
            "mnt/mesos/sandbox",
        ],
    );
}

#[test]
fn image_force_pulling() {
    if !root_or_skip("image_force_pulling") {
        return;
    }
    let t = TempDir::new();
    let image = build_image("echo pulled");
    let Some((registry, _)) = registry_with(&t, &image) else {
        return;
    };
    let agent = start(&registry.base(), "overlay");
    let layers = image.layer_digests();
    let cached = docker("busybox");
    let forced = json!({"type": "DOCKER", "docker": {"name": "busybox"}, "cached": false});
    // (image, manifest GETs, GETs of each layer) the launch makes.
    let steps = [
        (&cached, 1, 1),
        (&cached, 0, 0),
        (&forced, 1, 0),
        (&cached, 0, 0),
    ];
    for (i, (spec, manifests, blobs)) in steps.into_iter().enumerate() {
        let before = registry.log();
        let id = format!("f{i}");
        run_ok(
            &agent,
            &id,
            spec.clone(),
            json!({"shell": false}),
            "pulled\n",
        );
        let log = registry.log_since(&before);
        assert_eq!(
            gets(&log, "manifests/latest"),
            manifests,
            "launch {i}:\n{log}"
        );
        for layer in &layers {
            assert_eq!(
                gets(&log, &format!("blobs/{layer}")),
                blobs,
                "launch {i}:\n{log}"
            );
        }
    }
}

#[test]
fn missing_layer_is_pulled_again() {
    if !root_or_skip("missing_layer_is_pulled_again") {
        return;
    }
    let t = TempDir::new();
    let image = build_image("echo whole");
    let Some((registry, _)) = registry_with(&t, &image) else {
        return;
    };
    let agent = start(&registry.base(), "overlay");
    run_ok(
        &agent,
        "m1",
        docker("busybox"),
        json!({"shell": false}),
        "whole\n",
    );
    assert_eq!(agent.remove("m1").status, 200);
    let provisioner = agent.work_dir.join("provisioner");
    Agent::eventually("rootfs removed", Duration::from_secs(10), || {
        !provisioner.join("containers/m1").exists()
    });

    let layers = image.layer_digests();
    let gone = agent
        .work_dir
        .join("store/docker/layers")
        .join(layers[1].to_string());
    assert!(gone.is_dir(), "{} is not in the store", gone.display());
    std::fs::remove_dir_all(&gone).unwrap();

    let before = registry.log();
    run_ok(
        &agent,
        "m2",
        docker("busybox"),
        json!({"shell": false}),
        "whole\n",
    );
    let log = registry.log_since(&before);
    assert_eq!(gets(&log, &format!("blobs/{}", layers[0])), 0, "{log}");
    assert_eq!(gets(&log, &format!("blobs/{}", layers[1])), 1, "{log}");
    assert!(gone.is_dir(), "the missing layer is back");
}

/// Acceptance 2: the image from an OCI image layout in the local registry directory, its index
/// resolved to this architecture's manifest.
#[test]
fn oci_layout_through_the_agent() {
    if !root_or_skip("oci_layout_through_the_agent") {
        return;
    }
    let t = TempDir::new();
    let registry = t.dir("local-registry");
    let image = build_image("echo amd64 $GREETING");
    image.write_oci_layout(
        &registry.join("busybox:1.0"),
        "1.0",
        &build_image("echo arm64"),
    );
    for backend in ["overlay", "copy"] {
        let agent = start(registry.to_str().unwrap(), backend);
        run_ok(
            &agent,
            "oci",
            docker("busybox:1.0"),
            json!({"shell": false}),
            "amd64 hi\n",
        );
        run_ok(
            &agent,
            "oci-files",
            docker("busybox:1.0"),
            json!({"value": "cat /etc/added /opq/new; test -e /etc/gone || echo gone"}),
            "added\nnew\ngone\n",
        );
        for id in ["oci", "oci-files"] {
            assert_eq!(agent.remove(id).status, 200);
        }
        let provisioner = agent.work_dir.join("provisioner");
        Agent::eventually("rootfses removed", Duration::from_secs(10), || {
            !provisioner.join("containers/oci-files").exists()
        });
        assert_eq!(mounts_under(&provisioner), Vec::<String>::new());
    }
}
