//! A real 3-member etcd cluster (Debian's `etcd-server`) on loopback, started by the test:
//! unique ports and data dirs under /var/tmp, killed and removed on drop; and a mio loop that
//! drives the agent's etcd client as the agent's loop would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use mesolite::etcd::{
    Endpoint, Etcd, EtcdError, EtcdEvent, EtcdId, KeyRange, Request, Response, WatchEvent,
};
use mesolite::event::Source;
use mesolite::timer::{TimerKind, Timers};

const ETCD: &str = "/usr/bin/etcd";

/// One cluster at a time: three members each, elections want the CPU on 2 cores.
static ONE_CLUSTER: Mutex<()> = Mutex::new(());

/// Loopback ports nobody listens on now (the kernel's choice; etcd binds them next).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub struct Member {
    pub name: String,
    pub client: SocketAddr,
    peer: SocketAddr,
    data_dir: PathBuf,
    child: Option<Child>,
    stopped: bool,
}

pub struct Cluster {
    pub members: Vec<Member>,
    dir: PathBuf,
    initial: String,
    _lock: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts three members and waits until each is healthy; `None` (with a SKIP line) when
    /// etcd is not installed.
    pub fn start(tag: &str) -> Option<Cluster> {
        if !Path::new(ETCD).exists() {
            println!("SKIP: {ETCD} is missing (apt-get install etcd-server)");
            return None;
        }
        let lock = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
        let dir = PathBuf::from(format!(
            "/var/tmp/mesolite-etcd-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ports = free_ports(6);
        let members: Vec<Member> = (0..3)
            .map(|i| Member {
                name: format!("{tag}{i}"),
                client: SocketAddr::from(([127, 0, 0, 1], ports[2 * i])),
                peer: SocketAddr::from(([127, 0, 0, 1], ports[2 * i + 1])),
                data_dir: dir.join(format!("m{i}")),
                child: None,
                stopped: false,
            })
            .collect();
        let initial = members
            .iter()
            .map(|m| format!("{}=http://{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            members,
            dir,
            initial,
            _lock: lock,
        };
        for i in 0..3 {
            cluster.spawn(i);
        }
        cluster.wait_healthy(&[0, 1, 2], Duration::from_secs(60));
        Some(cluster)
    }

    fn spawn(&mut self, i: usize) {
        let m = &self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", m.name)))
            .unwrap();
        let child = Command::new(ETCD)
            .arg(format!("--name={}", m.name))
            .arg(format!("--data-dir={}", m.data_dir.display()))
            .arg(format!("--listen-client-urls=http://{}", m.client))
            .arg(format!("--advertise-client-urls=http://{}", m.client))
            .arg(format!("--listen-peer-urls=http://{}", m.peer))
            .arg(format!("--initial-advertise-peer-urls=http://{}", m.peer))
            .arg(format!("--initial-cluster={}", self.initial))
            .arg(format!("--initial-cluster-token={}", self.dir.display()))
            .arg("--initial-cluster-state=new")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.members[i].child = Some(child);
        self.members[i].stopped = false;
    }

    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.members
            .iter()
            .map(|m| Endpoint::new(m.client))
            .collect()
    }

    /// The member listening at `endpoint`.
    pub fn index_of(&self, endpoint: Endpoint) -> usize {
        self.members
            .iter()
            .position(|m| m.client == endpoint.addr())
            .unwrap()
    }

    fn pid(&self, i: usize) -> Pid {
        let id = self.members[i].child.as_ref().expect("running").id();
        Pid::from_raw(i32::try_from(id).unwrap())
    }

    /// SIGSTOP: the member keeps its sockets open and answers nothing.
    pub fn stop(&mut self, i: usize) {
        kill(self.pid(i), Signal::SIGSTOP).unwrap();
        self.members[i].stopped = true;
    }

    pub fn cont(&mut self, i: usize) {
        kill(self.pid(i), Signal::SIGCONT).unwrap();
        self.members[i].stopped = false;
    }

    /// SIGKILL: its connections are reset, its port refuses.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed member again on its data dir (it rejoins as itself).
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }

    /// Waits until each of `members` says it is healthy (it has a leader and serves reads).
    pub fn wait_healthy(&self, members: &[usize], within: Duration) {
        let deadline = Instant::now() + within;
        for &i in members {
            loop {
                if healthy(self.members[i].client) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "etcd member {} not healthy within {within:?}; logs in {}",
                    self.members[i].name,
                    self.dir.display()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].child.is_some() {
                if self.members[i].stopped {
                    let _ = kill(self.pid(i), Signal::SIGCONT);
                }
                self.kill(i);
            }
        }
        if std::thread::panicking() {
            for m in &self.members {
                let log = std::fs::read_to_string(self.dir.join(format!("{}.log", m.name)));
                let log = log.unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                eprintln!("--- {} (last lines)", m.name);
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `GET /health` with a blocking socket (the test's thread, not the loop under test).
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") && answer.contains(r#""health":"true""#)
}

/// A watch's next news: its changes and the revision delivered through, or the end and the
/// revision to resume from.
pub type WatchNews = Result<(Vec<WatchEvent>, i64), (EtcdError, i64)>;

/// The agent's loop, reduced to the etcd client: a mio `Poll`, the timers, the client.
pub struct Driver {
    pub poll: Poll,
    pub timers: Timers,
    pub etcd: Etcd,
    events: Events,
    /// Heard, not yet taken by a test.
    backlog: VecDeque<EtcdEvent>,
}

impl Driver {
    pub fn new(endpoints: Vec<Endpoint>, timeout: Duration) -> Driver {
        Driver {
            poll: Poll::new().unwrap(),
            timers: Timers::default(),
            etcd: Etcd::new(endpoints, timeout).unwrap(),
            events: Events::with_capacity(64),
            backlog: VecDeque::new(),
        }
    }

    pub fn submit(&mut self, request: Request) -> EtcdId {
        self.etcd
            .submit(request, self.poll.registry(), &mut self.timers)
    }

    pub fn watch(&mut self, keys: KeyRange, start: i64) -> EtcdId {
        self.etcd
            .watch(keys, start, self.poll.registry(), &mut self.timers)
    }

    /// One turn of the loop: poll (at most 50 ms), then the due timers.
    fn turn(&mut self) {
        self.timers.tick();
        let wait = self
            .timers
            .next_timeout()
            .map_or(Duration::from_millis(50), |t| {
                t.min(Duration::from_millis(50))
            });
        self.poll.poll(&mut self.events, Some(wait)).unwrap();
        let registry = self.poll.registry();
        for event in self.events.iter() {
            match Source::from_token(event.token()) {
                Some(Source::Etcd(conn)) => {
                    let heard = self.etcd.on_event(conn, registry, &mut self.timers);
                    self.backlog.extend(heard);
                }
                other => panic!("unexpected source {other:?}"),
            }
        }
        for kind in self.timers.expired() {
            let TimerKind::Etcd(conn) = kind else {
                panic!("unexpected timer {kind:?}")
            };
            let heard = self.etcd.on_timer(conn, registry, &mut self.timers);
            self.backlog.extend(heard);
        }
    }

    /// The first event `pick` takes, within `within` (else None); others stay in the backlog.
    pub fn next<T>(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(&EtcdEvent) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(i) = self.backlog.iter().position(|e| pick(e).is_some()) {
                let e = self.backlog.remove(i).unwrap();
                return pick(&e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.turn();
        }
    }

    /// Request `id`'s reply (the test fails if none comes within a minute: a hang).
    pub fn reply(&mut self, id: EtcdId) -> Result<Response, EtcdError> {
        self.next(Duration::from_secs(60), |e| match e {
            EtcdEvent::Reply { id: i, result } if *i == id => Some(result.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no reply to request {id} within 60 s"))
    }

    /// Submits `request` and waits for its reply.
    pub fn call(&mut self, request: Request) -> Result<Response, EtcdError> {
        let id = self.submit(request);
        self.reply(id)
    }

    /// Like `call`, expecting success.
    pub fn ok(&mut self, request: Request) -> Response {
        let what = format!("{request:?}");
        self.call(request)
            .unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }

    /// Watch `id`'s next event: `Ok((events, revision))`, or `Err` once it ended.
    pub fn watch_event(&mut self, id: EtcdId, within: Duration) -> Option<WatchNews> {
        self.next(within, |e| match e {
            EtcdEvent::Watch {
                id: i,
                events,
                revision,
            } if *i == id => Some(Ok((events.clone(), *revision))),
            EtcdEvent::WatchEnded {
                id: i,
                error,
                resume_from,
            } if *i == id => Some(Err((error.clone(), *resume_from))),
            _ => None,
        })
    }

    /// Runs the loop for `d`, keeping what is heard.
    pub fn idle(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            self.turn();
        }
    }
}
