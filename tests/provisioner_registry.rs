//! Pulls over the Docker Registry HTTP API v2: from Debian's real `docker-registry` on
//! loopback (images pushed here with plain HTTP), and from a tiny in-test server that demands a
//! Bearer token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod provisioner_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mesolite::provisioner::backend::BackendKind;
use mesolite::provisioner::{Digest, ImageLookup, ImageReference, Store, WhiteoutFormat};
use provisioner_support::*;
use serde_json::json;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn push_manifest(base: &str, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
    let url = format!("{base}/v2/{repo}/manifests/{reference}");
    let (code, _, answer) = http("PUT", &url, &[("Content-Type", media_type)], body);
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&answer));
}

fn push_image(base: &str, repo: &str, image: &TestImage) -> Vec<u8> {
    push_blob(base, repo, &image.config);
    for layer in &image.layers {
        push_blob(base, repo, layer);
    }
    image.manifest()
}

const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[test]
fn real_registry_manifest_list_digest_check_and_corruption() {
    let t = TempDir::new();
    let Some(registry) = start_registry(&t) else {
        return;
    };
    let base = format!("http://127.0.0.1:{}", registry.port);
    let repo = "library/busybox";
    let image = build_image("echo hi");
    let arm = build_image("echo arm");
    let manifest = push_image(&base, repo, &image);
    let arm_manifest = push_image(&base, repo, &arm);
    push_manifest(&base, repo, "latest", SCHEMA2, &manifest);
    push_manifest(
        &base,
        repo,
        &Digest::of_bytes(&arm_manifest).to_string(),
        SCHEMA2,
        &arm_manifest,
    );
    let entry = |m: &[u8], arch: &str| {
        json!({"mediaType": SCHEMA2, "size": m.len(), "digest": Digest::of_bytes(m),
               "platform": {"architecture": arch, "os": "linux"}})
    };
    let list_type = "application/vnd.docker.distribution.manifest.list.v2+json";
    let list = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": list_type,
        "manifests": [entry(&arm_manifest, "arm64"), entry(&manifest, "amd64")]}))
    .unwrap();
    push_manifest(&base, repo, "multi", list_type, &list);

    // Through the manifest list: the amd64 image is picked.
    let store_dir = t.path().join("store");
    let run = run_pull(&pull_request("busybox:multi", &base, &store_dir, "aufs"));
    assert!(run.done(), "{run:?}");
    let resolved = run.event("resolved").unwrap();
    assert_eq!(
        resolved["manifest_digest"],
        json!(Digest::of_bytes(&manifest))
    );
    assert_eq!(resolved["layers"], json!(image.layer_digests()));
    assert_eq!(resolved["config"]["Cmd"][2], json!("echo hi"));
    let store = Store::new(&store_dir);
    let reference = ImageReference::parse("busybox:multi").unwrap();
    let ImageLookup::Ready(record) = store.lookup(&reference, WhiteoutFormat::Aufs) else {
        panic!("not ready");
    };

    // Pinned by digest (the host in the name wins over --docker_registry), layers shared.
    let pinned = format!(
        "127.0.0.1:{}/library/busybox@{}",
        registry.port,
        Digest::of_bytes(&manifest)
    );
    let run = run_pull(&pull_request(
        &pinned,
        "https://unused.invalid",
        &store_dir,
        "aufs",
    ));
    assert!(run.done(), "{run:?}");
    assert!(
        run.event("layer").is_none(),
        "shared layers were downloaded again"
    );
    let wrong = format!(
        "127.0.0.1:{}/library/busybox@{}",
        registry.port,
        Digest::of_bytes(b"x")
    );
    let run = run_pull(&pull_request(&wrong, &base, &store_dir, "aufs"));
    assert!(!run.done());

    if is_root() {
        check_backend(
            &t.dir("work"),
            &store,
            &record,
            BackendKind::Copy,
            WhiteoutFormat::Aufs,
        );
    }

    // A blob corrupted on the server: the pull fails, nothing of that layer is stored.
    let top = &image.layer_digests()[1];
    let data = t.path().join(format!(
        "registry-storage/docker/registry/v2/blobs/sha256/{}/{}/data",
        &top.hex()[..2],
        top.hex()
    ));
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let fresh = t.path().join("store2");
    let run = run_pull(&pull_request("busybox:latest", &base, &fresh, "overlay"));
    assert!(!run.done() && run.code != 0, "{run:?}");
    let error = run.event("failed").unwrap()["error"].as_str().unwrap();
    assert!(error.contains("Digest mismatch"), "{error}");
    let fresh_store = Store::new(&fresh);
    assert!(!fresh_store.layer_dir(top).exists());
    assert!(fresh_store.has_layer(&image.layer_digests()[0], WhiteoutFormat::Overlay));
    assert_eq!(fresh_store.staging_root().read_dir().unwrap().count(), 0);
    assert!(matches!(
        fresh_store.lookup(
            &ImageReference::parse("busybox").unwrap(),
            WhiteoutFormat::Overlay
        ),
        ImageLookup::Unknown
    ));
}

/// A registry that wants a Bearer token: 401 with a challenge (no scope, as in MESOS-10092)
/// until the token from its `/token` endpoint is presented.
fn token_registry(image: &TestImage, requests: Arc<Mutex<Vec<String>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let manifest = image.manifest();
    let mut blobs = vec![(image.config_digest(), image.config.clone())];
    blobs.extend(
        image
            .layers
            .iter()
            .map(|l| (Digest::of_bytes(l), l.clone())),
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut authorized = false;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if line
                    .to_ascii_lowercase()
                    .starts_with("authorization: bearer tok-123")
                {
                    authorized = true;
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            requests
                .lock()
                .unwrap()
                .push(format!("{path} auth={authorized}"));
            let (status, headers, body): (&str, String, Vec<u8>) = if path.starts_with("/token") {
                ("200 OK", String::new(), br#"{"token":"tok-123"}"#.to_vec())
            } else if !authorized {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"x\"\r\n"
                );
                ("401 Unauthorized", challenge, b"{}".to_vec())
            } else if path.contains("/manifests/") {
                (
                    "200 OK",
                    format!("Content-Type: {SCHEMA2}\r\n"),
                    manifest.clone(),
                )
            } else {
                match blobs.iter().find(|(d, _)| path.ends_with(&d.to_string())) {
                    Some((_, data)) => ("200 OK", String::new(), data.clone()),
                    None => ("404 Not Found", String::new(), Vec::new()),
                }
            };
            let head = format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

#[test]
fn bearer_token_after_401() {
    let t = TempDir::new();
    let image = build_image("echo hi");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let port = token_registry(&image, requests.clone());
    let store_dir = t.path().join("store");
    let base = format!("http://127.0.0.1:{port}");
    let run = run_pull(&pull_request("busybox", &base, &store_dir, "aufs"));
    assert!(run.done(), "{run:?}");
    assert_eq!(
        run.event("resolved").unwrap()["layers"],
        json!(image.layer_digests())
    );
    let requests = requests.lock().unwrap().clone();
    assert_eq!(
        requests[0],
        "/v2/library/busybox/manifests/latest auth=false"
    );
    assert_eq!(
        requests[1],
        "/token?service=x&scope=repository%3Alibrary%2Fbusybox%3Apull auth=false"
    );
    assert_eq!(
        requests[2],
        "/v2/library/busybox/manifests/latest auth=true"
    );
    // The token is kept: no more challenges for the blobs.
    assert!(
        requests[3..].iter().all(|r| r.ends_with("auth=true")),
        "{requests:?}"
    );
    let store = Store::new(&store_dir);
    for digest in image.layer_digests() {
        assert!(store.has_layer(&digest, WhiteoutFormat::Aufs));
    }
}

#[test]
fn registry_down_is_a_clear_failure() {
    let t = TempDir::new();
    let base = format!("http://127.0.0.1:{}", free_port());
    let run = run_pull(&pull_request(
        "busybox",
        &base,
        &t.path().join("store"),
        "aufs",
    ));
    assert!(!run.done());
    let error = run.event("failed").unwrap()["error"].as_str().unwrap();
    assert!(
        error.contains("Failed to fetch") && error.contains("manifests/latest"),
        "{error}"
    );
}
