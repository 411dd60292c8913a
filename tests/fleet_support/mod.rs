//! A fleet on one machine (issue 17): a real 3-member etcd cluster on loopback
//! (tests/etcd_support) and three real agents, node-a, node-b and node-c, each with its own
//! work_dir, runtime_dir, socket, cgroups root (`mltest-fleet-...`), TCP port and port range,
//! all given the cluster's three members, a 3 s lease TTL and a prefix of their own.
//!
//! The harness can SIGKILL an agent (and kill its containers, found through its cgroups and
//! its work_dir, as a dead machine would lose them), start it again on the same directories,
//! SIGSTOP and SIGCONT it, read any node's API, post apps, and count instances both through
//! `GET /v2/tasks` and on the host (the containers' cgroups and their processes).
//! Waits are hang catchers with generous bounds; they print what they measured.
//!
//! Drop kills the agents and every process of their containers, removes their cgroups and
//! directories; the etcd cluster goes with its own Drop.
//!
//! A test binary using it declares `mod common;` (tests/common) too: the ports come from
//! `common::tcp::free_port`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../etcd_support/mod.rs"]
pub mod etcd;

// The test binary's own `mod common;` (one tcp::free_port counter per binary).
pub use crate::common::tcp;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesolite::http::{Client, ClientResponse};
use serde_json::{json, Value};

pub use etcd::Cluster;

/// The lease TTL the agents are given (`--etcd_lease_ttl=3secs`).
pub const TTL: Duration = Duration::from_secs(3);

pub const NAMES: [&str; 3] = ["node-a", "node-b", "node-c"];
pub const A: usize = 0;
pub const B: usize = 1;
pub const C: usize = 2;

const JSON: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

/// Every place a container's cgroup can be on this host: each v1 hierarchy and the unified one
/// (on a pure v2 host /sys/fs/cgroup itself).
fn hierarchies() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            let p = e.path();
            // cpu and cpuacct may be links to "cpu,cpuacct": the target is listed too.
            if p.is_dir() && !p.is_symlink() {
                out.push(p);
            }
        }
    }
    out
}

/// The pids in `cgroup.procs` of `dir` (empty when it is gone).
fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Removes `dir` and every cgroup below it, deepest first (a cgroup with processes stays).
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                remove_cgroup_tree(&p);
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Pids of processes whose working directory is under `dir` or whose command line names it.
fn processes_under(dir: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let needle = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cwd = std::fs::read_link(e.path().join("cwd")).ok();
        let in_dir = cwd.is_some_and(|c| c.starts_with(dir));
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let names = String::from_utf8_lossy(&cmdline).contains(&needle);
        if in_dir || names {
            out.push(pid);
        }
    }
    out
}

fn alive(pid: i32) -> bool {
    // A zombie is not alive: it has no memory, no cgroup, nothing running.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill has no memory preconditions; the pids are of this test's agents or of the
    // processes of their containers (found by their own cgroups or directories).
    unsafe { libc::kill(pid, sig) };
}

/// A Marathon app of `instances` MESOS containers each running `sleep 1000`.
pub fn sleeper(id: &str, instances: u32) -> Value {
    json!({"id": id, "cmd": "exec sleep 1000", "cpus": 0.1, "mem": 16,
           "instances": instances, "backoffSeconds": 1})
}

/// One agent of the fleet.
pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub work_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub cgroups_root: String,
    pub log: PathBuf,
    /// Its TCP listener (`--port`), on 127.0.0.1.
    pub port: u16,
    /// Its `ports:[first-last]` resource.
    pub port_range: (u16, u16),
    pub args: Vec<String>,
    child: Option<Child>,
    stopped: bool,
}

impl Node {
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> Client {
        Client::new(&self.socket).with_timeout(Some(Duration::from_secs(30)))
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some() && !self.stopped
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mesolite"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.stopped = false;
    }

    /// Starts the agent and waits until it answers `/health`. One that exits at start because
    /// its `--port` was taken meanwhile ("Failed to listen on TCP", as tests/common's Agent
    /// handles it) is started again on another free port, 4 starts in all; any other exit is a
    /// failure with its log.
    fn start(&mut self, within: Duration) {
        const TRIES: usize = 4;
        for attempt in 1..=TRIES {
            let log_start = std::fs::metadata(&self.log).map_or(0, |m| m.len()) as usize;
            self.spawn();
            let Err(status) = self.wait_healthy(within) else {
                return;
            };
            let log = self.log_text();
            let this_start = log.get(log_start..).unwrap_or(&log);
            let taken = this_start
                .lines()
                .find(|l| l.contains("Failed to listen on TCP"));
            match taken {
                Some(line) if attempt < TRIES => {
                    let old = self.port;
                    self.port = tcp::free_port();
                    eprintln!(
                        "{}: port {old} was taken at start (attempt {attempt}): {line}\n\
                         sockets on port {old} now:\n{}starting it again on port {}",
                        self.name,
                        tcp::sockets_on(old),
                        self.port
                    );
                    for a in &mut self.args {
                        if a.starts_with("--port=") {
                            *a = format!("--port={}", self.port);
                        }
                    }
                }
                _ => panic!(
                    "{} exited with {status} at start:\n{}",
                    self.name,
                    self.log_tail(60)
                ),
            }
        }
    }

    /// Waits until it answers `/health`; its exit status if it exits first.
    fn wait_healthy(&mut self, within: Duration) -> Result<(), std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let ok = Client::new(&self.socket)
                .with_timeout(Some(Duration::from_secs(5)))
                .get("/health")
                .is_ok_and(|r| r.status == 200);
            if ok {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(status);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer /health within {within:?}:\n{}",
                self.name,
                self.log_tail(60)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Its cgroup root's directory in each hierarchy that has one.
    pub fn cgroup_roots(&self) -> Vec<PathBuf> {
        hierarchies()
            .into_iter()
            .map(|h| h.join(&self.cgroups_root))
            .filter(|p| p.is_dir())
            .collect()
    }

    /// Its containers that have processes now, by container id, with their pids (the union
    /// over the hierarchies).
    pub fn live_containers(&self) -> BTreeMap<String, BTreeSet<i32>> {
        let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        for root in self.cgroup_roots() {
            let Ok(entries) = std::fs::read_dir(&root) else {
                continue;
            };
            for e in entries.flatten() {
                if !e.path().is_dir() {
                    continue;
                }
                let pids: Vec<i32> = procs(&e.path()).into_iter().filter(|p| alive(*p)).collect();
                if !pids.is_empty() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    out.entry(name).or_default().extend(pids);
                }
            }
        }
        out
    }

    /// Container cgroups under its root, with or without processes.
    pub fn container_cgroups(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for root in self.cgroup_roots() {
            if let Ok(entries) = std::fs::read_dir(&root) {
                for e in entries.flatten() {
                    if e.path().is_dir() {
                        out.insert(e.file_name().to_string_lossy().into_owned());
                    }
                }
            }
        }
        out
    }

    /// Every process of its containers: in its cgroups, or working in (or naming) its work_dir.
    pub fn container_processes(&self) -> BTreeSet<i32> {
        let mut out: BTreeSet<i32> = self.live_containers().into_values().flatten().collect();
        out.extend(processes_under(&self.work_dir));
        if let Some(me) = self.pid() {
            out.remove(&me);
        }
        out.into_iter().filter(|p| alive(*p)).collect()
    }
}

/// A container id of app `stem`'s instances (`<stem>_<32 hex digits>`, as src/apps names them).
pub fn is_instance_of(container: &str, stem: &str) -> bool {
    container.strip_prefix(stem).is_some_and(|rest| {
        rest.len() == 33
            && rest.starts_with('_')
            && rest[1..].chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// The container a task runs as.
pub fn container_of(task: &Value) -> String {
    task["id"].as_str().unwrap_or_default().replace('.', "_")
}

pub struct Fleet {
    pub nodes: Vec<Node>,
    pub cluster: Cluster,
    /// `--etcd_prefix`, unique per fleet.
    pub prefix: String,
    pub dir: PathBuf,
    pub started: Instant,
}

impl Fleet {
    /// The cluster and three agents; `None` (with etcd_support's SKIP line) without etcd.
    pub fn start(tag: &str) -> Option<Fleet> {
        Self::start_with(tag, &[])
    }

    /// Like `start`, each agent given `extra` flags too.
    pub fn start_with(tag: &str, extra: &[&str]) -> Option<Fleet> {
        Self::start_each(tag, [extra, extra, extra])
    }

    /// Like `start`, node `i` given `extra[i]` flags too.
    pub fn start_each(tag: &str, extra: [&[&str]; 3]) -> Option<Fleet> {
        let t0 = Instant::now();
        let cluster = Cluster::start(&format!("fl{tag}"))?;
        let etcd_up = t0.elapsed();
        let agents = Instant::now();
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("mltest-fleet-{tag}-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let prefix = format!("/mltest-fleet-{tag}-{pid}");
        let endpoints = cluster
            .members
            .iter()
            .map(|m| format!("http://{}", m.client))
            .collect::<Vec<_>>()
            .join(",");
        let mut fleet = Fleet {
            nodes: Vec::new(),
            cluster,
            prefix: prefix.clone(),
            dir: dir.clone(),
            started: t0,
        };
        for (i, name) in NAMES.iter().enumerate() {
            let node_dir = dir.join(name);
            std::fs::create_dir_all(&node_dir).unwrap();
            let first = 31000 + 100 * i as u16;
            let port_range = (first, first + 99);
            let port = tcp::free_port();
            let letter = &name[name.len() - 1..];
            let cgroups_root = format!("mltest-fleet-{tag}-{pid}-{letter}");
            let socket = node_dir.join("agent.sock");
            let work_dir = node_dir.join("work");
            let runtime_dir = node_dir.join("run");
            let mut args: Vec<String> = vec![
                "agent".into(),
                format!("--work_dir={}", work_dir.display()),
                format!("--runtime_dir={}", runtime_dir.display()),
                format!("--socket={}", socket.display()),
                format!("--cgroups_root={cgroups_root}"),
                "--logging_level=DEBUG".into(),
                "--ip=127.0.0.1".into(),
                "--advertise_ip=127.0.0.1".into(),
                format!("--port={port}"),
                format!(
                    "--resources=cpus:2;mem:2048;disk:4096;ports:[{}-{}]",
                    port_range.0, port_range.1
                ),
                format!("--hostname={name}"),
                format!("--etcd_endpoints={endpoints}"),
                "--etcd_lease_ttl=3secs".into(),
                format!("--etcd_prefix={prefix}"),
            ];
            args.extend(extra[i].iter().map(|s| s.to_string()));
            fleet.nodes.push(Node {
                name: name.to_string(),
                log: node_dir.join("agent.log"),
                dir: node_dir,
                socket,
                work_dir,
                runtime_dir,
                cgroups_root,
                port,
                port_range,
                args,
                child: None,
                stopped: false,
            });
        }
        for n in &mut fleet.nodes {
            n.start(Duration::from_secs(60));
        }
        let healthy = agents.elapsed();
        // Formed: every node lists all three and names the same leader (a placement before a
        // node registered would rightly leave it out).
        fleet.wait_formed();
        println!(
            "fleet {prefix}: etcd healthy in {etcd_up:?}, 3 agents answer in {healthy:?}, \
             the fleet formed in {:?}",
            agents.elapsed()
        );
        Some(fleet)
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub fn index_of(&self, hostname: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == hostname)
    }

    /// The node a leader's name means: its hostname, or its address (`127.0.0.1:<port>`, or
    /// the hostname with the port), as /v2/leader and /v2/info may give either.
    pub fn node_named(&self, leader: &str) -> Option<usize> {
        self.nodes.iter().position(|n| {
            leader == n.name
                || leader == n.address()
                || leader == format!("{}:{}", n.name, n.port)
                || leader == format!("http://{}", n.address())
        })
    }

    /// Indices of the nodes whose agent runs and is not stopped.
    pub fn up(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running())
            .collect()
    }

    // ---- agents: kill, restart, stop, continue ----

    /// SIGKILL of node `i`'s agent, as a crash would (its containers keep running).
    pub fn sigkill(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if let Some(mut child) = n.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        n.stopped = false;
        println!(
            "[{:?}] {} agent killed (SIGKILL)",
            self.started.elapsed(),
            n.name
        );
    }

    /// Kills every process of node `i`'s containers (its agent must be dead: a live one would
    /// see its containers end) and waits until none is left; their cgroups are left for the
    /// agent's recovery. Returns how many processes were killed.
    pub fn kill_containers(&mut self, i: usize) -> usize {
        let n = &self.nodes[i];
        assert!(n.child.is_none(), "{}: kill its agent first", n.name);
        let mut killed = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = n.container_processes();
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: processes {left:?} survive SIGKILL",
                n.name
            );
            for &p in &left {
                signal(p, libc::SIGKILL);
                killed.insert(p);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "[{:?}] {}: killed {} container processes",
            self.started.elapsed(),
            n.name,
            killed.len()
        );
        killed.len()
    }

    /// Starts node `i`'s agent again on the same directories and flags; waits for /health.
    pub fn restart(&mut self, i: usize) {
        let t = Instant::now();
        self.nodes[i].start(Duration::from_secs(60));
        println!(
            "[{:?}] {} agent restarted (healthy after {:?})",
            self.started.elapsed(),
            self.nodes[i].name,
            t.elapsed()
        );
    }

    /// SIGSTOP of node `i`'s agent: it answers nothing, holds its sockets, renews no lease;
    /// its containers keep running.
    pub fn sigstop(&mut self, i: usize) {
        let pid = self.nodes[i].pid().expect("running");
        signal(pid, libc::SIGSTOP);
        self.nodes[i].stopped = true;
        println!(
            "[{:?}] {} agent stopped (SIGSTOP)",
            self.started.elapsed(),
            self.nodes[i].name
        );
    }

    pub fn sigcont(&mut self, i: usize) {
        let pid = self.nodes[i].pid().expect("running");
        signal(pid, libc::SIGCONT);
        self.nodes[i].stopped = false;
        println!(
            "[{:?}] {} agent continued (SIGCONT)",
            self.started.elapsed(),
            self.nodes[i].name
        );
    }

    // ---- the API ----

    /// GET on node `i`'s socket; `None` when it does not answer (dead, stopped, timed out).
    pub fn try_get(&self, i: usize, path: &str) -> Option<(u16, Value)> {
        let n = &self.nodes[i];
        if !n.is_running() {
            return None;
        }
        let r = n
            .client()
            .with_timeout(Some(Duration::from_secs(10)))
            .get(path)
            .ok()?;
        let body = r.json().unwrap_or_else(|_| Value::String(r.text()));
        Some((r.status, body))
    }

    /// GET expecting 200 and JSON.
    pub fn get_json(&self, i: usize, path: &str) -> Value {
        let r = self.nodes[i]
            .client()
            .get(path)
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.nodes[i].name));
        assert_eq!(
            r.status,
            200,
            "GET {path} on {}: {}",
            self.nodes[i].name,
            r.text()
        );
        r.json()
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}: {}", self.nodes[i].name, r.text()))
    }

    pub fn request(&self, i: usize, method: &str, path: &str, body: &Value) -> ClientResponse {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.nodes[i]
            .client()
            .request(method, path, &JSON, &bytes)
            .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", self.nodes[i].name))
    }

    /// POST /v2/apps on node `i`'s socket.
    pub fn post_app(&self, i: usize, app: &Value) -> ClientResponse {
        let t = Instant::now();
        let r = self.request(i, "POST", "/v2/apps", app);
        println!(
            "[{:?}] POST /v2/apps {} on {}: {} in {:?}",
            self.started.elapsed(),
            app["id"],
            self.nodes[i].name,
            r.status,
            t.elapsed()
        );
        r
    }

    /// POST expecting 201.
    pub fn deploy(&self, i: usize, app: &Value) {
        let r = self.post_app(i, app);
        assert_eq!(
            r.status,
            201,
            "POST {app} on {}: {}",
            self.nodes[i].name,
            r.text()
        );
    }

    /// `GET /v2/tasks` on node `i` (None when it does not answer).
    pub fn try_tasks(&self, i: usize) -> Option<Vec<Value>> {
        match self.try_get(i, "/v2/tasks")? {
            (200, v) => v["tasks"].as_array().cloned(),
            _ => None,
        }
    }

    pub fn tasks(&self, i: usize) -> Vec<Value> {
        self.get_json(i, "/v2/tasks")["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Running tasks of app `id` ("/six" or "six"; None: every app) as node `i` sees them.
    pub fn running_tasks(&self, i: usize, id: Option<&str>) -> Option<Vec<Value>> {
        let want = id.map(|s| format!("/{}", s.trim_start_matches('/')));
        Some(
            self.try_tasks(i)?
                .into_iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .filter(|t| want.as_deref().is_none_or(|w| t["appId"] == w))
                .collect(),
        )
    }

    /// Running instances of app `id` per task "host", as node `i` sees them (`GET /v2/tasks`).
    pub fn running_per_host(&self, i: usize, id: Option<&str>) -> Option<BTreeMap<String, usize>> {
        let mut out = BTreeMap::new();
        for t in self.running_tasks(i, id)? {
            *out.entry(t["host"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
        Some(out)
    }

    /// Running instances of app `id` on each node per the API of node `i`, in node order
    /// (`[a, b, c]`).
    pub fn running_counts(&self, i: usize, id: &str) -> Option<[usize; 3]> {
        let per = self.running_per_host(i, Some(id))?;
        let mut out = [0; 3];
        for (k, n) in NAMES.iter().enumerate() {
            out[k] = per.get(*n).copied().unwrap_or(0);
        }
        let total: usize = per.values().sum();
        // A task on a host that is not one of ours would be a bug: count it so sums differ.
        if total != out.iter().sum::<usize>() {
            println!("tasks on unknown hosts: {per:?}");
            return None;
        }
        Some(out)
    }

    /// Containers of app `stem` with processes on each node's host, in node order: what runs
    /// for real, whatever any agent says.
    pub fn live_counts(&self, stem: &str) -> [usize; 3] {
        let mut out = [0; 3];
        for (k, n) in self.nodes.iter().enumerate() {
            out[k] = n
                .live_containers()
                .keys()
                .filter(|c| is_instance_of(c, stem))
                .count();
        }
        out
    }

    /// The live containers of app `stem` on node `i` with their pids.
    pub fn live_instances(&self, i: usize, stem: &str) -> BTreeMap<String, BTreeSet<i32>> {
        self.nodes[i]
            .live_containers()
            .into_iter()
            .filter(|(c, _)| is_instance_of(c, stem))
            .collect()
    }

    /// `GET /v2/leader`'s "leader" on node `i` (None: 404, or no answer).
    pub fn leader_of(&self, i: usize) -> Option<String> {
        match self.try_get(i, "/v2/leader")? {
            (200, v) => v["leader"].as_str().map(str::to_string),
            _ => None,
        }
    }

    /// The node every answering agent names as the leader, when they agree.
    pub fn agreed_leader(&self) -> Option<usize> {
        let mut seen = BTreeSet::new();
        for i in self.up() {
            seen.insert(self.node_named(&self.leader_of(i)?)?);
        }
        (seen.len() == 1).then(|| *seen.iter().next().unwrap())
    }

    /// `GET /v2/queue`'s entry for app `id` on node `i`.
    pub fn queued(&self, i: usize, id: &str) -> Option<Value> {
        let want = format!("/{}", id.trim_start_matches('/'));
        let (status, v) = self.try_get(i, "/v2/queue")?;
        if status != 200 {
            return None;
        }
        v["queue"]
            .as_array()?
            .iter()
            .find(|e| e["app"]["id"] == want.as_str())
            .cloned()
    }

    // ---- waiting ----

    /// Polls `f` every 100 ms until it holds; returns how long it took and prints it. After
    /// `within` (a hang catcher, not a timing) it fails with the fleet's state.
    pub fn wait_until(
        &self,
        what: &str,
        within: Duration,
        mut f: impl FnMut() -> bool,
    ) -> Duration {
        let t = Instant::now();
        loop {
            if f() {
                let took = t.elapsed();
                println!("[{:?}] {what}: after {took:?}", self.started.elapsed());
                return took;
            }
            if t.elapsed() > within {
                panic!(
                    "timed out after {within:?} waiting for: {what}\n{}",
                    self.state()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every answering node lists every node running an agent as active in
    /// `/master/slaves`, and they name the same leader.
    pub fn wait_formed(&self) -> Duration {
        self.wait_until("the fleet is formed", Duration::from_secs(60), || {
            let want: BTreeSet<&str> = self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .map(|n| n.name.as_str())
                .collect();
            self.up().iter().all(|&i| {
                self.try_get(i, "/master/slaves").is_some_and(|(s, v)| {
                    let listed: BTreeSet<&str> = v["slaves"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter(|n| n["active"] == true)
                                .filter_map(|n| n["hostname"].as_str())
                                .collect()
                        })
                        .unwrap_or_default();
                    s == 200 && listed == want
                })
            }) && self.agreed_leader().is_some()
        })
    }

    /// Waits until app `id` runs `want` instances per node (`[a, b, c]`) by the API of every
    /// answering node.
    pub fn wait_counts(&self, id: &str, want: [usize; 3], within: Duration) -> Duration {
        self.wait_until(
            &format!("{id} runs {want:?} on [a, b, c] (API of every node up)"),
            within,
            || {
                let up = self.up();
                !up.is_empty() && up.iter().all(|&i| self.running_counts(i, id) == Some(want))
            },
        )
    }

    /// Waits until app `id` runs `total` instances in all by the API of every answering node.
    pub fn wait_total(&self, id: &str, total: usize, within: Duration) -> Duration {
        self.wait_until(
            &format!("{id} runs {total} instances (API of every node up)"),
            within,
            || {
                let up = self.up();
                !up.is_empty()
                    && up.iter().all(|&i| {
                        self.running_counts(i, id)
                            .is_some_and(|c| c.iter().sum::<usize>() == total)
                    })
            },
        )
    }

    /// What every node says and runs, for a failure's message.
    pub fn state(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            s.push_str(&format!(
                "== {} (pid {:?}, {}):\n",
                n.name,
                n.pid(),
                if n.child.is_none() {
                    "dead"
                } else if !n.pid().is_some_and(alive) {
                    "EXITED (not by the harness: see its log)"
                } else if n.stopped {
                    "stopped"
                } else {
                    "up"
                }
            ));
            if let Some(tasks) = self.try_tasks(i) {
                let brief: Vec<String> = tasks
                    .iter()
                    .map(|t| format!("{}@{}:{}", t["id"], t["host"], t["state"]))
                    .collect();
                s.push_str(&format!("  /v2/tasks: {}\n", brief.join(" ")));
            }
            for path in ["/v2/leader", "/v2/queue", "/master/slaves"] {
                if let Some((status, v)) = self.try_get(i, path) {
                    s.push_str(&format!("  {path}: {status} {v}\n"));
                }
            }
            s.push_str(&format!("  live containers: {:?}\n", n.live_containers()));
        }
        s
    }

    /// Recent log lines of every agent.
    pub fn logs(&self, lines: usize) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s.push_str(&format!(
                "--- {} log ({}), last lines:\n",
                n.name,
                n.log.display()
            ));
            s.push_str(&n.log_tail(lines));
            s.push('\n');
        }
        s
    }

    /// Kills every agent and every process of their containers, waits until none is left.
    fn kill_everything(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut child) = n.child.take() {
                if n.stopped {
                    signal(child.id() as i32, libc::SIGCONT);
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            n.stopped = false;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut left = BTreeSet::new();
            for n in &self.nodes {
                left.extend(n.container_processes());
            }
            left.extend(processes_under(&self.dir));
            if left.is_empty() || Instant::now() > deadline {
                if !left.is_empty() {
                    eprintln!("fleet: processes {left:?} survived SIGKILL");
                }
                break;
            }
            for p in left {
                signal(p, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether anything of this fleet is left on the host: processes, cgroups, directories.
    pub fn leftovers(dir: &Path, cgroups_roots: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for p in processes_under(dir) {
            out.push(format!("process {p}"));
        }
        for h in hierarchies() {
            for r in cgroups_roots {
                let p = h.join(r);
                if p.exists() {
                    out.push(format!("cgroup {}", p.display()));
                }
            }
        }
        if dir.exists() {
            out.push(format!("directory {}", dir.display()));
        }
        out
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            // The agents are still as the test left them: their view first, then their logs.
            eprintln!("{}", self.state());
            eprintln!("{}", self.logs(80));
            if let Ok(keep) = std::env::var("FLEET_KEEP_LOGS") {
                let to = Path::new(&keep).join(self.dir.file_name().unwrap());
                let _ = std::fs::create_dir_all(&to);
                for n in &self.nodes {
                    let _ = std::fs::copy(&n.log, to.join(format!("{}.log", n.name)));
                }
                eprintln!("fleet: logs kept in {}", to.display());
            }
        }
        self.kill_everything();
        for n in &self.nodes {
            for root in n.cgroup_roots() {
                remove_cgroup_tree(&root);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let roots: Vec<String> = self.nodes.iter().map(|n| n.cgroups_root.clone()).collect();
        let left = Fleet::leftovers(&self.dir, &roots);
        if !left.is_empty() {
            eprintln!("fleet: left behind: {left:?}");
        }
    }
}
