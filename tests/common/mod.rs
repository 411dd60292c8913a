//! Shared helpers for the integration tests: a real agent process on a private socket, work
//! dir, runtime dir and cgroups root, torn down (containers killed, cgroups removed) on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mesolite::http::{Client, ClientResponse};
use serde_json::{json, Value};

/// Free ports and HTTP over TCP. Declared here only, so that a test binary has one `free_port`
/// counter: two copies of the module would hand out the same ports.
#[path = "tcp.rs"]
pub mod tcp;

/// How many times an agent is started before a taken `--port` fails the test (see `spawn`).
const TCP_TRIES: u32 = 4;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// True when running as root; otherwise prints why the test is skipped.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED {test}: needs root (namespaces and cgroups)");
    }
    root
}

pub struct Agent {
    pub child: Option<Child>,
    /// The flags and environment of the last start, for `restart`.
    pub extra: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub work_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub cgroups_root: String,
    pub log: PathBuf,
}

impl Agent {
    /// Starts `mesolite agent` with private directories plus `extra` flags.
    pub fn start(extra: &[&str]) -> Agent {
        Self::start_with_env(extra, &[])
    }

    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Agent {
        Self::start_under(&std::env::temp_dir(), extra, env)
    }

    /// Starts the agent with its directories under `base` (for tests that mount over /tmp).
    pub fn start_under(base: &Path, extra: &[&str], env: &[(&str, &str)]) -> Agent {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("mltest-{}-{n}", std::process::id());
        let dir = base.join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let agent = Agent {
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            socket: dir.join("agent.sock"),
            work_dir: dir.join("work"),
            runtime_dir: dir.join("run"),
            cgroups_root: tag,
            log: dir.join("agent.log"),
            dir,
        };
        agent.spawn()
    }

    /// Starts the agent listening on TCP too, on a free port (`port()`), plus `extra` flags.
    pub fn start_tcp(extra: &[&str]) -> Agent {
        let port = format!("--port={}", tcp::free_port());
        let mut flags = vec![port.as_str()];
        flags.extend_from_slice(extra);
        Self::start(&flags)
    }

    /// The agent's TCP port: its `--port=` flag, which `spawn` may have changed from the one
    /// asked for.
    pub fn port(&self) -> u16 {
        self.extra
            .iter()
            .find_map(|a| a.strip_prefix("--port="))
            .and_then(|p| p.parse().ok())
            .expect("the agent was started without --port=N")
    }

    /// Starts the agent again on the same directories (after `stop` or `sigkill`).
    pub fn restart(self) -> Agent {
        self.spawn()
    }

    /// Starts a second agent process on the same directories and returns its exit status and
    /// stderr (it is expected to refuse).
    pub fn start_second(&self, socket: &Path) -> (std::process::ExitStatus, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
            .args([
                "agent".to_string(),
                format!("--work_dir={}", self.work_dir.display()),
                format!("--runtime_dir={}", self.runtime_dir.display()),
                format!("--socket={}", socket.display()),
                format!("--cgroups_root={}", self.cgroups_root),
            ])
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Kills the agent with SIGKILL, as a crash would; containers keep running.
    pub fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the agent and waits for its `/health`. An agent that exits at start because its
    /// `--port=N` is taken ("Failed to listen on TCP") is started again on another free port,
    /// up to `TCP_TRIES` times in all: a port found free by `tcp::free_port` can still be taken
    /// before the agent binds it, a moment later (CI saw EADDRINUSE twice). What held the port
    /// is printed, to find out who takes it.
    fn spawn(mut self) -> Agent {
        for attempt in 1..=TCP_TRIES {
            let log_start = std::fs::metadata(&self.log).map_or(0, |m| m.len());
            let status = match self.spawn_once() {
                None => return self,
                Some(status) => status,
            };
            let log = self.log_text();
            let this_start = log.get(log_start as usize..).unwrap_or(&log);
            let taken = this_start
                .lines()
                .find(|l| l.contains("Failed to listen on TCP"));
            let port = self.extra.iter().position(|a| a.starts_with("--port="));
            match (taken, port) {
                (Some(line), Some(i)) if attempt < TCP_TRIES => {
                    let old = self.port();
                    let new = tcp::free_port();
                    eprintln!(
                        "agent: port {old} was taken at start (attempt {attempt}): {line}\n\
                         sockets on port {old} now:\n{}starting it again on port {new}",
                        tcp::sockets_on(old)
                    );
                    self.extra[i] = format!("--port={new}");
                }
                _ => panic!("agent exited with {status} at start:\n{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// One start: `None` once the agent answers `/health`, or its exit status if it exits first.
    fn spawn_once(&mut self) -> Option<std::process::ExitStatus> {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let env: Vec<(String, String)> = self.env.clone();
        let mut args: Vec<String> = vec![
            "agent".into(),
            format!("--work_dir={}", self.work_dir.display()),
            format!("--runtime_dir={}", self.runtime_dir.display()),
            format!("--socket={}", self.socket.display()),
            format!("--cgroups_root={}", self.cgroups_root),
        ];
        // A conf file under test sets its own level; the command line would beat it.
        if !self.extra.iter().any(|a| a.starts_with("--config")) {
            args.push("--logging_level=DEBUG".into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesolite"));
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self
                .client()
                .get("/health")
                .map(|r| r.status == 200)
                .unwrap_or(false)
            {
                return None;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "agent did not answer /health within 20 s:\n{}",
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.socket).with_timeout(Some(Duration::from_secs(60)))
    }

    /// POSTs a v1 call.
    pub fn call(&self, body: Value) -> ClientResponse {
        self.client().post_json("/api/v1", &body).unwrap()
    }

    /// LAUNCH_CONTAINER of a shell command with optional resources JSON.
    pub fn launch_shell(&self, id: &str, cmd: &str, resources: Value) -> ClientResponse {
        self.call(json!({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": id},
            "command": {"value": cmd, "shell": true},
            "resources": resources}}))
    }

    pub fn wait(&self, id: &str) -> ClientResponse {
        self.call(
            json!({"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": id}}}),
        )
    }

    pub fn wait_json(&self, id: &str) -> Value {
        let r = self.wait(id);
        assert_eq!(r.status, 200, "WAIT {id}: {}", r.text());
        r.json().unwrap()["wait_container"].clone()
    }

    pub fn kill(&self, id: &str, signal: Option<i32>) -> ClientResponse {
        let mut k = json!({"container_id": {"value": id}});
        if let Some(s) = signal {
            k["signal"] = json!(s);
        }
        self.call(json!({"type": "KILL_CONTAINER", "kill_container": k}))
    }

    pub fn remove(&self, id: &str) -> ClientResponse {
        self.call(json!({"type": "REMOVE_CONTAINER", "remove_container": {"container_id": {"value": id}}}))
    }

    pub fn containers(&self) -> Vec<Value> {
        let r = self.call(json!({"type": "GET_CONTAINERS", "get_containers": {"show_nested": false, "show_standalone": true}}));
        assert_eq!(r.status, 200);
        r.json().unwrap()["get_containers"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn container(&self, id: &str) -> Option<Value> {
        self.containers()
            .into_iter()
            .find(|c| c["container_id"]["value"] == id)
    }

    /// The statistics of container `id` in `/monitor/statistics` (Null while it is not listed).
    pub fn statistics(&self, id: &str) -> Value {
        let all = self
            .client()
            .get("/monitor/statistics")
            .unwrap()
            .json()
            .unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .find(|e| e["container_id"] == id)
            .map(|e| e["statistics"].clone())
            .unwrap_or(Value::Null)
    }

    pub fn sandbox(&self, id: &str) -> PathBuf {
        self.work_dir.join("containers").join(id)
    }

    /// Waits (bounded) until `f` holds.
    pub fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for: {what}");
    }

    /// The container's cgroup directory of a v1 subsystem on this host.
    /// The pid of the agent's child process named `comm` (its helpers: `mesolite-del`,
    /// `mesolite-cg`), if one runs.
    pub fn child_named(&self, comm: &str) -> Option<i32> {
        let parent = self.child.as_ref()?.id() as i32;
        let wanted = format!("({comm}");
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (name, rest) = stat.split_once(") ")?;
            let ppid: i32 = rest.split(' ').nth(1)?.parse().ok()?;
            (name.ends_with(&wanted) && ppid == parent).then_some(pid)
        })
    }

    pub fn v1_cgroup(&self, subsystem: &str, id: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(subsystem)
            .join(&self.cgroups_root)
            .join(id)
    }

    /// Stops the agent with SIGTERM (containers keep running).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Not once it is reaped: its pid may be another process's by now.
            if matches!(child.try_wait(), Ok(None)) {
                // SAFETY: kill with the pid of our child, which has not been reaped.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // An agent that exited (at start, say) cannot be asked: a failed call here would panic
        // during the test's own unwinding and abort the whole test binary, skipping every other
        // test's clean-up (a prometheus server left running, say).
        let alive = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if alive {
            for c in self.containers() {
                let id = c["container_id"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if c["state"] != "TERMINATED" {
                    self.kill(&id, None);
                    self.wait(&id);
                }
            }
        }
        self.stop();
        for sub in [
            "cpu",
            "cpuacct",
            "memory",
            "pids",
            "blkio",
            "perf_event",
            "freezer",
            "unified",
            "",
        ] {
            let root = Path::new("/sys/fs/cgroup")
                .join(sub)
                .join(&self.cgroups_root);
            if let Ok(entries) = std::fs::read_dir(&root) {
                for e in entries.flatten() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            let _ = std::fs::remove_dir(&root);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Mesos JSON of scalar resources.
/// The nice value of a process, from its `stat` text (field 19).
pub fn nice_in_stat(stat: &str) -> i64 {
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    rest.split(' ').nth(16).unwrap().parse().unwrap()
}

/// The nice value of `pid`.
pub fn nice_of(pid: i32) -> i64 {
    nice_in_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap())
}

pub fn resources(cpus: f64, mem: f64) -> Value {
    json!([
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}
    ])
}
