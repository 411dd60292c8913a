//! Helpers for the provisioner tests: a real busybox image built here (two layers, the second
//! with a whiteout and an opaque directory), written as a `docker save` tarball and as an OCI
//! layout, `mesolite-fetch` in pull mode, a tiny HTTP client, and rootfs checks per backend.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use mesolite::provisioner::backend::{self, BackendKind, RootfsPaths};
use mesolite::provisioner::{Digest, ImageRecord, Store, WhiteoutFormat};
use serde_json::{json, Value};

#[path = "../tempdir/mod.rs"]
mod tempdir;
pub use tempdir::TempDir;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The test image: blobs as a registry serves them.
pub struct TestImage {
    /// Layer blobs, bottom first: layer 1 a plain tar, layer 2 gzip-compressed.
    pub layers: Vec<Vec<u8>>,
    pub layer_media_types: Vec<&'static str>,
    /// sha256 of each uncompressed tar.
    pub diff_ids: Vec<Digest>,
    pub config: Vec<u8>,
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

pub fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
    b.append_data(&mut h, path, data).unwrap();
}

pub fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut h, path, &[][..]).unwrap();
}

pub fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
    let mut h = header(kind, 0o777, 0);
    b.append_link(&mut h, path, target).unwrap();
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A busybox with `cmd` as its Cmd (the arm64 variant of the index differs only by it).
pub fn build_image(cmd: &str) -> TestImage {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static (/bin/busybox) is needed");
    let mut l1 = tar::Builder::new(Vec::new());
    dir(&mut l1, "bin");
    file(&mut l1, "bin/busybox", 0o755, &busybox);
    for applet in ["sh", "echo", "cat", "ls", "touch"] {
        link(
            &mut l1,
            tar::EntryType::Symlink,
            &format!("bin/{applet}"),
            "busybox",
        );
    }
    link(&mut l1, tar::EntryType::Link, "bin/hardbox", "bin/busybox");
    dir(&mut l1, "etc");
    file(&mut l1, "etc/keep", 0o644, b"keep\n");
    file(&mut l1, "etc/gone", 0o644, b"gone\n");
    dir(&mut l1, "opq");
    file(&mut l1, "opq/old", 0o644, b"old\n");
    dir(&mut l1, "opq/sub");
    file(&mut l1, "opq/sub/deeper", 0o644, b"deeper\n");
    dir(&mut l1, "tmp");
    let l1 = l1.into_inner().unwrap();

    let mut l2 = tar::Builder::new(Vec::new());
    dir(&mut l2, "etc");
    file(&mut l2, "etc/.wh.gone", 0o644, b"");
    file(&mut l2, "etc/added", 0o644, b"added\n");
    dir(&mut l2, "opq");
    file(&mut l2, "opq/.wh..wh..opq", 0o644, b"");
    file(&mut l2, "opq/new", 0o644, b"new\n");
    let l2 = l2.into_inner().unwrap();

    let diff_ids = vec![Digest::of_bytes(&l1), Digest::of_bytes(&l2)];
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh", "-c", cmd], "Env": ["PATH=/bin", "GREETING=hi"],
                   "WorkingDir": "/etc"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    TestImage {
        layers: vec![l1, gzip(&l2)],
        layer_media_types: vec![
            "application/vnd.docker.image.rootfs.diff.tar",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ],
        diff_ids,
        config: serde_json::to_vec(&config).unwrap(),
    }
}

impl TestImage {
    pub fn layer_digests(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| Digest::of_bytes(l)).collect()
    }

    pub fn config_digest(&self) -> Digest {
        Digest::of_bytes(&self.config)
    }

    /// A schema 2 manifest (Docker's media types).
    pub fn manifest(&self) -> Vec<u8> {
        let layers: Vec<Value> = self
            .layers
            .iter()
            .zip(&self.layer_media_types)
            .map(|(l, t)| json!({"mediaType": t, "size": l.len(), "digest": Digest::of_bytes(l)}))
            .collect();
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": self.config.len(), "digest": self.config_digest()},
            "layers": layers,
        }))
        .unwrap()
    }

    /// `docker save` output (legacy layout: `<id>/layer.tar`, uncompressed).
    pub fn write_docker_save(&self, path: &Path, repo_tag: &str) {
        let mut b = tar::Builder::new(Vec::new());
        let config_name = format!("{}.json", self.config_digest().hex());
        file(&mut b, &config_name, 0o644, &self.config);
        let mut names = Vec::new();
        for (i, diff_id) in self.diff_ids.iter().enumerate() {
            let uncompressed = if i == 0 {
                self.layers[0].clone()
            } else {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&self.layers[i][..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            };
            let name = format!("{}/layer.tar", diff_id.hex());
            dir(&mut b, diff_id.hex());
            file(&mut b, &name, 0o644, &uncompressed);
            names.push(name);
        }
        let manifest = json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": names}]);
        file(
            &mut b,
            "manifest.json",
            0o644,
            &serde_json::to_vec(&manifest).unwrap(),
        );
        std::fs::write(path, b.into_inner().unwrap()).unwrap();
    }

    /// An OCI image layout whose index points to an OCI index (amd64 + arm64 entries).
    pub fn write_oci_layout(&self, dir: &Path, tag: &str, other_arch: &TestImage) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let put = |data: &[u8]| {
            let d = Digest::of_bytes(data);
            std::fs::write(blobs.join(d.hex()), data).unwrap();
            d
        };
        let mut entries = Vec::new();
        for (image, arch) in [(other_arch, "arm64"), (self, "amd64")] {
            put(&image.config);
            for layer in &image.layers {
                put(layer);
            }
            let manifest = image.manifest();
            let d = put(&manifest);
            entries.push(
                json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d, "size": manifest.len(),
                "platform": {"architecture": arch, "os": "linux"}}),
            );
        }
        let index = serde_json::to_vec(&json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}))
        .unwrap();
        let index_digest = put(&index);
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let top = json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest,
            "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": tag}}]});
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub lines: Vec<Value>,
    pub stderr: String,
}

impl Run {
    pub fn event(&self, name: &str) -> Option<&Value> {
        self.lines.iter().find(|l| l["event"] == name)
    }

    pub fn done(&self) -> bool {
        self.code == 0 && self.event("done").is_some()
    }
}

pub fn pull_request(image: &str, registry: &str, store: &Path, format: &str) -> Value {
    json!({"mode": "pull", "image": image, "docker_registry": registry,
           "store_dir": store, "whiteout_format": format, "stall_timeout_secs": 10})
}

pub fn run_pull(request: &Value) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesolite-fetch"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        lines: String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A one-shot HTTP/1.1 request (Connection: close): status, headers (lowercase names), body.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u32, Vec<(String, String)>, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.lines();
    let code = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (code, headers, response[split + 4..].to_vec())
}

pub fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// Runs `argv` chrooted into `rootfs` with `env`; returns stdout.
pub fn run_in(rootfs: &Path, argv: &[String], env: &[String]) -> String {
    let mut cmd = Command::new("/usr/sbin/chroot");
    cmd.arg(rootfs).args(argv).env_clear();
    for pair in env {
        let (k, v) = pair.split_once('=').unwrap();
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?} in {}: {out:?}",
        rootfs.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Provisions the image with `backend`, checks the merged tree and runs the image's Cmd in it,
/// then destroys it and checks nothing is left mounted.
pub fn check_backend(
    work: &Path,
    store: &Store,
    record: &ImageRecord,
    backend: BackendKind,
    format: WhiteoutFormat,
) {
    let layers = store.layer_rootfses(record, format);
    let cid = format!("c-{backend}");
    let paths = RootfsPaths::new(work, &cid, backend, "r1");
    // A failed assertion must not leave a mount behind.
    struct Unmount<'a>(&'a Path, &'a str);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = backend::destroy_container(self.0, self.1);
        }
    }
    let _guard = Unmount(work, &cid);
    backend::provision(backend, &layers, &paths).unwrap();
    let root = &paths.rootfs;
    let read = |p: &str| {
        std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| {
            panic!(
                "{p}: {e}: {:?}",
                Command::new("ls").arg("-laR").arg(root).output()
            )
        })
    };
    assert_eq!(read("etc/keep"), "keep\n");
    assert_eq!(read("etc/added"), "added\n");
    assert!(!root.join("etc/gone").exists(), "whiteout'd file visible");
    assert!(!root.join("etc/.wh.gone").exists());
    assert!(!root.join("opq/old").exists() && !root.join("opq/sub").exists());
    assert_eq!(read("opq/new"), "new\n");
    let cmd = record.config.cmd.clone().unwrap();
    assert_eq!(run_in(root, &cmd, &record.config.env), "hi\n");
    // The container's writes stay in the container (overlay upper / copy).
    run_in(root, &["/bin/touch".into(), "/tmp/written".into()], &[]);
    assert!(root.join("tmp/written").exists());
    for layer in &layers {
        assert!(
            !layer.join("tmp/written").exists(),
            "a write reached the store"
        );
    }
    if backend == BackendKind::Overlay {
        assert!(backend::is_mount_point(root));
    }
    backend::destroy_container(work, &cid).unwrap();
    assert!(!work.join("provisioner/containers").join(&cid).exists());
    assert!(backend::mount_points_under(work).unwrap().is_empty());
    // Idempotent.
    backend::destroy_container(work, &cid).unwrap();
}

/// A tar entry with a raw name, bypassing the tar crate's own `..` checks.
pub fn raw_entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// Debian's docker-registry on loopback, stopped when dropped.
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

/// Uploads `data` as a blob of `repo` (monolithic upload); its digest.
pub fn push_blob(base: &str, repo: &str, data: &[u8]) -> Digest {
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
    digest
}
