//! AppC images end to end: a real agent (root) launches tasks in ACIs built here, found by
//! simple discovery on a loopback `python3 -m http.server` or in a local directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod appc_support;
mod common;
mod images_support;
mod provisioner_support;

use std::time::Duration;

use appc_support::*;
use common::{root_or_skip, Agent};
use provisioner_support::TempDir;
use serde_json::json;

const NAME: &str = "example.com/busybox";

/// The image of most tests: busybox, a marker file, and an `app`.
fn busybox_aci() -> Aci {
    busybox_aci_with(&[("etc/marker", "from-the-aci\n")])
}

fn busybox_aci_with(files: &[(&str, &str)]) -> Aci {
    let mut spec = AciSpec::new(NAME, "1.0");
    spec.files = files;
    spec.app = Some(json!({
        "exec": ["/bin/sh", "-c", "echo app-exec $GREETING; pwd", "ignored-$0"],
        "user": "0", "group": "0",
        "environment": [{"name": "GREETING", "value": "hi"}, {"name": "PATH", "value": "/bin"}],
        "workingDirectory": "/etc"}));
    build_aci(&spec)
}

const SEES_THE_IMAGE: &str = "cat /etc/marker; test ! -e /usr && echo no-usr; \
                              test -e /bin/busybox && echo busybox; echo sandbox=$MESOS_SANDBOX";

fn runs_with(backend: &str) {
    let t = TempDir::new();
    let root = t.dir("www");
    // The bind backend mounts the image read-only: the mount points must be in it (as Mesos
    // requires; real images have /proc, /sys and /dev).
    let aci = if backend == "bind" {
        busybox_aci_with(&[
            ("etc/marker", "from-the-aci\n"),
            ("mnt/mesos/sandbox/.mount-point", ""),
            ("proc/.mount-point", ""),
            ("sys/.mount-point", ""),
            ("dev/.mount-point", ""),
        ])
    } else {
        busybox_aci()
    };
    write_aci(&root, NAME, "1.0", &aci);
    let server = HttpServer::start(&root, t.path().join("http.log"));
    let agent = start_agent(&server.prefix(), backend);
    let path = format!("{NAME}-1.0-linux-{}.aci", arch());

    // A command value: it runs in the image, which is all it sees.
    let (status, text) = launch(
        &agent,
        "a1",
        appc(NAME, Some("1.0"), None, true),
        json!({"value": SEES_THE_IMAGE, "shell": true}),
    );
    assert_eq!(status, 200, "{text}\n{}", agent.log_text());
    let (code, out) = finish(&agent, "a1");
    assert_eq!(code, json!(0), "{out}");
    for want in [
        "from-the-aci",
        "no-usr",
        "busybox",
        "sandbox=/mnt/mesos/sandbox",
    ] {
        assert!(out.contains(want), "{want:?} missing from {out:?}");
    }
    assert_eq!(stored_images(&agent), vec![aci.id.clone()]);
    let image_dir = agent.work_dir.join("store/appc/images").join(&aci.id);
    assert!(image_dir.join("manifest").is_file() && image_dir.join("rootfs/bin").is_dir());
    assert_eq!(server.gets(&path), 1);

    // No command value: the app's exec, environment and workingDirectory (appc/runtime);
    // arguments of exec past the first are kept since the task gives none.
    let (status, text) = launch(
        &agent,
        "a2",
        appc(NAME, Some("1.0"), None, true),
        json!({"shell": false}),
    );
    assert_eq!(status, 200, "{text}");
    let (code, out) = finish(&agent, "a2");
    assert_eq!(code, json!(0), "{out}");
    assert_eq!(out, "app-exec hi\n/etc\n");
    // Stored: not fetched again.
    assert_eq!(server.gets(&path), 1, "{}", server.log());

    // Arguments replace exec[1..]; the task's environment wins over the image's.
    let (status, text) = launch(
        &agent,
        "a3",
        appc(NAME, Some("1.0"), None, true),
        json!({"shell": false, "arguments": ["-c", "echo args $GREETING"],
               "environment": {"variables": [{"name": "GREETING", "value": "task"}]}}),
    );
    assert_eq!(status, 200, "{text}");
    let (code, out) = finish(&agent, "a3");
    assert_eq!((code, out.as_str()), (json!(0), "args task\n"));

    for id in ["a1", "a2", "a3"] {
        assert_eq!(agent.remove(id).status, 200);
    }
}

#[test]
fn runs_in_the_image_with_the_copy_backend() {
    if root_or_skip("runs_in_the_image_with_the_copy_backend") {
        runs_with("copy");
    }
}

#[test]
fn runs_in_the_image_with_the_bind_backend() {
    if root_or_skip("runs_in_the_image_with_the_bind_backend") {
        runs_with("bind");
    }
}

#[test]
fn runs_in_the_image_with_the_overlay_backend() {
    if root_or_skip("runs_in_the_image_with_the_overlay_backend") {
        runs_with("overlay");
    }
}

#[test]
fn dependencies_are_layered_beneath() {
    if !root_or_skip("dependencies_are_layered_beneath") {
        return;
    }
    let t = TempDir::new();
    let root = t.dir("www");
    let mut base = AciSpec::new("example.com/base", "2");
    base.files = &[("etc/base", "from-base\n"), ("etc/both", "base\n")];
    let base_aci = build_aci(&base);
    write_aci(&root, "example.com/base", "2", &base_aci);
    // An image without busybox of its own: it comes from the dependency.
    let mut app = AciSpec::new("example.com/app", "1");
    app.busybox = false;
    app.files = &[("etc/app", "from-app\n"), ("etc/both", "app\n")];
    app.dependencies = json!([{"imageName": "example.com/base",
        "labels": [{"name": "version", "value": "2"}]}]);
    app.app = Some(
        json!({"exec": ["/bin/cat", "/etc/base", "/etc/app", "/etc/both"],
        "user": "0", "group": "0"}),
    );
    let app_aci = build_aci(&app);
    write_aci(&root, "example.com/app", "1", &app_aci);
    let server = HttpServer::start(&root, t.path().join("http.log"));

    for backend in ["overlay", "copy"] {
        let agent = start_agent(&server.prefix(), backend);
        let (status, text) = launch(
            &agent,
            "dep",
            appc("example.com/app", Some("1"), None, true),
            json!({"shell": false}),
        );
        assert_eq!(status, 200, "{text}\n{}", agent.log_text());
        let (code, out) = finish(&agent, "dep");
        assert_eq!(code, json!(0), "{backend}: {out}");
        assert_eq!(out, "from-base\nfrom-app\napp\n", "{backend}");
        let mut want = vec![base_aci.id.clone(), app_aci.id.clone()];
        want.sort();
        assert_eq!(stored_images(&agent), want);
    }
    let base_path = format!("example.com/base-2-linux-{}.aci", arch());
    assert_eq!(
        server.gets(&base_path),
        2,
        "once per agent:\n{}",
        server.log()
    );

    // The bind backend takes one layer only: a clear failure, not a wrong rootfs.
    let agent = start_agent(&server.prefix(), "bind");
    let (status, text) = launch(
        &agent,
        "bind",
        appc("example.com/app", Some("1"), None, true),
        json!({"value": "true"}),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("layer"), "{text}");
}

#[test]
fn dependency_cycles_fail() {
    if !root_or_skip("dependency_cycles_fail") {
        return;
    }
    let t = TempDir::new();
    let root = t.dir("www");
    for (name, other) in [
        ("example.com/a", "example.com/b"),
        ("example.com/b", "example.com/a"),
    ] {
        let mut spec = AciSpec::new(name, "1");
        spec.dependencies = json!([{"imageName": other,
            "labels": [{"name": "version", "value": "1"}]}]);
        write_aci(&root, name, "1", &build_aci(&spec));
    }
    let agent = start_agent(&format!("{}/", root.display()), "overlay");
    let (status, text) = launch(
        &agent,
        "cycle",
        appc("example.com/a", Some("1"), None, true),
        json!({"value": "true"}),
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("cycle: example.com/a -> example.com/b -> example.com/a"),
        "{text}"
    );
}

#[test]
fn ids_cached_and_wrong_ids() {
    if !root_or_skip("ids_cached_and_wrong_ids") {
        return;
    }
    let t = TempDir::new();
    let root = t.dir("www");
    let aci = busybox_aci();
    write_aci(&root, NAME, "1.0", &aci);
    let server = HttpServer::start(&root, t.path().join("http.log"));
    let agent = start_agent(&server.prefix(), "overlay");
    let path = format!("{NAME}-1.0-linux-{}.aci", arch());

    // A wrong id: the fetched image is not it; nothing is stored.
    let wrong = format!("sha512-{}", "0".repeat(128));
    let (status, text) = launch(
        &agent,
        "wrong",
        appc(NAME, Some("1.0"), Some(&wrong), true),
        json!({"value": "true"}),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains(&format!("has image id {}", aci.id)), "{text}");
    assert!(
        text.contains(&format!("not the requested {wrong}")),
        "{text}"
    );
    assert_eq!(
        agent.wait_json("wrong")["reason"],
        json!("REASON_CONTAINER_LAUNCH_FAILED")
    );
    assert!(stored_images(&agent).is_empty());
    assert_eq!(staging_entries(&agent), 0);
    assert_eq!(server.gets(&path), 1);

    // The right id: fetched, checked, stored.
    let (status, text) = launch(
        &agent,
        "right",
        appc(NAME, Some("1.0"), Some(&aci.id), true),
        json!({"value": "cat /etc/marker"}),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(finish(&agent, "right"), (json!(0), "from-the-aci\n".into()));
    assert_eq!(server.gets(&path), 2);

    // Given and stored: used without a request, even when the server no longer has it.
    std::fs::remove_file(aci_path(&root, NAME, "1.0")).unwrap();
    let (status, text) = launch(
        &agent,
        "byid",
        appc(NAME, None, Some(&aci.id), true),
        json!({"value": "cat /etc/marker"}),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(finish(&agent, "byid"), (json!(0), "from-the-aci\n".into()));
    assert_eq!(server.gets(&path), 2, "{}", server.log());

    // cached=false fetches again (and fails now that the server lost it).
    let (status, text) = launch(
        &agent,
        "force",
        appc(NAME, Some("1.0"), None, false),
        json!({"value": "true"}),
    );
    assert_eq!(status, 400, "{text}");
    assert_eq!(server.gets(&path), 3);
    write_aci(&root, NAME, "1.0", &aci);
    let (status, text) = launch(
        &agent,
        "force2",
        appc(NAME, Some("1.0"), None, false),
        json!({"value": "true"}),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(server.gets(&path), 4);
    assert_eq!(stored_images(&agent), vec![aci.id.clone()]);

    // PRUNE_IMAGES drops AppC images no running container uses (an ended container's
    // rootfs is gone with it).
    let (status, text) = launch(
        &agent,
        "hold",
        appc(NAME, Some("1.0"), None, true),
        json!({"value": "exec /bin/busybox sleep 600"}),
    );
    assert_eq!(status, 200, "{text}");
    let prune = || agent.call(json!({"type": "PRUNE_IMAGES"})).status;
    assert_eq!(prune(), 200);
    assert_eq!(stored_images(&agent), vec![aci.id.clone()], "in use");
    assert_eq!(agent.kill("hold", None).status, 200);
    agent.wait_json("hold");
    assert_eq!(prune(), 200);
    assert!(stored_images(&agent).is_empty());
}

#[test]
fn local_directory_prefix() {
    if !root_or_skip("local_directory_prefix") {
        return;
    }
    let t = TempDir::new();
    let root = t.dir("acis");
    let aci = busybox_aci();
    write_aci(&root, NAME, "1.0", &aci);
    for prefix in [
        format!("{}/", root.display()),
        format!("file://{}/", root.display()),
    ] {
        let agent = start_agent(&prefix, "overlay");
        let (status, text) = launch(
            &agent,
            "local",
            appc(NAME, Some("1.0"), None, true),
            json!({"value": SEES_THE_IMAGE, "shell": true}),
        );
        assert_eq!(status, 200, "{text}\n{}", agent.log_text());
        let (code, out) = finish(&agent, "local");
        assert_eq!(code, json!(0), "{out}");
        assert!(
            out.contains("from-the-aci") && out.contains("no-usr"),
            "{out}"
        );
        assert_eq!(stored_images(&agent), vec![aci.id.clone()]);
        // A version the directory does not have.
        let (status, text) = launch(
            &agent,
            "nover",
            appc(NAME, Some("9"), None, true),
            json!({"value": "true"}),
        );
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("busybox-9-linux"), "{text}");
    }
}

#[test]
fn missing_images_fail_clearly_and_store_nothing() {
    if !root_or_skip("missing_images_fail_clearly_and_store_nothing") {
        return;
    }
    let t = TempDir::new();
    let root = t.dir("www");
    let server = HttpServer::start(&root, t.path().join("http.log"));
    let agent = start_agent(&server.prefix(), "overlay");
    let (status, text) = launch(
        &agent,
        "missing",
        appc("example.com/nosuch", None, None, true),
        json!({"value": "true"}),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("example.com/nosuch-latest-linux"), "{text}");
    assert!(text.contains("404"), "{text}");
    assert!(stored_images(&agent).is_empty());
    assert_eq!(staging_entries(&agent), 0);
    // Bad requests are refused before anything is made.
    let (status, text) = launch(
        &agent,
        "bad",
        appc("../../etc", None, None, true),
        json!({"value": "true"}),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Invalid AppC image name"), "{text}");
    assert!(!agent.sandbox("bad").exists());

    // The provider must be enabled.
    let docker_only = Agent::start(&[images_support::ISOLATION, "--image_providers=docker"]);
    let (status, text) = launch(
        &docker_only,
        "off",
        appc(NAME, None, None, true),
        json!({"value": "true"}),
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("--image_providers does not name 'appc'"),
        "{text}"
    );
}

#[test]
fn concurrent_launches_fetch_once() {
    if !root_or_skip("concurrent_launches_fetch_once") {
        return;
    }
    // cached=false: each launch wants a fetch; they share the one in flight (the server takes
    // a second to answer, so it surely is).
    let (prefix, requests) = slow_server(busybox_aci().bytes, Duration::from_secs(1));
    let agent = start_agent(&prefix, "overlay");
    let threads: Vec<_> = (0..5)
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
                            "command": {"value": "cat /etc/marker"},
                            "container": {"type": "MESOS", "mesos": {
                                "image": appc(NAME, Some("1.0"), None, false)}}}}),
                    )
                    .unwrap();
                (r.status, r.text())
            })
        })
        .collect();
    for th in threads {
        let (status, text) = th.join().unwrap();
        assert_eq!(status, 200, "{text}");
    }
    for i in 0..5 {
        assert_eq!(
            finish(&agent, &format!("c{i}")),
            (json!(0), "from-the-aci\n".into())
        );
    }
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    let pulls = agent.log_text().matches("Pulling image appc:").count();
    assert_eq!(pulls, 1, "{}", agent.log_text());
}

/// A raw tar entry: name, type, link target.
type Entry<'a> = (&'a str, tar::EntryType, &'a str);

/// An ACI holding `entries` (raw tar entries, after a valid manifest and rootfs).
fn hostile_aci(name: &str, entries: &[Entry<'_>]) -> Aci {
    let spec = AciSpec::new(name, "1");
    let mut tar = Vec::new();
    let manifest = serde_json::to_vec(&manifest(&spec)).unwrap();
    raw_entry(&mut tar, "manifest", tar::EntryType::Regular, "", &manifest);
    raw_entry(&mut tar, "rootfs/", tar::EntryType::Directory, "", b"");
    for (path, kind, link) in entries {
        raw_entry(&mut tar, path, *kind, link, b"x");
    }
    tar.extend_from_slice(&[0u8; 1024]);
    aci_of_tar(tar)
}

#[test]
fn hostile_acis_write_nothing_outside() {
    if !root_or_skip("hostile_acis_write_nothing_outside") {
        return;
    }
    let t = TempDir::new();
    let root = t.dir("acis");
    let outside = t.dir("outside");
    let out = outside.to_str().unwrap().to_string();
    let regular = tar::EntryType::Regular;
    let symlink = tar::EntryType::Symlink;
    let planted = format!("{out}/abs");
    let cases: Vec<(&str, Vec<Entry<'_>>, &str)> = vec![
        (
            "example.com/dotdot",
            vec![("rootfs/../../../../../../escaped", regular, "")],
            "'..'",
        ),
        (
            "example.com/abs",
            vec![(planted.as_str(), regular, "")],
            "absolute",
        ),
        (
            "example.com/symlink",
            vec![
                ("rootfs/evil", symlink, out.as_str()),
                ("rootfs/evil/planted", regular, ""),
            ],
            "symbolic link",
        ),
        // A manifest that is a link to a host file: not an image.
        ("example.com/manifest-link", vec![], "no 'manifest' file"),
        (
            "example.com/extra",
            vec![("other", regular, "")],
            "unexpected top-level entry",
        ),
    ];
    let agent = start_agent(&format!("{}/", root.display()), "copy");
    for (i, (name, entries, want)) in cases.iter().enumerate() {
        let aci = if *name == "example.com/manifest-link" {
            let mut tar = Vec::new();
            raw_entry(&mut tar, "manifest", symlink, "/etc/hostname", b"");
            raw_entry(&mut tar, "rootfs/", tar::EntryType::Directory, "", b"");
            tar.extend_from_slice(&[0u8; 1024]);
            aci_of_tar(tar)
        } else {
            hostile_aci(name, entries)
        };
        write_aci(&root, name, "1", &aci);
        let id = format!("h{i}");
        let (status, text) = launch(
            &agent,
            &id,
            appc(name, Some("1"), None, true),
            json!({"value": "true"}),
        );
        assert_eq!(status, 400, "{name}: {text}");
        assert!(text.contains(want), "{name}: {want:?} not in {text}");
    }
    let left: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
    for escaped in ["escaped", "tmp/escaped"] {
        assert!(!std::path::Path::new("/").join(escaped).exists());
    }
    assert!(stored_images(&agent).is_empty());
    assert_eq!(staging_entries(&agent), 0);
}
