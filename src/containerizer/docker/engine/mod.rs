//! A non-blocking client of dockerd's Engine API over its unix socket, driven by the agent's
//! loop: every request is its own connection (`Connection: close`) and state machine
//! ([`request::Conn`]), registered as `Source::Docker(id)`, with a deadline armed as
//! `TimerKind::Docker(id)`. A hung dockerd therefore fails each affected request at its deadline
//! and stalls nothing else.
//!
//! The API version is agreed on before the first request (`/_ping`, then `/version`): the lower
//! of dockerd's and ours, refused below what we need. Requests made meanwhile wait, their
//! deadlines running. A connection failure forgets the version, so a restarted (perhaps
//! upgraded) dockerd is asked again.

mod error;
mod request;
mod version;

pub use crate::http::Mode;
pub use error::EngineError;
pub use request::Progress;
pub use version::ApiVersion;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};

use crate::event::Source;
use crate::timer::{TimerKind, Timers};
use request::Conn;

/// A request's ID: its mio token and timer payload. Never reused while the agent runs (a
/// stale event or timer finds nothing).
pub type ReqId = u32;

/// One Engine API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: &'static str,
    /// Without the version prefix: `/containers/create?name=...`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub mode: Mode,
    /// Bounds the whole answer (`Whole`) or its head (streams).
    pub timeout: Duration,
    /// For streams: fail when no byte arrived for this long (`None`: a stream may idle forever,
    /// as `/wait` does while the container runs).
    pub stall: Option<Duration>,
}

impl Call {
    pub fn get(path: impl Into<String>, timeout: Duration) -> Call {
        Call {
            method: "GET",
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
            mode: Mode::Whole,
            timeout,
            stall: None,
        }
    }

    pub fn post(
        path: impl Into<String>,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Call {
        Call {
            method: "POST",
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            ..Call::get(path, timeout)
        }
    }

    pub fn delete(path: impl Into<String>, timeout: Duration) -> Call {
        Call {
            method: "DELETE",
            ..Call::get(path, timeout)
        }
    }

    pub fn streaming(self, mode: Mode, stall: Option<Duration>) -> Call {
        Call {
            mode,
            stall,
            ..self
        }
    }

    pub fn header(mut self, name: &str, value: String) -> Call {
        self.headers.push((name.to_string(), value));
        self
    }
}

#[derive(Debug)]
struct Pending {
    call: Call,
    /// None while it waits for the version.
    conn: Option<Conn>,
    /// None: a stream past its head without a stall bound.
    deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Ping,
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Api {
    Unknown,
    Negotiating(ReqId, Step),
    Ready(ApiVersion),
}

/// The client: the socket, the agreed version, the requests in flight.
#[derive(Debug)]
pub struct Engine {
    socket: PathBuf,
    /// Bounds the version negotiation's requests.
    timeout: Duration,
    api: Api,
    requests: BTreeMap<ReqId, Pending>,
    /// Submitted before the version was known, in order.
    waiting: VecDeque<ReqId>,
    next: ReqId,
}

/// What happened to which request.
pub type Replies = Vec<(ReqId, Progress)>;

impl Engine {
    pub fn new(socket: &Path, timeout: Duration) -> Engine {
        Engine {
            socket: socket.to_path_buf(),
            timeout,
            api: Api::Unknown,
            requests: BTreeMap::new(),
            waiting: VecDeque::new(),
            next: 1,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The agreed version, once known.
    pub fn version(&self) -> Option<ApiVersion> {
        match &self.api {
            Api::Ready(v) => Some(*v),
            _ => None,
        }
    }

    /// How many requests are in flight (or waiting for the version).
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }

    fn take_id(&mut self) -> ReqId {
        loop {
            let id = self.next;
            self.next = self.next.wrapping_add(1).max(1);
            if !self.requests.contains_key(&id) {
                return id;
            }
        }
    }

    /// Sends `call` (or queues it until the version is known). Its outcome comes back from
    /// [`Engine::on_ready`] or [`Engine::on_timer`] under the returned ID; a connection that
    /// cannot even be opened is an error now.
    pub fn submit(
        &mut self,
        call: Call,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<ReqId, EngineError> {
        let id = self.take_id();
        timers.add(call.timeout, TimerKind::Docker(id));
        let deadline = Some(Instant::now() + call.timeout);
        self.requests.insert(
            id,
            Pending {
                call,
                conn: None,
                deadline,
            },
        );
        match self.api.clone() {
            Api::Ready(version) => {
                if let Err(e) = self.open(id, version.prefix(), registry) {
                    self.requests.remove(&id);
                    return Err(e);
                }
            }
            Api::Negotiating(..) => self.waiting.push_back(id),
            Api::Unknown => {
                self.waiting.push_back(id);
                if let Err(e) = self.negotiate(registry, timers) {
                    self.waiting.retain(|w| *w != id);
                    self.requests.remove(&id);
                    // The others waiting (none: negotiation was not under way) learn nothing.
                    return Err(e);
                }
            }
        }
        Ok(id)
    }

    /// Forgets a request (its owner no longer cares: the container is being destroyed).
    pub fn cancel(&mut self, id: ReqId, registry: &Registry) {
        if let Some(mut p) = self.requests.remove(&id) {
            if let Some(conn) = p.conn.as_mut() {
                let _ = registry.deregister(&mut conn.stream);
            }
        }
        self.waiting.retain(|w| *w != id);
    }

    /// Connects and registers request `id` (its bytes go out as the socket allows).
    fn open(&mut self, id: ReqId, prefix: String, registry: &Registry) -> Result<(), EngineError> {
        let connect_error = |e: std::io::Error| EngineError::Connect {
            socket: self.socket.clone(),
            error: e.to_string(),
        };
        let mut stream = mio::net::UnixStream::connect(&self.socket).map_err(connect_error)?;
        registry
            .register(
                &mut stream,
                Token::from(Source::Docker(id)),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(connect_error)?;
        let Some(p) = self.requests.get_mut(&id) else {
            return Ok(());
        };
        let target = format!("{prefix}{}", p.call.path);
        let bytes = request::encode(
            p.call.method,
            &target,
            &p.call.headers,
            &p.call.body,
            p.call.mode,
        );
        log::debug!("dockerd: {} {target}", p.call.method);
        p.conn = Some(Conn::new(
            stream,
            p.call.mode,
            bytes,
            p.call.method == "HEAD",
        ));
        Ok(())
    }

    fn negotiate(&mut self, registry: &Registry, timers: &mut Timers) -> Result<(), EngineError> {
        self.send_step(Step::Ping, "/_ping", registry, timers)
    }

    fn send_step(
        &mut self,
        step: Step,
        path: &str,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), EngineError> {
        let id = self.take_id();
        timers.add(self.timeout, TimerKind::Docker(id));
        self.requests.insert(
            id,
            Pending {
                call: Call::get(path, self.timeout),
                conn: None,
                deadline: Some(Instant::now() + self.timeout),
            },
        );
        if let Err(e) = self.open(id, String::new(), registry) {
            self.requests.remove(&id);
            self.api = Api::Unknown;
            return Err(e);
        }
        self.api = Api::Negotiating(id, step);
        Ok(())
    }

    /// `Source::Docker(id)` is ready.
    pub fn on_ready(&mut self, id: ReqId, registry: &Registry, timers: &mut Timers) -> Replies {
        let progress = self.step(id, registry, timers);
        if let Api::Negotiating(nid, step) = self.api.clone() {
            if nid == id {
                return self.on_step(step, progress, registry, timers);
            }
        }
        if progress
            .iter()
            .any(|p| matches!(p, Progress::Failed(EngineError::Connect { .. })))
        {
            self.api = Api::Unknown;
        }
        progress.into_iter().map(|p| (id, p)).collect()
    }

    /// A negotiation step's progress: the next step, or the waiting requests started or failed.
    fn on_step(
        &mut self,
        step: Step,
        progress: Vec<Progress>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Replies {
        let outcome = progress.into_iter().find_map(|p| match p {
            Progress::Done { status: 200, body } => Some(Ok(body)),
            Progress::Done { status, body } => Some(Err(EngineError::from_answer(status, &body))),
            Progress::Failed(e) => Some(Err(e)),
            _ => None,
        });
        let result = match (step, outcome) {
            (_, None) => return Vec::new(),
            (_, Some(Err(e))) => Err(e),
            (Step::Ping, Some(Ok(_))) => {
                match self.send_step(Step::Version, "/version", registry, timers) {
                    Ok(()) => return Vec::new(),
                    Err(e) => Err(e),
                }
            }
            (Step::Version, Some(Ok(body))) => version::agree(&body),
        };
        match result {
            Ok((version, engine)) => {
                log::info!(
                    "dockerd {engine} at {}: Engine API v{version}",
                    self.socket.display()
                );
                self.api = Api::Ready(version);
                self.start_waiting(registry, timers)
            }
            Err(e) => {
                log::warn!("dockerd at {}: {e}", self.socket.display());
                self.api = Api::Unknown;
                self.fail_waiting(e, registry)
            }
        }
    }

    fn start_waiting(&mut self, registry: &Registry, timers: &mut Timers) -> Replies {
        let mut out = Vec::new();
        let prefix = self.version().map(|v| v.prefix()).unwrap_or_default();
        while let Some(id) = self.waiting.pop_front() {
            if let Err(e) = self.open(id, prefix.clone(), registry) {
                self.requests.remove(&id);
                out.push((id, Progress::Failed(e)));
                continue;
            }
            // Whatever the socket already allows: the edge-triggered event may have passed.
            out.extend(self.step(id, registry, timers).into_iter().map(|p| (id, p)));
        }
        out
    }

    /// Drives request `id` as far as its socket allows.
    fn step(&mut self, id: ReqId, registry: &Registry, timers: &mut Timers) -> Vec<Progress> {
        let mut progress = Vec::new();
        let Some(p) = self.requests.get_mut(&id) else {
            return progress;
        };
        let Some(conn) = p.conn.as_mut() else {
            return progress;
        };
        let mut raw = Vec::new();
        conn.drive(&mut raw);
        progress.extend(raw.into_iter().map(|p| p.map_err(EngineError::from)));
        if conn.is_finished() {
            self.cancel(id, registry);
        } else if conn.is_streaming() {
            // Past the head only the stall bound (if any) applies, from the last byte.
            p.deadline = p.call.stall.map(|s| Instant::now() + s);
            if let Some(stall) = p.call.stall {
                if progress
                    .iter()
                    .any(|x| matches!(x, Progress::Streaming { .. }))
                {
                    timers.add(stall, TimerKind::Docker(id));
                }
            }
        }
        progress
    }

    fn fail_waiting(&mut self, e: EngineError, registry: &Registry) -> Replies {
        let waiting: Vec<ReqId> = self.waiting.drain(..).collect();
        waiting
            .into_iter()
            .map(|id| {
                self.cancel(id, registry);
                (id, Progress::Failed(EngineError::Version(e.to_string())))
            })
            .collect()
    }

    /// `TimerKind::Docker(id)` is due: a request past its deadline fails; one whose deadline
    /// moved (a stream that made progress) is re-armed.
    pub fn on_timer(&mut self, id: ReqId, registry: &Registry, timers: &mut Timers) -> Replies {
        let Some(p) = self.requests.get(&id) else {
            return Vec::new();
        };
        let Some(deadline) = p.deadline else {
            return Vec::new();
        };
        let now = Instant::now();
        if deadline > now {
            timers.add(deadline - now, TimerKind::Docker(id));
            return Vec::new();
        }
        let after = match (
            p.conn.as_ref().is_some_and(Conn::is_streaming),
            p.call.stall,
        ) {
            (true, Some(stall)) => stall,
            _ => p.call.timeout,
        };
        self.cancel(id, registry);
        let error = EngineError::TimedOut(after);
        if let Api::Negotiating(nid, _) = self.api {
            if nid == id {
                self.api = Api::Unknown;
                return self.fail_waiting(error, registry);
            }
        }
        vec![(id, Progress::Failed(error))]
    }
}

#[cfg(test)]
mod tests;
