//! Images built by Docker itself (issue 6, acceptance 1 and 2): a busybox-static rootfs goes in
//! with `docker import`, `docker build` (the legacy builder of Debian's docker.io) deletes a file
//! and replaces a directory in layers of their own, and `docker push` puts both images in
//! Debian's docker-registry on loopback. The agent then runs them from that registry with each
//! backend, from `docker save` output, and from an OCI layout holding Docker's blobs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod dockerd_support;
mod images_support;
mod provisioner_support;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{root_or_skip, Agent};
use dockerd_support::{Dockerd, ONE_DOCKERD};
use images_support::{launch_image, mounts_under, start};
use mesolite::provisioner::Digest;
use provisioner_support::{http, start_registry, RegistryProcess, TempDir, TestImage};
use serde_json::{json, Value};

const BASE: &str = "mesolite-test/base:1";
const MULTI: &str = "mesolite-test/multi:1";

const DOCKERFILE: &str = "FROM mesolite-test/base:1
RUN rm /etc/deleteme
RUN rm -rf /etc/keep && mkdir /etc/keep && echo new > /etc/keep/new
ENV GREETING=hello-from-docker
WORKDIR /etc/keep
CMD [\"/bin/sh\", \"-c\", \"echo $GREETING; pwd; ls\"]
";

/// The images Docker built, in a registry (running) and on disk.
struct Built {
    registry: RegistryProcess,
    /// `docker save` tarballs: `<dir>/mesolite-test/{base,multi}:1.tar`.
    save_dir: PathBuf,
    /// An OCI layout of the multi-layer image: `<dir>/mesolite-test/multi:1/`.
    oci_dir: PathBuf,
}

/// A busybox-static rootfs as a tarball, with what the upper layers delete.
fn rootfs_tarball(t: &TempDir) -> PathBuf {
    let root = t.dir("rootfs");
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "etc/keep",
        "mnt/mesos/sandbox",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "rm", "mkdir", "echo", "test", "pwd"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("etc/deleteme"), "lower\n").unwrap();
    std::fs::write(root.join("etc/keep/old"), "lower\n").unwrap();
    let tarball = t.path().join("rootfs.tar");
    dockerd_support::tar_dir(&root, &tarball);
    tarball
}

/// Builds and publishes the two images, or prints why it cannot (no docker.io, no registry).
fn build(t: &TempDir) -> Option<Built> {
    if !Path::new("/bin/busybox").exists() {
        println!("SKIP: /bin/busybox is missing (apt-get install busybox-static)");
        return None;
    }
    let registry = start_registry(t)?;
    let host = format!("127.0.0.1:{}", registry.port);
    let save_dir = t.dir("saved");
    let _one = ONE_DOCKERD.lock().unwrap_or_else(|e| e.into_inner());
    let docker = Dockerd::start(&t.path().join("docker"))?;
    docker.import(&rootfs_tarball(t), BASE);
    let context = t.dir("context");
    std::fs::write(context.join("Dockerfile"), DOCKERFILE).unwrap();
    docker.run(&[
        "build",
        "--network=none",
        "-t",
        MULTI,
        context.to_str().unwrap(),
    ]);
    std::fs::create_dir_all(save_dir.join("mesolite-test")).unwrap();
    for name in [BASE, MULTI] {
        // Loopback registries are insecure-allowed by default: plain http works.
        let remote = format!("{host}/{name}");
        docker.run(&["tag", name, &remote]);
        docker.run(&["push", &remote]);
        let tarball = save_dir.join(format!("{name}.tar"));
        docker.run(&["save", "-o", tarball.to_str().unwrap(), name]);
    }
    drop(docker);
    let oci_dir = t.dir("oci");
    let multi = from_registry(&registry, "mesolite-test/multi", "1");
    check_whiteouts(&multi);
    multi.write_oci_layout(&oci_dir.join(MULTI), "1", &multi);
    Some(Built {
        registry,
        save_dir,
        oci_dir,
    })
}

/// The image as the registry serves it (manifest, config and layer blobs Docker pushed).
fn from_registry(registry: &RegistryProcess, repo: &str, tag: &str) -> TestImage {
    let base = registry.base();
    let get = |path: String, accept: &str| {
        let (code, _, body) = http(
            "GET",
            &format!("{base}/v2/{repo}/{path}"),
            &[("Accept", accept)],
            b"",
        );
        assert_eq!(code, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
        body
    };
    let manifest: Value = serde_json::from_slice(&get(
        format!("manifests/{tag}"),
        "application/vnd.docker.distribution.manifest.v2+json",
    ))
    .unwrap();
    let blob = |d: &Value| get(format!("blobs/{}", d.as_str().unwrap()), "*/*");
    let config = blob(&manifest["config"]["digest"]);
    let parsed: Value = serde_json::from_slice(&config).unwrap();
    let layers: Vec<Vec<u8>> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(&l["digest"]))
        .collect();
    TestImage {
        layer_media_types: vec!["application/vnd.docker.image.rootfs.diff.tar.gzip"; layers.len()],
        layers,
        diff_ids: parsed["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| Digest::parse(d.as_str().unwrap()).unwrap())
            .collect(),
        config,
    }
}

/// Docker wrote the whiteouts this test is about: a file whiteout and an opaque directory.
fn check_whiteouts(image: &TestImage) {
    let mut names = BTreeSet::new();
    for layer in &image.layers {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&layer[..])
            .read_to_end(&mut tar)
            .unwrap();
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            let path = entry
                .unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            names.insert(path.trim_start_matches("./").to_string());
        }
    }
    assert!(image.layers.len() >= 3, "{} layers", image.layers.len());
    for want in ["etc/.wh.deleteme", "etc/keep/.wh..wh..opq"] {
        assert!(
            names.contains(want),
            "{want} not in Docker's layers: {names:?}"
        );
    }
}

fn output(agent: &Agent, id: &str) -> (Value, String) {
    let w = agent.wait_json(id);
    let out = std::fs::read_to_string(agent.sandbox(id).join("stdout")).unwrap_or_default();
    let err = std::fs::read_to_string(agent.sandbox(id).join("stderr")).unwrap_or_default();
    assert_eq!(
        w["exit_status"],
        json!(0),
        "{w}\nstdout: {out}\nstderr: {err}"
    );
    (w, out)
}

/// The multi-layer image, run twice (a given command, then the image's own Cmd), then removed:
/// nothing of the container stays mounted or on disk, and PRUNE_IMAGES frees the layers.
fn runs_the_multi_layer_image(agent: &Agent, name: &str, tag: &str) {
    let script = "test ! -e /etc/deleteme && echo deleted-is-absent; \
                  test ! -e /etc/keep/old && echo opaque-hides-lower; cat /etc/keep/new; \
                  echo top: $(ls -A /); echo sandbox=$MESOS_SANDBOX; \
                  echo inside > $MESOS_SANDBOX/written";
    let id = format!("{tag}-cmd");
    let r = launch_image(agent, &id, name, json!({"value": script, "shell": true}));
    assert_eq!(r.status, 200, "{r:?}\n{}", agent.log_text());
    let (_, out) = output(agent, &id);
    for want in [
        "deleted-is-absent\n",
        "opaque-hides-lower\n",
        "new\n",
        // Only the image's files, and the mount points filesystem/linux fills.
        "top: bin dev etc mnt proc sys tmp\n",
        "sandbox=/mnt/mesos/sandbox\n",
    ] {
        assert!(out.contains(want), "{want:?} missing from {out:?}");
    }
    assert_eq!(
        std::fs::read_to_string(agent.sandbox(&id).join("written")).unwrap(),
        "inside\n"
    );

    // No command value: the Dockerfile's CMD, ENV and WORKDIR (docker/runtime).
    let own = format!("{tag}-own");
    let r = launch_image(agent, &own, name, json!({"shell": false}));
    assert_eq!(r.status, 200, "{r:?}");
    let (_, out) = output(agent, &own);
    assert_eq!(out, "hello-from-docker\n/etc/keep\nnew\n");

    for id in [&id, &own] {
        assert_eq!(agent.remove(id).status, 200);
    }
    let provisioner = agent.work_dir.join("provisioner");
    Agent::eventually("rootfses removed", Duration::from_secs(10), || {
        std::fs::read_dir(provisioner.join("containers"))
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    });
    assert_eq!(mounts_under(&agent.work_dir), Vec::<String>::new());
    let layers = agent.work_dir.join("store/docker/layers");
    assert!(std::fs::read_dir(&layers).unwrap().count() >= 3);
    let r = agent.call(json!({"type": "PRUNE_IMAGES"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(std::fs::read_dir(&layers).unwrap().count(), 0);
}

#[test]
fn docker_built_images_from_the_registry_with_each_backend() {
    if !root_or_skip("docker_built_images_from_the_registry_with_each_backend") {
        return;
    }
    let t = TempDir::new();
    let Some(built) = build(&t) else { return };
    let registry = built.registry.base();
    for backend in ["copy", "overlay"] {
        let agent = start(&registry, backend);
        runs_the_multi_layer_image(&agent, MULTI, backend);
    }

    // bind: Docker's single-layer image runs read-only; the multi-layer one is refused.
    let agent = start(&registry, "bind");
    let r = launch_image(
        &agent,
        "bind-base",
        BASE,
        json!({"value": "cat /etc/keep/old; echo top: $(ls -A /); touch /etc/x || echo read-only", "shell": true}),
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", agent.log_text());
    let (_, out) = output(&agent, "bind-base");
    assert_eq!(out, "lower\ntop: bin dev etc mnt proc sys tmp\nread-only\n");
    let r = launch_image(&agent, "bind-multi", MULTI, json!({"value": "true"}));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.text
            .contains("The bind backend supports only single-layer images, this one has 3"),
        "{}",
        r.text
    );
}

#[test]
fn docker_built_image_from_docker_save_and_from_an_oci_layout() {
    if !root_or_skip("docker_built_image_from_docker_save_and_from_an_oci_layout") {
        return;
    }
    let t = TempDir::new();
    let Some(built) = build(&t) else { return };
    let agent = start(built.save_dir.to_str().unwrap(), "overlay");
    runs_the_multi_layer_image(&agent, MULTI, "saved");
    let agent = start(built.oci_dir.to_str().unwrap(), "copy");
    runs_the_multi_layer_image(&agent, MULTI, "oci");
}
