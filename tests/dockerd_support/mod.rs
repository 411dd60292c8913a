//! A private Docker engine (Debian's `docker.io`) for tests that need images built by Docker
//! itself: its own data root, exec root and socket under a test directory, no iptables and no
//! bridge, so it touches nothing of the host's and runs beside any system dockerd.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One private dockerd at a time: each starts its own containerd, which is heavy on 2 cores.
pub static ONE_DOCKERD: Mutex<()> = Mutex::new(());

/// A Docker test's start (after its root check): busybox-static is needed for the images; the
/// dockerd lock, held until the guard drops, and a fresh `/tmp/mltest-<tag>-<pid>`.
pub fn scratch(tag: &str) -> Option<(MutexGuard<'static, ()>, PathBuf)> {
    if !Path::new("/bin/busybox").exists() {
        println!("SKIP: /bin/busybox is missing (apt-get install busybox-static)");
        return None;
    }
    let lock = ONE_DOCKERD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("mltest-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Some((lock, dir))
}

/// The Debian client, which matches Debian's dockerd (a newer client elsewhere on PATH may
/// insist on buildx for `docker build`).
const CLIENT: &str = "/usr/bin/docker";
const DAEMON: &str = "/usr/sbin/dockerd";

pub struct Dockerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Dockerd {
    /// Starts a dockerd under `dir`, or prints why it cannot and gives `None`.
    pub fn start(dir: &Path) -> Option<Dockerd> {
        Dockerd::start_with(dir, &["--bridge=none"])
    }

    /// As `start`, with `network` instead of `--bridge=none` (a bridge of the test's own; the
    /// userland proxy publishes ports, as iptables stays off).
    pub fn start_with(dir: &Path, network: &[&str]) -> Option<Dockerd> {
        for binary in [CLIENT, DAEMON] {
            if !Path::new(binary).exists() {
                println!("SKIP: {binary} is missing (apt-get install docker.io)");
                return None;
            }
        }
        std::fs::create_dir_all(dir).unwrap();
        let socket = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new(DAEMON)
            .arg(format!("--data-root={}", dir.join("root").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("dockerd.pid").display()))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--iptables=false")
            .args(network)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut dockerd = Dockerd {
            child,
            dir: dir.to_path_buf(),
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = dockerd.child.try_wait() {
                println!("SKIP: dockerd exited ({status}): {}", dockerd.log_tail());
                return None;
            }
            if dockerd.try_run(&["version"]).status.success() {
                return Some(dockerd);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("dockerd did not answer within 60 s: {}", dockerd.log_tail());
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(CLIENT);
        c.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            // The legacy builder: Debian's docker.io ships no buildx.
            .env("DOCKER_BUILDKIT", "0")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn try_run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a docker command that must succeed; its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.try_run(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}{}\ndockerd: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// dockerd's pid (for SIGSTOP and SIGCONT).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// A busybox-static image `name` with a default CMD (`echo default-cmd`), made by `docker
    /// import` of a rootfs built under `dir`.
    pub fn import_busybox(&self, dir: &Path, name: &str) {
        let root = dir.join("rootfs");
        for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "echo", "sleep", "cat", "ls", "true", "nc", "httpd", "env", "dd",
        ] {
            let _ = std::fs::remove_file(root.join("bin").join(applet));
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let tarball = dir.join("rootfs.tar");
        tar_dir(&root, &tarball);
        self.run(&[
            "import",
            "--change",
            r#"CMD ["/bin/sh", "-c", "echo default-cmd"]"#,
            tarball.to_str().unwrap(),
            name,
        ]);
    }

    /// `docker import` of a tar stream read from `tarball`.
    pub fn import(&self, tarball: &Path, name: &str) {
        let out = self
            .command(&["import", "-", name])
            .stdin(Stdio::from(std::fs::File::open(tarball).unwrap()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `tar -C root -cf tarball .`
pub fn tar_dir(root: &Path, tarball: &Path) {
    let status = Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd and unmount its overlays.
        // SAFETY: kill has no memory preconditions; the pid is our own live child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever it left mounted (its overlays, the exec root) goes before the directory.
        let dir = self.dir.to_string_lossy().into_owned();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(1).map(str::to_string))
            .filter(|m| m.starts_with(&dir))
            .collect();
        mounts.sort_by(|a, b| b.cmp(a));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
    }
}
