//! Pulls from a local registry directory (`docker save` tarball, OCI layout) with the real
//! `mesolite-fetch`, then real root filesystems with each backend, chrooted into and run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod provisioner_support;

use std::path::Path;

use mesolite::provisioner::backend::{self, BackendError, BackendKind, RootfsPaths};
use mesolite::provisioner::{ImageLookup, ImageReference, Store, WhiteoutFormat};
use provisioner_support::*;
use serde_json::json;

fn layer_events(run: &Run) -> usize {
    run.lines.iter().filter(|l| l["event"] == "layer").count()
}

#[test]
fn docker_save_tarball_copy_backend_and_missing_layer() {
    let t = TempDir::new();
    let image = build_image("echo hi");
    let registry = t.dir("registry");
    image.write_docker_save(&registry.join("busybox:latest.tar"), "busybox:latest");
    let store_dir = t.path().join("store");
    let request = pull_request("busybox", registry.to_str().unwrap(), &store_dir, "aufs");
    let run = run_pull(&request);
    assert!(run.done(), "{run:?}");
    let resolved = run.event("resolved").unwrap();
    assert_eq!(resolved["layers"], json!(image.diff_ids));
    assert_eq!(
        resolved["config"]["Cmd"],
        json!(["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(layer_events(&run), 2);
    assert_eq!(run.event("done").unwrap()["complete"], json!(true));

    let store = Store::new(&store_dir);
    let reference = ImageReference::parse("busybox").unwrap();
    let ImageLookup::Ready(record) = store.lookup(&reference, WhiteoutFormat::Aufs) else {
        panic!("image not ready");
    };
    assert_eq!(record.layers, image.diff_ids);
    assert_eq!(record.config.working_dir.as_deref(), Some("/etc"));
    // Stored AUFS-style: the whiteout files are kept for the copy backend.
    let top = store.layer_rootfs(&image.diff_ids[1], WhiteoutFormat::Aufs);
    assert!(top.join("etc/.wh.gone").is_file() && top.join("opq/.wh..wh..opq").is_file());
    assert!(
        !store.staging_root().exists() || store.staging_root().read_dir().unwrap().count() == 0
    );

    // Pulled again: every layer is there, nothing is unpacked.
    let run = run_pull(&request);
    assert!(run.done(), "{run:?}");
    assert_eq!(layer_events(&run), 0);
    assert_eq!(run.event("resolved").unwrap()["missing"], json!([]));

    // MissingLayer: a layer's rootfs vanished, the image needs a pull, only that layer comes.
    std::fs::remove_dir_all(store.layer_rootfs(&image.diff_ids[0], WhiteoutFormat::Aufs)).unwrap();
    assert!(matches!(
        store.lookup(&reference, WhiteoutFormat::Aufs),
        ImageLookup::MissingLayers { missing, .. } if missing == vec![image.diff_ids[0].clone()]
    ));
    let run = run_pull(&request);
    assert!(run.done(), "{run:?}");
    assert_eq!(layer_events(&run), 1);
    assert_eq!(run.lines[1]["digest"], json!(image.diff_ids[0]));

    if !is_root() {
        println!("SKIP rootfs checks: not root");
        return;
    }
    check_backend(
        &t.dir("work"),
        &store,
        &record,
        BackendKind::Copy,
        WhiteoutFormat::Aufs,
    );

    // bind: one layer only, read-only.
    let work = t.dir("work-bind");
    let two = store.layer_rootfses(&record, WhiteoutFormat::Aufs);
    let paths = RootfsPaths::new(&work, "b", BackendKind::Bind, "r");
    assert!(matches!(
        backend::provision(BackendKind::Bind, &two, &paths),
        Err(BackendError::BindNeedsOneLayer { layers: 2 })
    ));
    backend::provision(BackendKind::Bind, &two[..1], &paths).unwrap();
    let echo = [
        "/bin/sh".to_string(),
        "-c".into(),
        "echo hi; cat /etc/gone".into(),
    ];
    assert_eq!(run_in(&paths.rootfs, &echo, &[]), "hi\ngone\n");
    let touch = std::process::Command::new("/usr/sbin/chroot")
        .arg(&paths.rootfs)
        .args(["/bin/touch", "/tmp/x"])
        .output()
        .unwrap();
    assert!(!touch.status.success(), "bind rootfs is writable");
    assert!(String::from_utf8_lossy(&touch.stderr).contains("Read-only"));
    backend::destroy_container(&work, "b").unwrap();
    assert!(backend::mount_points_under(&work).unwrap().is_empty());
    assert!(
        two[0].join("bin/busybox").is_file(),
        "destroy touched the store"
    );
}

#[test]
fn oci_layout_index_overlay_backend() {
    let t = TempDir::new();
    let image = build_image("echo hi");
    let arm = build_image("echo arm");
    let registry = t.dir("registry");
    image.write_oci_layout(&registry.join("busybox:1.0"), "1.0", &arm);
    let store_dir = t.path().join("store");
    let run = run_pull(&pull_request(
        "busybox:1.0",
        registry.to_str().unwrap(),
        &store_dir,
        "overlay",
    ));
    assert!(run.done(), "{run:?}");
    let resolved = run.event("resolved").unwrap();
    let manifest_digest = mesolite::provisioner::Digest::of_bytes(&image.manifest());
    assert_eq!(resolved["manifest_digest"], json!(manifest_digest));
    assert_eq!(resolved["layers"], json!(image.layer_digests()));
    assert_eq!(resolved["config"]["Cmd"][2], json!("echo hi"));

    let store = Store::new(&store_dir);
    let reference = ImageReference::parse("busybox:1.0").unwrap();
    let ImageLookup::Ready(record) = store.lookup(&reference, WhiteoutFormat::Overlay) else {
        panic!("image not ready");
    };
    // Converted for overlayfs at import.
    let top = store.layer_rootfs(&image.layer_digests()[1], WhiteoutFormat::Overlay);
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let whiteout = std::fs::symlink_metadata(top.join("etc/gone")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert!(mesolite::provisioner::sys::is_overlay_opaque(
        &top.join("opq")
    ));
    assert!(!top.join("opq/.wh..wh..opq").exists() && !top.join("etc/.wh.gone").exists());

    if let Some(why) = backend::overlay_unavailable(&store_dir) {
        println!("SKIP overlay: {why}");
        return;
    }
    assert_eq!(backend::default_backend(&store_dir), BackendKind::Overlay);
    let overlay = WhiteoutFormat::Overlay;
    check_backend(
        &t.dir("work"),
        &store,
        &record,
        BackendKind::Overlay,
        overlay,
    );
    // The copy backend reads overlay-form layers too.
    check_backend(&t.dir("work2"), &store, &record, BackendKind::Copy, overlay);
}

fn hostile_pull(t: &TempDir, name: &str, layer: Vec<u8>) -> (Run, Store) {
    let image = build_image("echo hi");
    let mut layer = layer;
    layer.extend_from_slice(&[0u8; 1024]);
    let hostile = provisioner_support::TestImage {
        diff_ids: vec![
            image.diff_ids[0].clone(),
            mesolite::provisioner::Digest::of_bytes(&layer),
        ],
        layers: vec![image.layers[0].clone(), gzip(&layer)],
        layer_media_types: image.layer_media_types.clone(),
        config: serde_json::to_vec(&json!({"config": {}, "rootfs": {"diff_ids": [
            image.diff_ids[0], mesolite::provisioner::Digest::of_bytes(&layer)]}}))
        .unwrap(),
    };
    let registry = t.dir(&format!("registry-{name}"));
    hostile.write_docker_save(&registry.join(format!("{name}:latest.tar")), "x");
    let store_dir = t.path().join(format!("store-{name}"));
    let run = run_pull(&pull_request(
        name,
        registry.to_str().unwrap(),
        &store_dir,
        "aufs",
    ));
    (run, Store::new(store_dir))
}

#[test]
fn hostile_layers_write_nothing_outside_the_store() {
    let t = TempDir::new();
    let outside = t.dir("outside");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            {
                let mut l = Vec::new();
                raw_entry(
                    &mut l,
                    "../../../../../escaped",
                    tar::EntryType::Regular,
                    "",
                    b"x",
                );
                l
            },
            "'..'",
        ),
        (
            "absolute",
            {
                let mut l = Vec::new();
                let target = format!("{}/abs", outside.display());
                raw_entry(&mut l, &target, tar::EntryType::Regular, "", b"x");
                l
            },
            "absolute",
        ),
        (
            "symlink",
            {
                let mut l = Vec::new();
                raw_entry(
                    &mut l,
                    "evil",
                    tar::EntryType::Symlink,
                    outside.to_str().unwrap(),
                    b"",
                );
                raw_entry(&mut l, "evil/planted", tar::EntryType::Regular, "", b"x");
                l
            },
            "symbolic link",
        ),
        (
            "hardlink",
            {
                let mut l = Vec::new();
                raw_entry(
                    &mut l,
                    "passwd",
                    tar::EntryType::Link,
                    "../../../../../../etc/passwd",
                    b"",
                );
                l
            },
            "hard link",
        ),
    ];
    for (name, layer, why) in cases {
        let (run, store) = hostile_pull(&t, name, layer);
        assert!(!run.done() && run.code != 0, "{name}: {run:?}");
        let error = run.event("failed").unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(error.contains(why), "{name}: {error}");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "{name} wrote outside"
        );
        assert!(!t.path().parent().unwrap().join("escaped").exists());
        // Nothing half-stored: only the good bottom layer, no record, staging empty.
        let layers = std::fs::read_dir(store.layers_dir()).unwrap().count();
        assert_eq!(layers, 1, "{name}");
        assert!(store.read_image("library/x:latest").unwrap().is_none());
        assert_eq!(
            store.staging_root().read_dir().unwrap().count(),
            0,
            "{name}"
        );
    }
    assert!(Path::new("/etc/passwd").is_file());
}
