//! The attempts of requests and watches: a connection each, to one member; failover to the
//! next member when one cannot serve; a request's answer.

use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::{
    request, response, Attempt, Endpoint, Etcd, EtcdError, EtcdEvent, EtcdId, Kind, Role,
    WATCH_PATH,
};
use crate::event::Source;
use crate::http::{encode_request, ClientConn, Mode, Progress};
use crate::timer::{TimerKind, Timers};

impl Etcd {
    fn take_conn_id(&mut self) -> u32 {
        loop {
            let id = self.next_conn;
            self.next_conn = self.next_conn.wrapping_add(1).max(1);
            if !self.attempts.contains_key(&id) {
                return id;
            }
        }
    }

    /// Starts call `id`'s next attempt, on its current member.
    pub(super) fn start(&mut self, id: EtcdId, registry: &Registry, timers: &mut Timers) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.tries += 1;
        let endpoint = call.endpoint;
        let (path, body, mode) = match &mut call.kind {
            Kind::Request(r) => (r.path(), r.body(), Mode::Whole),
            Kind::Watch(w) => {
                w.restart();
                (
                    WATCH_PATH,
                    request::watch_body(&w.keys, w.next),
                    Mode::Stream,
                )
            }
        };
        match self.open(
            id,
            Role::Main,
            endpoint,
            path,
            &body,
            mode,
            registry,
            timers,
        ) {
            Ok(conn) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.attempt = conn;
                }
            }
            Err(e) => self.failed(id, e, registry, timers),
        }
    }

    /// Connects to member `endpoint` and queues the request (sent as the socket allows).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open(
        &mut self,
        call: EtcdId,
        role: Role,
        endpoint: usize,
        path: &str,
        body: &serde_json::Value,
        mode: Mode,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<u32, EtcdError> {
        let member = self.endpoints[endpoint];
        let connect_error = |e: std::io::Error| EtcdError::Connect {
            endpoint: member,
            error: e.to_string(),
        };
        let mut stream = TcpStream::connect(member.addr()).map_err(connect_error)?;
        let conn = self.take_conn_id();
        registry
            .register(
                &mut stream,
                Token::from(Source::Etcd(conn)),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(connect_error)?;
        let headers = [
            ("Content-Type", "application/json"),
            // Refused at once by a member without a leader (etcd's `WithRequireLeader`).
            ("Grpc-Metadata-Hasleader", "true"),
        ];
        let bytes = encode_request("POST", path, &headers, body.to_string().as_bytes());
        log::debug!("etcd: {path} to {member}");
        let timeout = self.calls.get(&call).map_or(self.timeout, |c| c.timeout);
        let attempt = Attempt {
            call,
            role,
            conn: ClientConn::new(stream, mode, bytes, false),
            endpoint,
            deadline: Instant::now() + timeout,
        };
        self.attempts.insert(conn, attempt);
        timers.add(timeout, TimerKind::Etcd(conn));
        Ok(conn)
    }

    pub(super) fn close(&mut self, conn: u32, registry: &Registry) {
        if let Some(mut a) = self.attempts.remove(&conn) {
            let _ = registry.deregister(&mut a.conn.stream);
        }
    }

    /// Call `id`'s attempt failed: on to the next member if that may help, else the end.
    pub(super) fn failed(
        &mut self,
        id: EtcdId,
        error: EtcdError,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let (attempt, endpoint) = (call.attempt, call.endpoint);
        let n = self.endpoints.len();
        let established = matches!(&call.kind, Kind::Watch(w) if w.established);
        let unavailable = error.is_unavailable();
        let retry = unavailable && call.tries < n && !established;
        log::debug!("etcd: {error}");
        if retry {
            call.endpoint = (endpoint + 1) % n;
        }
        if !unavailable {
            // It answered: it works, if not for this request.
            self.preferred = endpoint;
        } else if self.preferred == endpoint {
            self.preferred = (endpoint + 1) % n;
        }
        self.close(attempt, registry);
        if retry {
            self.start(id, registry, timers);
        } else {
            self.end(id, error, registry);
        }
    }

    /// Call `id` is over with `error`.
    fn end(&mut self, id: EtcdId, error: EtcdError, registry: &Registry) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let event = match &call.kind {
            Kind::Request(_) => EtcdEvent::Reply {
                id,
                result: Err(error),
            },
            Kind::Watch(w) => EtcdEvent::WatchEnded {
                id,
                error,
                resume_from: w.next,
            },
        };
        self.cancel(id, registry);
        self.ready.push(event);
    }

    /// `Source::Etcd(conn)` is ready.
    pub fn on_event(
        &mut self,
        conn: u32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<EtcdEvent> {
        let mut progress = Vec::new();
        if let Some(a) = self.attempts.get_mut(&conn) {
            a.conn.drive(&mut progress);
            let (id, role, endpoint) = (a.call, a.role, self.endpoints[a.endpoint]);
            if a.conn.is_finished() {
                self.close(conn, registry);
            }
            for p in progress {
                if !self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.attempt == conn || c.probe == Some(conn))
                {
                    break;
                }
                match role {
                    Role::Main => self.on_progress(id, endpoint, p, registry, timers),
                    Role::Probe => self.on_probe(id, endpoint, p, registry, timers),
                }
            }
        }
        std::mem::take(&mut self.ready)
    }

    fn on_progress(
        &mut self,
        id: EtcdId,
        endpoint: Endpoint,
        progress: Progress,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let index = call.endpoint;
        let Kind::Request(request) = &call.kind else {
            return self.on_watch_progress(id, endpoint, progress, registry, timers);
        };
        let outcome = match progress {
            Progress::Failed(error) => Err(EtcdError::Connection { endpoint, error }),
            Progress::Done { status, body } if (200..300).contains(&status) => {
                response::parse(request, endpoint, &body)
            }
            Progress::Done { status, body } => Err(response::error_answer(
                status,
                &body,
                endpoint,
                Some(request),
            )),
            Progress::Streaming { .. } | Progress::Data(_) | Progress::End => return,
        };
        match outcome {
            Ok(response) => {
                self.preferred = index;
                self.calls.remove(&id);
                self.ready.push(EtcdEvent::Reply {
                    id,
                    result: Ok(response),
                });
            }
            Err(e) => self.failed(id, e, registry, timers),
        }
    }
}
