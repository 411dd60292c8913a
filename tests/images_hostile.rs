//! What an image can do to the agent (issue 11): its `/etc/passwd` a link to `/dev/zero` or to
//! the host's, an `/etc/group` over the bound, a layer of 100,000 files pruned while `/health`
//! is asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod images_support;
mod provisioner_support;

use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use images_support::{launch_image, start};
use mesolite::provisioner::Digest;
use provisioner_support::{build_image, dir, file, gzip, link, TempDir, TestImage};
use serde_json::{json, Value};

/// The busybox image with a third layer (`extra` writes it) and `user` as its config's User.
fn image_with(extra: impl FnOnce(&mut tar::Builder<Vec<u8>>), user: &str) -> TestImage {
    let mut image = build_image("id");
    let mut l3 = tar::Builder::new(Vec::new());
    dir(&mut l3, "etc");
    extra(&mut l3);
    let l3 = l3.into_inner().unwrap();
    image.diff_ids.push(Digest::of_bytes(&l3));
    image.layers.push(gzip(&l3));
    image
        .layer_media_types
        .push("application/vnd.docker.image.rootfs.diff.tar.gzip");
    let mut config: Value = serde_json::from_slice(&image.config).unwrap();
    config["config"]["User"] = json!(user);
    config["rootfs"]["diff_ids"] = json!(image.diff_ids);
    image.config = serde_json::to_vec(&config).unwrap();
    image
}

fn peak_rss_kib(agent: &Agent) -> u64 {
    let pid = agent.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn an_image_user_file_out_of_its_rootfs_fails_the_launch_at_once() {
    if !root_or_skip("an_image_user_file_out_of_its_rootfs_fails_the_launch_at_once") {
        return;
    }
    let t = TempDir::new();
    let registry = t.dir("local-registry");
    let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    let images = [
        (
            "zero",
            image_with(
                |b| link(b, tar::EntryType::Symlink, "etc/passwd", "/dev/zero"),
                "app",
            ),
            "The image's user 'app' is not in its /etc/passwd",
        ),
        (
            // `root` is in the host's /etc/passwd, which the image's link names.
            "host",
            image_with(
                |b| link(b, tar::EntryType::Symlink, "etc/passwd", "/etc/passwd"),
                "root",
            ),
            // Resolved in the rootfs, the link names itself.
            "Failed to read the image's /etc/passwd to resolve its user: Too many levels of symbolic links",
        ),
        (
            "biggroup",
            image_with(
                |b| {
                    file(b, "etc/passwd", 0o644, passwd.as_bytes());
                    file(b, "etc/group", 0o644, &vec![b'#'; 3 << 20]);
                },
                "app:staff",
            ),
            "Failed to read the image's /etc/group to resolve its user: larger than 1048576 bytes",
        ),
    ];
    for (name, image, _) in &images {
        image.write_docker_save(
            &registry.join(format!("{name}:latest.tar")),
            &format!("{name}:latest"),
        );
    }
    let agent = start(registry.to_str().unwrap(), "overlay");
    for (name, _, want) in &images {
        let started = Instant::now();
        let r = launch_image(&agent, name, name, json!({"shell": false}));
        assert_eq!(r.status, 400, "{name}: {r:?}\n{}", agent.log_text());
        assert!(r.text.contains(want), "{name}: {r:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: {:?}",
            started.elapsed()
        );
        let w = agent.wait_json(name);
        assert_eq!(w["reason"], json!("REASON_CONTAINER_LAUNCH_FAILED"), "{w}");
        assert_eq!(agent.remove(name).status, 200);
    }
    let peak = peak_rss_kib(&agent);
    assert!(peak < 8 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn pruning_a_layer_of_100000_files_keeps_health_answering() {
    if !root_or_skip("pruning_a_layer_of_100000_files_keeps_health_answering") {
        return;
    }
    let t = TempDir::new();
    let registry = images_support::local_registry(&t, &build_image("true"));
    let agent = start(registry.to_str().unwrap(), "overlay");
    let r = launch_image(&agent, "pull", "busybox", json!({"value": "true"}));
    assert_eq!(r.status, 200, "{r:?}");
    agent.wait_json("pull");
    assert_eq!(agent.remove("pull").status, 200);
    let store = agent.work_dir.join("store/docker");
    Agent::eventually("rootfs removed", Duration::from_secs(10), || {
        !agent.work_dir.join("provisioner/containers/pull").exists()
    });
    // 100,000 files in one layer's tree, made here directly (unpacking them would be slow).
    let layer = std::fs::read_dir(store.join("layers"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let many = layer.join("many");
    for d in 0..100 {
        let sub = many.join(d.to_string());
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..1000 {
            std::fs::File::create(sub.join(f.to_string())).unwrap();
        }
    }
    let socket = agent.socket.clone();
    let prune = std::thread::spawn(move || {
        let c = mesolite::http::Client::new(&socket).with_timeout(Some(Duration::from_secs(60)));
        c.post_json("/api/v1", &json!({"type": "PRUNE_IMAGES"}))
            .unwrap()
            .status
    });
    let c = agent.client();
    let mut times = Vec::new();
    let staging = store.join("staging");
    let gone = || !layer.exists() && std::fs::read_dir(&staging).map_or(true, |d| d.count() == 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Asked while PRUNE_IMAGES runs and until its trees are deleted, and at least 200 times.
    while (!prune.is_finished() || !gone() || times.len() < 200) && Instant::now() < deadline {
        let started = Instant::now();
        assert_eq!(c.get("/health").unwrap().status, 200);
        times.push(started.elapsed());
    }
    assert_eq!(prune.join().unwrap(), 200);
    assert!(gone(), "the layer is still there");
    times.sort();
    let p99 = times[times.len() * 99 / 100];
    assert!(
        p99 < Duration::from_millis(10),
        "/health p99 {p99:?} over {} asks (max {:?})",
        times.len(),
        times.last()
    );
}
