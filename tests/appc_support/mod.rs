//! Helpers for the AppC image tests: ACIs built here (a `manifest` and a `rootfs/` holding the
//! busybox tree of the Docker test image), an HTTP server on loopback whose request log can be
//! counted, and an agent with the appc provider.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Agent;
use crate::images_support::{launch_with, ISOLATION};
pub use crate::provisioner_support::raw_entry;
use crate::provisioner_support::{build_image, dir, file, gzip};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha512};

/// The appc `arch` label of this machine, as the agent computes it.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "i386",
        other => other,
    }
}

/// An ACI: its bytes (gzip) and its image ID (sha512 of the tar).
pub struct Aci {
    pub bytes: Vec<u8>,
    pub id: String,
}

/// The busybox tree of the Docker test image (its bottom layer), entries renamed under
/// `rootfs/`.
fn add_busybox(b: &mut tar::Builder<Vec<u8>>) {
    let image = build_image("true");
    let mut layer = tar::Archive::new(&image.layers[0][..]);
    for entry in layer.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let mut header = entry.header().clone();
        let name = Path::new("rootfs").join(&path);
        match entry.link_name().unwrap().map(|l| l.into_owned()) {
            Some(target) if header.entry_type() == tar::EntryType::Link => b
                .append_link(&mut header, &name, Path::new("rootfs").join(target))
                .unwrap(),
            Some(target) => b.append_link(&mut header, &name, target).unwrap(),
            None => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                b.append_data(&mut header, &name, &data[..]).unwrap()
            }
        }
    }
}

/// What goes into one ACI.
pub struct AciSpec<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub busybox: bool,
    /// Files under the rootfs (path relative to it, content).
    pub files: &'a [(&'a str, &'a str)],
    pub app: Option<Value>,
    pub dependencies: Value,
}

impl<'a> AciSpec<'a> {
    pub fn new(name: &'a str, version: &'a str) -> AciSpec<'a> {
        AciSpec {
            name,
            version,
            busybox: true,
            files: &[],
            app: None,
            dependencies: json!([]),
        }
    }
}

pub fn manifest(spec: &AciSpec<'_>) -> Value {
    let mut manifest = json!({
        "acKind": "ImageManifest", "acVersion": "0.8.11", "name": spec.name,
        "labels": [{"name": "version", "value": spec.version}, {"name": "os", "value": "linux"},
                   {"name": "arch", "value": arch()}],
        "dependencies": spec.dependencies,
    });
    if let Some(app) = &spec.app {
        manifest["app"] = app.clone();
    }
    manifest
}

/// Builds the ACI's tar and gzips it.
pub fn build_aci(spec: &AciSpec<'_>) -> Aci {
    let mut b = tar::Builder::new(Vec::new());
    file(
        &mut b,
        "manifest",
        0o644,
        &serde_json::to_vec(&manifest(spec)).unwrap(),
    );
    dir(&mut b, "rootfs");
    if spec.busybox {
        add_busybox(&mut b);
    }
    for (path, content) in spec.files {
        let mut parent = PathBuf::from("rootfs");
        for part in Path::new(path).parent().unwrap().components() {
            parent.push(part);
            dir(&mut b, parent.to_str().unwrap());
        }
        file(&mut b, &format!("rootfs/{path}"), 0o644, content.as_bytes());
    }
    aci_of_tar(b.into_inner().unwrap())
}

/// An ACI from a finished tar: gzipped, with its ID.
pub fn aci_of_tar(tar: Vec<u8>) -> Aci {
    let id = Sha512::digest(&tar)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Aci {
        bytes: gzip(&tar),
        id: format!("sha512-{id}"),
    }
}

/// Where simple discovery looks for `name` at `version` under a prefix directory.
pub fn aci_path(root: &Path, name: &str, version: &str) -> PathBuf {
    root.join(format!("{name}-{version}-linux-{}.aci", arch()))
}

pub fn write_aci(root: &Path, name: &str, version: &str, aci: &Aci) {
    let path = aci_path(root, name, version);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, &aci.bytes).unwrap();
}

/// `python3 -m http.server` on loopback; its request log (stderr) in a file.
pub struct HttpServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HttpServer {
    pub fn start(root: &Path, log: PathBuf) -> HttpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .expect("python3 is needed for the AppC tests");
        let server = HttpServer { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn prefix(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// How many GETs of `path` (relative to the served root) the server answered, any status.
    pub fn gets(&self, path: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.matches(&format!("\"GET /{path} HTTP")).count()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// An agent with the appc provider (and docker, to show they live side by side).
pub fn start_agent(prefix: &str, backend: &str) -> Agent {
    Agent::start(&[
        &ISOLATION.replace("docker/runtime", "appc/runtime,docker/runtime"),
        "--image_providers=docker,appc",
        &format!("--appc_simple_discovery_uri_prefix={prefix}"),
        &format!("--image_provisioner_backend={backend}"),
    ])
}

/// `container.mesos.image` of type APPC.
pub fn appc(name: &str, version: Option<&str>, id: Option<&str>, cached: bool) -> Value {
    let mut appc = json!({"name": name});
    if let Some(v) = version {
        appc["labels"] = json!({"labels": [{"key": "version", "value": v}]});
    }
    if let Some(id) = id {
        appc["id"] = json!(id);
    }
    json!({"type": "APPC", "appc": appc, "cached": cached})
}

/// Launches `command` in the AppC image; returns the LAUNCH status and body.
pub fn launch(agent: &Agent, id: &str, image: Value, command: Value) -> (u16, String) {
    let r = launch_with(agent, id, image, command);
    (r.status, r.text)
}

/// Waits for the container; returns its exit status and stdout.
pub fn finish(agent: &Agent, id: &str) -> (Value, String) {
    let w = agent.wait_json(id);
    let out = std::fs::read_to_string(agent.sandbox(id).join("stdout")).unwrap_or_default();
    let err = std::fs::read_to_string(agent.sandbox(id).join("stderr")).unwrap_or_default();
    (
        w["exit_status"].clone(),
        format!(
            "{out}{}",
            if err.is_empty() {
                String::new()
            } else {
                format!("\n[stderr] {err}")
            }
        ),
    )
}

/// The image directories in the agent's AppC store.
pub fn stored_images(agent: &Agent) -> Vec<String> {
    let dir = agent.work_dir.join("store/appc/images");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// What is left in the store's staging area.
pub fn staging_entries(agent: &Agent) -> usize {
    std::fs::read_dir(agent.work_dir.join("store/appc/staging"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A loopback HTTP server answering every GET with `body` after `delay` (so that a fetch is
/// surely in flight while other launches arrive). Returns its prefix and the request count.
pub fn slow_server(
    body: Vec<u8>,
    delay: Duration,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                std::thread::sleep(delay);
                let mut stream = stream;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    (format!("http://127.0.0.1:{port}/"), count)
}
