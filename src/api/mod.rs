//! The API server on the unix socket: HTTP/1.1 connections in the event loop, routed to the
//! operator API v1 (`v1.rs`) and the GET endpoints (`endpoints.rs`). A LAUNCH or WAIT that must
//! wait for the containerizer is parked and answered when its `Notice` arrives.

mod access;
mod auth;
mod conn;
mod endpoints;
mod files;
mod listen;
mod marathon;
mod prometheus;
mod render;
mod statistics;
mod stream;
mod v1;

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Registry, Token};

use crate::containerizer::{ContainerId, Containerizer, Notice};
use crate::event::Source;
use crate::http::{
    parse_request, wants_continue, Limits, Parse, Request, Response, CONTINUE_RESPONSE,
};
use crate::timer::{TimerKind, Timers};
use conn::{Conn, ReadOutcome};
use listen::{Listener, Peer};

pub use access::TcpAccess;
pub use auth::{Authenticator, Credentials, CredentialsError};

/// How often stalled connections are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The loop time all streamed bodies together get per iteration, so the events that arrive
/// meanwhile wait at most about this long for a streamed body.
const SLICE: Duration = Duration::from_micros(500);

/// A streamed body is made only while less than this waits unsent on its connection: a client
/// that reads slowly holds back its own answer, not the agent's memory.
const STREAM_BACKLOG: usize = 128 * 1024;

/// Streamed pieces are sent once this much has gathered (or the body is done): each send wakes
/// the client, and on a busy node every wake-up can cost the agent its CPU for a while.
const STREAM_SEND_AT: usize = 64 * 1024;

/// Facts about the agent the endpoints report.
#[derive(Debug)]
pub struct AgentInfo {
    pub version: &'static str,
    pub flags: Vec<(&'static str, String)>,
    pub started: Instant,
    pub start_time: f64,
    pub loop_iterations: u64,
    pub loop_stats: crate::loop_stats::LoopStats,
    /// `--cgroups_enable_cfs`: whether the CPU limits are CFS quotas (for `/metrics`).
    pub cfs: bool,
}

/// What a handler needs from the rest of the agent.
pub struct Ctx<'a> {
    pub containerizer: &'a mut dyn Containerizer,
    pub apps: &'a mut crate::apps::Apps,
    /// In a fleet: the member; Marathon's API then reads and writes the fleet's apps.
    pub fleet: Option<&'a mut crate::fleet::Fleet>,
    pub registry: &'a Registry,
    pub timers: &'a mut Timers,
    pub info: &'a AgentInfo,
    /// Notices produced while handling a request (a KILL that ended a container at once),
    /// for the loop to hand to `Server::on_notices`.
    pub notices: Vec<Notice>,
}

impl Ctx<'_> {
    /// What the app controller and the fleet act with (the containerizer, the loop's registry
    /// and timers, the notices), and the two of them, borrowed apart.
    pub fn split(
        &mut self,
    ) -> (
        crate::apps::Env<'_>,
        &mut crate::apps::Apps,
        Option<&mut crate::fleet::Fleet>,
    ) {
        let env = crate::apps::Env {
            containerizer: &mut *self.containerizer,
            registry: self.registry,
            timers: &mut *self.timers,
            notices: &mut self.notices,
        };
        (env, &mut *self.apps, self.fleet.as_deref_mut())
    }
}

// By hand: a derived Debug would need the containerizer's, which would pull the Debug code of
// every container structure into the binary (about 20 KiB) for a value nobody prints.
impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("notices", &self.notices)
            .finish_non_exhaustive()
    }
}

/// A handler's answer: now, when the containerizer says so, or a head now and the body over
/// the next loop iterations.
pub(crate) enum Reply {
    Now(Response),
    Launch(ContainerId),
    Wait(ContainerId),
    /// A `POST /v2/apps` answered once the app's first instance launched.
    App(crate::apps::AppId),
    Stream(Response, Box<dyn stream::Body>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Now(r) => f.debug_tuple("Now").field(r).finish(),
            Reply::Launch(id) => f.debug_tuple("Launch").field(id).finish(),
            Reply::Wait(id) => f.debug_tuple("Wait").field(id).finish(),
            Reply::App(id) => f.debug_tuple("App").field(id).finish(),
            Reply::Stream(r, _) => f.debug_tuple("Stream").field(r).finish(),
        }
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub max_connections: usize,
    pub request_timeout: Duration,
    pub limits: Limits,
}

#[derive(Debug)]
pub struct Server {
    listener: Listener,
    /// `--port`'s listener and what its clients may do.
    tcp: Option<(Listener, TcpAccess)>,
    config: ServerConfig,
    conns: HashMap<u32, Conn>,
    next_conn: u32,
    /// Parked requests, by container: (connection, is it a LAUNCH).
    parked: HashMap<ContainerId, Vec<(u32, bool)>>,
    /// Parked `POST /v2/apps`, by app.
    parked_apps: HashMap<crate::apps::AppId, Vec<u32>>,
    /// Connections streaming a body: the loop's pending work.
    streaming: Vec<u32>,
    pub requests: u64,
    /// "METHOD path" of the last request routed, for the loop's slow-iteration log.
    last_request: String,
}

impl Server {
    pub fn new(
        listener: UnixListener,
        config: ServerConfig,
        registry: &Registry,
        timers: &mut Timers,
    ) -> io::Result<Server> {
        let mut listener = Listener::Unix(listener);
        registry.register(
            &mut listener,
            Token::from(Source::Listener),
            Interest::READABLE,
        )?;
        timers.add(SWEEP_EVERY, TimerKind::ConnectionSweep);
        Ok(Server {
            listener,
            tcp: None,
            config,
            conns: HashMap::new(),
            next_conn: 1,
            parked: HashMap::new(),
            parked_apps: HashMap::new(),
            streaming: Vec::new(),
            requests: 0,
            last_request: String::new(),
        })
    }

    /// Also serves the API on `listener` (`--port`), to clients held to `access`.
    pub fn listen_tcp(
        &mut self,
        listener: TcpListener,
        access: TcpAccess,
        registry: &Registry,
    ) -> io::Result<()> {
        let mut listener = Listener::Tcp(listener);
        registry.register(
            &mut listener,
            Token::from(Source::TcpListener),
            Interest::READABLE,
        )?;
        self.tcp = Some((listener, access));
        Ok(())
    }

    /// Accepts every pending connection on the unix socket or (`tcp`) the TCP listener.
    pub fn accept(&mut self, registry: &Registry, tcp: bool) {
        let listener = if tcp {
            match &self.tcp {
                Some((l, _)) => l,
                None => return,
            }
        } else {
            &self.listener
        };
        loop {
            let (mut stream, peer) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("Failed to accept an API connection: {e}");
                    return;
                }
            };
            if self.conns.len() >= self.config.max_connections {
                log::warn!(
                    "Refusing an API connection: {} are open already",
                    self.conns.len()
                );
                continue;
            }
            let slot = self.next_conn;
            self.next_conn = self.next_conn.wrapping_add(1).max(1);
            if let Err(e) = registry.register(
                &mut stream,
                Token::from(Source::Conn(slot)),
                Interest::READABLE,
            ) {
                log::warn!("Failed to watch an API connection: {e}");
                continue;
            }
            self.conns.insert(slot, Conn::new(stream, peer));
        }
    }

    /// A connection is readable or writable.
    pub fn on_conn(&mut self, slot: u32, ctx: &mut Ctx<'_>) {
        let limit = self.config.limits.max_header_bytes + self.config.limits.max_body_bytes + 1;
        let Some(conn) = self.conns.get_mut(&slot) else {
            return;
        };
        let closed = match conn.fill(limit) {
            Ok(ReadOutcome::Open) => false,
            Ok(ReadOutcome::Closed) => true,
            Err(_) => true,
        };
        if closed {
            // Answer what was asked, then go: a half-closed client still reads.
            conn.peer_done = true;
            if conn.inbuf.is_empty() && conn.body.is_none() {
                self.close(slot, ctx.registry);
                return;
            }
        }
        self.process(slot, ctx);
        // A body about to be streamed sends its head with its first pieces (run_pending): sent
        // alone, the head would cost a send and a client wake-up of its own.
        let streaming = self
            .conns
            .get(&slot)
            .is_some_and(|c| c.body.is_some() && c.outbuf.len() < STREAM_SEND_AT);
        if !streaming {
            self.flush(slot, ctx.registry);
        }
    }

    /// Parses and answers buffered requests until one is parked or the buffer runs dry.
    fn process(&mut self, slot: u32, ctx: &mut Ctx<'_>) {
        loop {
            let Some(conn) = self.conns.get_mut(&slot) else {
                return;
            };
            if conn.deferred || conn.closing || conn.body.is_some() || conn.inbuf.is_empty() {
                if conn.peer_done && !conn.deferred && conn.body.is_none() {
                    conn.closing = true;
                }
                return;
            }
            let request = match parse_request(&conn.inbuf, &self.config.limits) {
                Parse::Incomplete => {
                    // curl waits for this before sending a body over 1 KiB.
                    if !conn.continue_sent && wants_continue(&conn.inbuf, &self.config.limits) {
                        conn.outbuf.extend_from_slice(CONTINUE_RESPONSE);
                        conn.continue_sent = true;
                    }
                    return;
                }
                Parse::Error(e) => {
                    let resp = Response::text(e.status, e.message);
                    conn.outbuf.extend_from_slice(&resp.to_bytes(false));
                    conn.inbuf.clear();
                    conn.closing = true;
                    return;
                }
                Parse::Complete { request, consumed } => {
                    conn.inbuf.drain(..consumed);
                    conn.continue_sent = false;
                    request
                }
            };
            conn.keep_alive = request.keep_alive;
            conn.head_only = request.method == crate::http::Method::Head;
            let peer = conn.peer;
            self.requests += 1;
            match self.route(&request, peer, ctx) {
                Reply::Now(resp) => self.respond(slot, resp),
                Reply::Launch(id) => self.park(slot, id, true),
                Reply::Wait(id) => self.park(slot, id, false),
                Reply::App(id) => {
                    if let Some(conn) = self.conns.get_mut(&slot) {
                        conn.deferred = true;
                    }
                    self.parked_apps.entry(id).or_default().push(slot);
                }
                Reply::Stream(head, body) => self.stream(slot, head, body, request.http_1_1),
            }
        }
    }

    fn route(&mut self, req: &Request, peer: Peer, ctx: &mut Ctx<'_>) -> Reply {
        self.last_request.clear();
        self.last_request.push_str(req.method.as_str());
        self.last_request.push(' ');
        self.last_request.push_str(&req.path);
        let principal = match &mut self.tcp {
            Some((_, access)) => match access.check(req, &peer) {
                Ok(p) => p,
                Err(resp) => return Reply::Now(resp),
            },
            None => None,
        };
        if marathon::owns(&req.path) {
            return marathon::handle(req, ctx);
        }
        if req.path == "/api/v1" {
            let who = match principal {
                Some(p) => format!("{peer} (principal '{}')", p.escape_debug()),
                None => peer.to_string(),
            };
            return v1::handle(req, &who, ctx);
        }
        endpoints::handle(req, ctx)
    }

    fn park(&mut self, slot: u32, id: ContainerId, launch: bool) {
        if let Some(conn) = self.conns.get_mut(&slot) {
            conn.deferred = true;
        }
        self.parked.entry(id).or_default().push((slot, launch));
    }

    /// Queues a response on a connection.
    fn respond(&mut self, slot: u32, resp: Response) {
        let Some(conn) = self.conns.get_mut(&slot) else {
            return;
        };
        conn.deferred = false;
        if conn.head_only {
            resp.write_head_to(&mut conn.outbuf, conn.keep_alive);
        } else {
            resp.write_to(&mut conn.outbuf, conn.keep_alive);
        }
        if !conn.keep_alive {
            conn.closing = true;
        }
    }

    /// Writes the head of a streamed answer; its body follows in [`Server::run_pending`]. An
    /// HTTP/1.0 client, which cannot read chunks, gets the body delimited by the close.
    fn stream(&mut self, slot: u32, head: Response, body: Box<dyn stream::Body>, chunked: bool) {
        let Some(conn) = self.conns.get_mut(&slot) else {
            return;
        };
        conn.keep_alive &= chunked;
        head.write_stream_head(&mut conn.outbuf, chunked, conn.keep_alive);
        if conn.head_only {
            if !conn.keep_alive {
                conn.closing = true;
            }
            return;
        }
        conn.body = Some(stream::Stream::new(body, chunked));
        self.streaming.push(slot);
    }

    /// Whether a streamed body can make progress now: the loop then polls without sleeping.
    pub fn has_pending_work(&self) -> bool {
        self.streaming.iter().any(|slot| {
            self.conns
                .get(slot)
                .is_some_and(|c| c.outbuf.len() < STREAM_BACKLOG)
        })
    }

    /// Writes the next piece of every streamed body whose client keeps up, within [`SLICE`] in
    /// all; a finished one lets its connection read the requests pipelined behind it.
    pub fn run_pending(&mut self, ctx: &mut Ctx<'_>) {
        self.streaming.retain(|slot| self.conns.contains_key(slot));
        let ready: Vec<u32> = self
            .streaming
            .iter()
            .copied()
            .filter(|slot| {
                self.conns
                    .get(slot)
                    .is_some_and(|c| c.outbuf.len() < STREAM_BACKLOG)
            })
            .collect();
        let share = SLICE / u32::try_from(ready.len()).unwrap_or(u32::MAX).max(1);
        for slot in ready {
            let Some(conn) = self.conns.get_mut(&slot) else {
                continue;
            };
            let Some(stream) = conn.body.as_mut() else {
                continue;
            };
            let until = Instant::now() + share;
            if stream.slice(&*ctx.containerizer, &mut conn.outbuf, until) {
                conn.body = None;
                if !conn.keep_alive {
                    conn.closing = true;
                }
                self.streaming.retain(|s| *s != slot);
                self.flush(slot, ctx.registry);
                self.process(slot, ctx);
                self.flush(slot, ctx.registry);
            } else if conn.outbuf.len() >= STREAM_SEND_AT {
                self.flush(slot, ctx.registry);
            }
        }
    }

    /// Writes what is queued; closes a finished `closing` connection; watches for writability
    /// while output is pending.
    fn flush(&mut self, slot: u32, registry: &Registry) {
        let Some(conn) = self.conns.get_mut(&slot) else {
            return;
        };
        match conn.flush() {
            Ok(true) => {
                if conn.closing && conn.body.is_none() {
                    self.close(slot, registry);
                    return;
                }
                if conn.want_write {
                    conn.want_write = false;
                    let _ = registry.reregister(
                        &mut conn.stream,
                        Token::from(Source::Conn(slot)),
                        Interest::READABLE,
                    );
                }
            }
            Ok(false) => {
                if !conn.want_write {
                    conn.want_write = true;
                    let _ = registry.reregister(
                        &mut conn.stream,
                        Token::from(Source::Conn(slot)),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                }
            }
            Err(_) => self.close(slot, registry),
        }
    }

    fn close(&mut self, slot: u32, registry: &Registry) {
        if let Some(mut conn) = self.conns.remove(&slot) {
            let _ = registry.deregister(&mut conn.stream);
        }
    }

    /// Answers the `POST /v2/apps` parked on their apps' first instances.
    pub fn on_app_answers(
        &mut self,
        answers: Vec<(crate::apps::AppId, Response)>,
        ctx: &mut Ctx<'_>,
    ) {
        for (id, resp) in answers {
            for slot in self.parked_apps.remove(&id).unwrap_or_default() {
                self.respond(slot, resp.clone());
                self.flush(slot, ctx.registry);
                self.process(slot, ctx);
                self.flush(slot, ctx.registry);
            }
        }
    }

    /// Answers the requests parked on what the containerizer just told.
    pub fn on_notices(&mut self, notices: Vec<Notice>, ctx: &mut Ctx<'_>) {
        for notice in notices {
            let (id, launch_reply): (&ContainerId, Option<Response>) = match &notice {
                Notice::Launched(id) => (id, Some(Response::new(200))),
                Notice::LaunchFailed(id, msg) => (id, Some(Response::text(400, msg.clone()))),
                Notice::Terminated(id) => (id, None),
            };
            let Some(waiting) = self.parked.remove(id) else {
                continue;
            };
            let mut still = Vec::new();
            for (slot, is_launch) in waiting {
                match (&launch_reply, is_launch) {
                    (Some(resp), true) => self.respond(slot, resp.clone()),
                    (None, false) => {
                        let resp = v1::wait_response(ctx.containerizer, id);
                        self.respond(slot, resp);
                    }
                    // A launch parked until exec hears of a termination only through a
                    // LaunchFailed/Launched first; a wait ignores launch notices.
                    _ => {
                        still.push((slot, is_launch));
                        continue;
                    }
                }
                self.flush(slot, ctx.registry);
                // The answered connection may hold a pipelined request.
                self.process(slot, ctx);
                self.flush(slot, ctx.registry);
            }
            if !still.is_empty() {
                self.parked.entry(id.clone()).or_default().extend(still);
            }
        }
    }

    /// Drops clients that stalled mid-request, and idle ones after a long while, so a slow or
    /// broken client never holds a slot forever.
    pub fn sweep(&mut self, registry: &Registry, timers: &mut Timers) {
        let timeout = self.config.request_timeout;
        let stale: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                let idle = c.last_activity.elapsed();
                !c.deferred && ((!c.inbuf.is_empty() && idle > timeout) || idle > timeout * 10)
            })
            .map(|(s, _)| *s)
            .collect();
        for slot in stale {
            if let Some(conn) = self.conns.get_mut(&slot) {
                if !conn.inbuf.is_empty() {
                    log::debug!("Dropping an API client that stalled mid-request");
                    conn.outbuf
                        .extend_from_slice(&Response::text(408, "Request timeout").to_bytes(false));
                    let _ = conn.flush();
                }
            }
            self.close(slot, registry);
        }
        timers.add(SWEEP_EVERY, TimerKind::ConnectionSweep);
    }

    pub fn last_request(&self) -> &str {
        &self.last_request
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }
}
