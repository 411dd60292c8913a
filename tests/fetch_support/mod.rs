//! Helpers for the `mesolite-fetch` integration tests: temp dirs, running the binary with a
//! request, loopback servers (Python's http.server and pyftpdlib, and a scripted Rust HTTP
//! server for misbehaving cases), and hand-made archives (including malicious ones).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "../tempdir/mod.rs"]
mod tempdir;
pub use tempdir::TempDir;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub lines: Vec<Value>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    pub fn error(&self) -> String {
        self.lines
            .iter()
            .find_map(|l| l["error"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// A fetch request (mode "fetch") over `sandbox`, with the cache under `cache`.
pub fn request(sandbox: &Path, cache: &Path, items: Value) -> Value {
    json!({
        "mode": "fetch",
        "sandbox_directory": sandbox,
        "cache_directory": cache,
        "stall_timeout_secs": 5.0,
        "items": items,
    })
}

pub fn item(value: &str) -> Value {
    json!({ "uri": { "value": value } })
}

pub fn run_fetch(request: &Value) -> Run {
    run_fetch_with_env(request, &[])
}

/// Runs the binary with the proxy variables of the environment removed (loopback servers must
/// be reached directly), plus `env`.
pub fn run_fetch_with_env(request: &Value, env: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesolite-fetch"));
    for var in [
        "http_proxy",
        "https_proxy",
        "ftp_proxy",
        "all_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refused (oversized) request closes the pipe early: that is the binary's answer, not ours.
    let _ = stdin.write_all(request.to_string().as_bytes());
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    Run {
        code: output.status.code().unwrap_or(-1),
        lines,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A server process killed on drop.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `python3 -m http.server` serving `dir` on loopback.
pub fn python_http(dir: &Path) -> ServerProcess {
    let port = free_port();
    let mut child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is needed for the HTTP tests");
    assert!(wait_for_port(port, &mut child), "http.server did not start");
    ServerProcess { child, port }
}

/// pyftpdlib serving `dir` anonymously, or `None` (with the reason printed) if unavailable.
pub fn python_ftp(dir: &Path) -> Option<ServerProcess> {
    let python = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import pyftpdlib"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(python) = python else {
        eprintln!("SKIPPED: pyftpdlib is not installed (apt-get install python3-pyftpdlib)");
        return None;
    };
    let port = free_port();
    let mut child = Command::new(python)
        .args([
            "-m",
            "pyftpdlib",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-d",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if !wait_for_port(port, &mut child) {
        eprintln!("SKIPPED: pyftpdlib did not start");
        return None;
    }
    Some(ServerProcess { child, port })
}

/// How the scripted server answers a path.
#[derive(Debug, Clone)]
pub enum Reply {
    Body(Vec<u8>),
    Status(u16),
    /// Announces `total` bytes, sends `prefix`, then goes silent for a long time.
    Stall {
        prefix: Vec<u8>,
        total: usize,
    },
    /// Announces `total` bytes, sends `prefix`, then resets the connection.
    Reset {
        prefix: Vec<u8>,
        total: usize,
    },
    /// The first GET is reset mid-body; later requests get `body` (a server that recovers).
    ResetFirstGet(Vec<u8>),
}

/// A scripted HTTP/1.1 server thread on loopback, recording every request as "METHOD /path".
pub struct ScriptedServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl ScriptedServer {
    pub fn start(routes: HashMap<String, Reply>) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let routes = Arc::new(routes);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                let routes = Arc::clone(&routes);
                std::thread::spawn(move || serve(stream, &routes, &log));
            }
        });
        ScriptedServer { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn count(&self, line: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| *r == line)
            .count()
    }
}

fn serve(stream: TcpStream, routes: &HashMap<String, Reply>, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut first = String::new();
        if reader.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                break;
            }
        }
        let mut parts = first.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        log.lock().unwrap().push(format!("{method} {path}"));
        let head = method == "HEAD";
        let mut reply = routes.get(&path).cloned().unwrap_or(Reply::Status(404));
        if let Reply::ResetFirstGet(body) = reply {
            let gets = log
                .lock()
                .unwrap()
                .iter()
                .filter(|r| **r == format!("GET {path}"))
                .count();
            reply = if gets == 1 && !head {
                Reply::Reset {
                    prefix: body[..body.len() / 2].to_vec(),
                    total: body.len(),
                }
            } else {
                Reply::Body(body)
            };
        }
        let result = match reply {
            Reply::Body(body) => {
                let header = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                stream.write_all(header.as_bytes()).and_then(|_| {
                    if head {
                        Ok(())
                    } else {
                        stream.write_all(&body)
                    }
                })
            }
            Reply::Status(code) => stream.write_all(
                format!("HTTP/1.1 {code} Nope\r\nContent-Length: 4\r\n\r\nnope").as_bytes(),
            ),
            Reply::Stall { prefix, total } => {
                let header = format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n");
                let _ = stream.write_all(header.as_bytes());
                let _ = stream.write_all(&prefix);
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            Reply::ResetFirstGet(_) => return,
            Reply::Reset { prefix, total } => {
                let header = format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n");
                let _ = stream.write_all(header.as_bytes());
                let _ = stream.write_all(&prefix);
                let _ = stream.flush();
                std::thread::sleep(Duration::from_millis(200));
                reset(&stream);
                return;
            }
        };
        if result.is_err() {
            return;
        }
    }
}

/// Closes with RST instead of FIN (SO_LINGER with a zero timeout).
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a pointer to a linger struct of the size given.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// One entry of a hand-made archive.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A ustar archive written byte by byte, so names that well-behaved tools refuse
/// (absolute, `..`) can be made.
pub fn raw_tar(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let (name, kind, data, link): (&str, u8, &[u8], &str) = match entry {
            Entry::File(n, d) => (n, b'0', d, ""),
            Entry::Dir(n) => (n, b'5', b"", ""),
            Entry::Symlink(n, t) => (n, b'2', b"", t),
            Entry::Hardlink(n, t) => (n, b'1', b"", t),
        };
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(if kind == b'5' {
            b"0000755\0"
        } else {
            b"0000644\0"
        });
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[148..156].copy_from_slice(b"        ");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A zip of stored entries written byte by byte (duplicates, symlinks, bad CRCs allowed).
/// `crc_override` replaces every entry's CRC (to make a corrupt archive).
pub fn raw_zip(entries: &[Entry], crc_override: Option<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let (name, data, mode): (String, &[u8], u32) = match entry {
            Entry::File(n, d) => (n.to_string(), d, 0o100644),
            Entry::Dir(n) => (format!("{}/", n.trim_end_matches('/')), b"", 0o040755),
            Entry::Symlink(n, t) => (n.to_string(), t.as_bytes(), 0o120777),
            Entry::Hardlink(..) => panic!("zip has no hard links"),
        };
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc_override.unwrap_or(crc.sum());
        let offset = out.len() as u32;
        let len = data.len() as u32;
        let name_len = name.len() as u16;
        out.extend_from_slice(&0x04034b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]); // flags, method (stored), time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        central.extend_from_slice(&0x02014b50u32.to_le_bytes());
        central.extend_from_slice(&0x031Eu16.to_le_bytes()); // made by: unix
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        central.extend_from_slice(&(mode << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let count = entries.len() as u16;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x06054b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A well-formed tar (via the tar crate) of `files` (name, content).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A deflate-compressed zip via the zip crate.
pub fn deflated_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

pub fn read(path: &Path) -> String {
    let mut s = String::new();
    std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// Every path under `dir` (relative), sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
