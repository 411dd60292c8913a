//! A client of etcd's v3 JSON gateway (HTTP/1.1 + JSON; keys and values base64), driven by
//! the agent's loop: no gRPC stack, no thread, no async runtime.
//!
//! Every request is its own connection (`Connection: close`) and state machine, the shared
//! [`crate::http::ClientConn`] over a non-blocking TCP socket, registered as
//! `Source::Etcd(conn)` with its deadline armed as `TimerKind::Etcd(conn)`. `conn` names one
//! attempt: a request that fails over to another member gets a new one, so a stale event or
//! timer of an earlier attempt finds nothing.
//!
//! Failover: a member that cannot be reached, does not answer within the timeout, or answers
//! that it has no leader is left for the next one, once around the list; the member that
//! last answered is tried first. Every request carries `hasleader` metadata, so a member cut
//! off from the quorum says so at once instead of letting a write wait. A write that timed out
//! may have been applied: callers write with compares that bear a repeat.
//!
//! A watch is a long-lived chunked answer. Over HTTP/1.1 the gateway only answers once the
//! request body has ended, so the stream cannot carry heartbeats of ours; instead each watch's
//! member is probed (`/v3/maintenance/status`) every timeout, and a silent member (stopped, or
//! hung) ends the watch within two timeouts. A member that loses its leader ends its watches
//! itself (`hasleader`). The caller re-watches from the revision it was given.

mod attempts;
mod endpoint;
mod error;
mod request;
mod response;
mod watch;
mod watching;

pub use endpoint::{BadEndpoint, Endpoint};
pub use error::{code, EtcdError};
pub use request::{
    Compare, CompareResult, KeyRange, LeaseId, Op, Range, Request, Revision, Target, Txn,
};
pub use response::{Kv, Response};
pub use watch::{EventKind, WatchEvent};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::Registry;

use crate::http::ClientConn;
use crate::timer::{TimerKind, Timers};
use watch::WatchState;

/// A request's or a watch's ID, as the caller knows it. Never reused while the agent runs.
pub type EtcdId = u32;

/// What the client reports, from [`Etcd::on_event`] and [`Etcd::on_timer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdEvent {
    /// A request's answer, or why it failed (on the last member tried).
    Reply {
        id: EtcdId,
        result: Result<Response, EtcdError>,
    },
    /// A watch's changes, in order; everything through `revision` has been delivered. Empty
    /// `events`: the watch is in place (or etcd reported progress).
    Watch {
        id: EtcdId,
        events: Vec<WatchEvent>,
        revision: Revision,
    },
    /// A watch is over; watch again from `resume_from` (0: from now, as the watch was asked)
    /// and nothing is missed or repeated.
    WatchEnded {
        id: EtcdId,
        error: EtcdError,
        resume_from: Revision,
    },
}

#[derive(Debug)]
enum Kind {
    Request(Request),
    Watch(WatchState),
}

/// A request or watch and where it stands.
#[derive(Debug)]
struct Call {
    kind: Kind,
    /// The member of the current attempt, by index.
    endpoint: usize,
    /// Members tried so far.
    tries: usize,
    /// The current attempt's connection.
    attempt: u32,
    /// A watch's member probe in flight.
    probe: Option<u32>,
    /// When a watch's member is probed next.
    next_probe: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Main,
    Probe,
}

/// One connection: a call's attempt, or a probe of a watch's member.
#[derive(Debug)]
struct Attempt {
    call: EtcdId,
    role: Role,
    conn: ClientConn<TcpStream>,
    endpoint: usize,
    deadline: Instant,
}

/// The client: the members, the one that last answered, what is in flight.
#[derive(Debug)]
pub struct Etcd {
    endpoints: Vec<Endpoint>,
    timeout: Duration,
    preferred: usize,
    calls: BTreeMap<EtcdId, Call>,
    attempts: BTreeMap<u32, Attempt>,
    /// Outcomes not yet handed to the caller.
    ready: Vec<EtcdEvent>,
    next_call: EtcdId,
    next_conn: u32,
}

/// A connection ID never given to a connection (they start at 1).
const NO_CONN: u32 = 0;
const PROBE_PATH: &str = "/v3/maintenance/status";
const WATCH_PATH: &str = "/v3/watch";

impl Etcd {
    /// `timeout` bounds each attempt (and a watch's probe), so a request is answered within
    /// `endpoints.len() × timeout`.
    pub fn new(endpoints: Vec<Endpoint>, timeout: Duration) -> Result<Etcd, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError::BadEndpoint(BadEndpoint {
                endpoint: String::new(),
                reason: "no etcd endpoints given".into(),
            }));
        }
        Ok(Etcd {
            endpoints,
            timeout,
            preferred: 0,
            calls: BTreeMap::new(),
            attempts: BTreeMap::new(),
            ready: Vec::new(),
            next_call: 1,
            next_conn: 1,
        })
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The member tried first: the one that last answered.
    pub fn preferred(&self) -> Endpoint {
        self.endpoints[self.preferred]
    }

    /// The member a request or watch is on now.
    pub fn endpoint_of(&self, id: EtcdId) -> Option<Endpoint> {
        self.calls.get(&id).map(|c| self.endpoints[c.endpoint])
    }

    /// Requests and watches in flight.
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }

    /// Sends `request`; its [`EtcdEvent::Reply`] comes under the returned ID.
    pub fn submit(&mut self, request: Request, registry: &Registry, timers: &mut Timers) -> EtcdId {
        self.add(Kind::Request(request), registry, timers)
    }

    /// Watches `keys` from `start_revision` (0: from now): [`EtcdEvent::Watch`] as changes
    /// come, until [`EtcdEvent::WatchEnded`] (or [`Etcd::cancel`]).
    pub fn watch(
        &mut self,
        keys: KeyRange,
        start_revision: Revision,
        registry: &Registry,
        timers: &mut Timers,
    ) -> EtcdId {
        self.add(
            Kind::Watch(WatchState::new(keys, start_revision)),
            registry,
            timers,
        )
    }

    /// Forgets a request or ends a watch; nothing more is reported for it.
    pub fn cancel(&mut self, id: EtcdId, registry: &Registry) {
        if let Some(call) = self.calls.remove(&id) {
            self.close(call.attempt, registry);
            if let Some(p) = call.probe {
                self.close(p, registry);
            }
        }
    }

    fn add(&mut self, kind: Kind, registry: &Registry, timers: &mut Timers) -> EtcdId {
        let id = loop {
            let id = self.next_call;
            self.next_call = self.next_call.wrapping_add(1).max(1);
            if !self.calls.contains_key(&id) {
                break id;
            }
        };
        let call = Call {
            kind,
            endpoint: self.preferred,
            tries: 0,
            attempt: 0,
            probe: None,
            next_probe: None,
        };
        self.calls.insert(id, call);
        self.start(id, registry, timers);
        if !self.ready.is_empty() {
            // Failed before any connection was open (no member can even be connected to):
            // the outcome is handed out from the timer, as every outcome is from the loop.
            timers.add(Duration::ZERO, TimerKind::Etcd(NO_CONN));
        }
        id
    }
}

#[cfg(test)]
mod tests;
