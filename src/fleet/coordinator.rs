//! The fleet's member in this agent: its etcd client, its lease and registration, its mirror
//! of the fleet's keys, what it publishes, and the API's writes on their way. Driven from the
//! loop: etcd's readiness and timers, and a tick. What it decides from the mirror (running its
//! assignments, the election, the scheduler's pass) is in converge.rs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::Registry;

use super::keys::{Key, Keys};
use super::mirror::Mirror;
use super::outbox::Outbox;
use super::publish::Publisher;
use crate::apps::{Apps, Env};
use crate::etcd::{
    Endpoint, Etcd, EtcdError, EtcdEvent, EtcdId, KeyRange, LeaseId, Request, Response, Revision,
};
use crate::fleet::attributes::Attributes;
use crate::resources::Resources;
use crate::timer::{TimerKind, Timers};

/// How often the lease, the published keys and the queued writes are looked at.
const TICK: Duration = Duration::from_millis(200);
/// Leases of this agent's remembered in `held`.
const HELD_KEPT: usize = 8;
/// Ticks between looks at the mirror without a change of it.
const CONVERGE_EVERY_TICKS: u32 = 5;
/// After a failed read, grant or watch: the next try.
const RETRY: Duration = Duration::from_millis(500);

/// What a fleet member is told at start.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub endpoints: Vec<Endpoint>,
    pub timeout: Duration,
    pub prefix: String,
    pub lease_ttl: Duration,
    pub hostname: String,
    pub address: Option<String>,
    pub attributes: Attributes,
    pub total: Resources,
    /// Where the API's queued writes are checkpointed.
    pub outbox: PathBuf,
    /// Where the lease's ID is kept, so a restarted agent takes its lease up again while it
    /// lives (its keys, leadership included, stay as they were).
    pub lease_file: PathBuf,
    pub version: &'static str,
}

/// A request in flight, by what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    Read,
    /// A keep-alive of the lease a previous run of the agent held.
    Resume,
    Grant,
    /// A keep-alive of the lease held when it was sent.
    KeepAlive(LeaseId),
    Campaign,
    Schedule,
    Publish,
    Outbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lease {
    /// None held; a grant goes out at `retry`.
    None {
        retry: Instant,
    },
    Granting,
    Held {
        id: LeaseId,
        next_keepalive: Instant,
    },
}

/// The fleet member.
#[derive(Debug)]
pub struct Fleet {
    pub(super) cfg: FleetConfig,
    pub(super) keys: Keys,
    pub(super) etcd: Etcd,
    pub(super) mirror: Mirror,
    pub(super) pending: BTreeMap<EtcdId, Pending>,
    pub(super) watch: Option<EtcdId>,
    /// When the whole read or the watch goes out again (after a failure).
    pub(super) read_at: Option<Instant>,
    pub(super) watch_at: Option<(Instant, Revision)>,
    pub(super) lease: Lease,
    pub(super) publisher: Publisher,
    pub(super) outbox: Outbox,
    pub(super) registered_at: String,
    pub(super) record_at: Instant,
    /// Nodes whose key this member saw deleted, and when.
    pub(super) node_gone: BTreeMap<String, Instant>,
    /// Since when this member schedules, and the leader key's create revision (the fence).
    pub(super) leading: Option<(Instant, Revision)>,
    /// A scheduler pass waits for the mirror to reach this revision (its last write's).
    pub(super) awaiting: Revision,
    /// Launches go: this node is registered under its lease (see converge.rs).
    pub(super) released: bool,
    /// Requests sent, for the benchmark.
    pub(super) requests: u64,
    pub(super) converge_deferred: bool,
    pub(super) nonces: crate::apps::Nonces,
    ticks: u32,
    /// Another live agent holds this node's name (see registration.rs).
    pub(super) name_taken: bool,
    /// The leases this agent held (the last few), so that its own keys under one that
    /// expired are not taken for another agent's.
    pub(super) held: Vec<LeaseId>,
    /// The app controller's generation its status was last rendered at.
    pub(super) status_generation: Option<u64>,
}

impl Fleet {
    /// Starts the member: the whole read, the lease grant, the tick. Nothing waits: every
    /// answer comes through the loop.
    pub fn start(
        cfg: FleetConfig,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Fleet, EtcdError> {
        let etcd = Etcd::new(cfg.endpoints.clone(), cfg.timeout)?;
        let outbox = Outbox::open(cfg.outbox.clone());
        let keys = Keys::new(&cfg.prefix);
        let mut fleet = Fleet {
            cfg,
            keys,
            etcd,
            mirror: Mirror::default(),
            pending: BTreeMap::new(),
            watch: None,
            read_at: None,
            watch_at: None,
            lease: Lease::None {
                retry: Instant::now(),
            },
            publisher: Publisher::default(),
            outbox,
            registered_at: crate::apps::time::now(),
            record_at: Instant::now(),
            node_gone: BTreeMap::new(),
            leading: None,
            awaiting: 0,
            released: false,
            requests: 0,
            converge_deferred: false,
            nonces: crate::apps::Nonces::default(),
            ticks: 0,
            name_taken: false,
            held: Vec::new(),
            status_generation: None,
        };
        fleet.read(registry, timers);
        match saved_lease(&fleet.cfg.lease_file) {
            Some(id) => {
                fleet.lease = Lease::Granting;
                fleet.held.push(id);
                let within = fleet.keepalive_timeout();
                fleet.requests += 1;
                let call =
                    fleet
                        .etcd
                        .submit_within(Request::LeaseKeepAlive(id), within, registry, timers);
                fleet.pending.insert(call, Pending::Resume);
            }
            None => fleet.grant(registry, timers),
        }
        timers.add(TICK, TimerKind::FleetTick);
        log::info!(
            "Fleet: node {} joining through etcd {} (keys under {}, lease TTL {:?})",
            fleet.cfg.hostname,
            fleet
                .cfg
                .endpoints
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            fleet.keys.root(),
            fleet.cfg.lease_ttl
        );
        Ok(fleet)
    }

    pub fn hostname(&self) -> &str {
        &self.cfg.hostname
    }

    /// etcd requests sent since start.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    pub(super) fn submit(
        &mut self,
        what: Pending,
        request: Request,
        registry: &Registry,
        timers: &mut Timers,
    ) -> EtcdId {
        self.requests += 1;
        let id = self.etcd.submit(request, registry, timers);
        self.pending.insert(id, what);
        id
    }

    fn read(&mut self, registry: &Registry, timers: &mut Timers) {
        self.read_at = None;
        let root = self.keys.root().to_string();
        self.submit(Pending::Read, Request::range_prefix(root), registry, timers);
    }

    fn grant(&mut self, registry: &Registry, timers: &mut Timers) {
        let ttl = i64::try_from(self.cfg.lease_ttl.as_secs().max(1)).unwrap_or(10);
        self.lease = Lease::Granting;
        self.submit(
            Pending::Grant,
            Request::LeaseGrant { ttl },
            registry,
            timers,
        );
    }

    fn start_watch(&mut self, from: Revision, registry: &Registry, timers: &mut Timers) {
        self.watch_at = None;
        self.requests += 1;
        let keys = KeyRange::prefix(self.keys.root().to_string());
        self.watch = Some(self.etcd.watch(keys, from, registry, timers));
    }

    /// Each keep-alive attempt is bounded well within the TTL: renewed every third of it, a
    /// keep-alive must still reach a live member past a hung one (three attempts of a sixth
    /// end within half the TTL).
    fn keepalive_timeout(&self) -> Duration {
        self.cfg
            .timeout
            .min(self.cfg.lease_ttl / 6)
            .max(Duration::from_millis(100))
    }

    pub(super) fn lease_id(&self) -> Option<LeaseId> {
        match self.lease {
            Lease::Held { id, .. } => Some(id),
            _ => None,
        }
    }

    /// `Source::Etcd(conn)` is ready.
    pub fn on_event(&mut self, conn: u32, env: &mut Env<'_>) {
        let events = self.etcd.on_event(conn, env.registry, env.timers);
        self.handle(events, env);
    }

    /// Whether this timer is the fleet's.
    pub fn owns_timer(kind: &TimerKind) -> bool {
        matches!(
            kind,
            TimerKind::Etcd(_) | TimerKind::FleetTick | TimerKind::FleetConverge
        )
    }

    pub fn on_timer(&mut self, kind: &TimerKind, apps: &mut Apps, env: &mut Env<'_>) {
        match kind {
            TimerKind::Etcd(conn) => {
                let events = self.etcd.on_timer(*conn, env.registry, env.timers);
                self.handle(events, env);
            }
            TimerKind::FleetTick => {
                self.tick(apps, env);
                env.timers.add(TICK, TimerKind::FleetTick);
            }
            TimerKind::FleetConverge => {
                self.converge_deferred = false;
                self.converge(apps, env);
            }
            _ => {}
        }
    }

    /// Acting on the mirror waits for the next iteration, so a burst of answers and watch
    /// events is acted on once.
    pub(super) fn converge_soon(&mut self, timers: &mut Timers) {
        if !self.converge_deferred {
            self.converge_deferred = true;
            timers.defer(TimerKind::FleetConverge);
        }
    }

    fn handle(&mut self, events: Vec<EtcdEvent>, env: &mut Env<'_>) {
        for event in events {
            match event {
                EtcdEvent::Reply { id, result } => {
                    if let Some(what) = self.pending.remove(&id) {
                        self.on_reply(id, what, result, env.registry, env.timers);
                    }
                }
                EtcdEvent::Watch {
                    id,
                    events,
                    revision,
                } if Some(id) == self.watch => {
                    for key in self.mirror.apply(events, revision) {
                        if let Some(Key::Node(host)) = self.keys.parse(&key) {
                            log::warn!("Fleet: node {host} is gone (its lease ended)");
                            self.node_gone.insert(host.to_string(), Instant::now());
                        }
                    }
                    self.converge_soon(env.timers);
                }
                EtcdEvent::WatchEnded {
                    id,
                    error,
                    resume_from,
                } if Some(id) == self.watch => {
                    self.watch = None;
                    if matches!(error, EtcdError::Compacted { .. }) {
                        log::warn!(
                            "Fleet: the watch fell behind etcd's compaction: reading afresh"
                        );
                        self.read_at = Some(Instant::now());
                    } else {
                        log::warn!("Fleet: the watch of etcd ended ({error}); watching again");
                        let from = resume_from.max(self.mirror.revision() + 1);
                        self.watch_at = Some((Instant::now() + RETRY, from));
                    }
                }
                _ => {}
            }
        }
    }

    fn on_reply(
        &mut self,
        id: EtcdId,
        what: Pending,
        result: Result<Response, EtcdError>,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        match (what, result) {
            (Pending::Read, Ok(Response::Range { kvs, revision, .. })) => {
                let first = !self.mirror.synced();
                self.mirror.load(kvs, revision);
                if first {
                    log::info!("Fleet: read the fleet's keys at revision {revision}");
                }
                if let Some(w) = self.watch.take() {
                    self.etcd.cancel(w, registry);
                }
                self.start_watch(revision + 1, registry, timers);
                self.converge_soon(timers);
            }
            (Pending::Read, other) => {
                log::warn!(
                    "Fleet: failed to read the fleet's keys: {}",
                    describe(&other)
                );
                self.read_at = Some(Instant::now() + RETRY);
            }
            (Pending::Resume, Ok(Response::LeaseKeepAlive { id: lease, ttl })) if ttl > 0 => {
                log::info!("Fleet: took up lease {lease:x} again ({ttl}s left)");
                self.lease = Lease::Held {
                    id: lease,
                    next_keepalive: Instant::now() + self.cfg.lease_ttl / 3,
                };
                self.publisher.lease_changed();
                self.converge_soon(timers);
            }
            (Pending::Resume, _) => self.grant(registry, timers),
            (Pending::Grant, Ok(Response::LeaseGrant { id: lease, ttl, .. })) => {
                log::info!("Fleet: registered under lease {lease:x} (TTL {ttl}s)");
                self.held.push(lease);
                if self.held.len() > HELD_KEPT {
                    self.held.remove(0);
                }
                if let Err(e) = std::fs::write(&self.cfg.lease_file, format!("{lease}\n")) {
                    log::warn!(
                        "Fleet: failed to keep the lease ID in {}: {e}",
                        self.cfg.lease_file.display()
                    );
                }
                self.lease = Lease::Held {
                    id: lease,
                    next_keepalive: Instant::now() + self.cfg.lease_ttl / 3,
                };
                self.publisher.lease_changed();
                self.registered_at = crate::apps::time::now();
                self.converge_soon(timers);
            }
            (Pending::Grant, other) => {
                log::warn!("Fleet: failed to get a lease: {}", describe(&other));
                self.lease = Lease::None {
                    retry: Instant::now() + RETRY,
                };
            }
            // An answer about a lease no longer held (replaced meanwhile) says nothing.
            (Pending::KeepAlive(of), _) if self.lease_id() != Some(of) => {}
            (Pending::KeepAlive(_), Ok(Response::LeaseKeepAlive { ttl, .. })) if ttl > 0 => {}
            (Pending::KeepAlive(_), Ok(_) | Err(EtcdError::LeaseNotFound { .. })) => {
                log::warn!("Fleet: the lease expired: registering again");
                self.lease_lost(registry, timers);
            }
            (Pending::KeepAlive(_), Err(e)) => {
                log::warn!("Fleet: failed to renew the lease: {e}");
                if let Lease::Held { id, .. } = self.lease {
                    self.lease = Lease::Held {
                        id,
                        next_keepalive: Instant::now() + RETRY,
                    };
                }
            }
            (Pending::Campaign, Ok(Response::Txn { succeeded, .. })) => {
                if succeeded {
                    log::info!("Fleet: {} is the scheduler now", self.cfg.hostname);
                }
            }
            (Pending::Campaign, Err(e)) => log::debug!("Fleet: campaign failed: {e}"),
            (
                Pending::Schedule,
                Ok(Response::Txn {
                    succeeded,
                    revision,
                    ..
                }),
            ) => {
                if succeeded {
                    self.awaiting = revision;
                } else {
                    log::warn!("Fleet: the scheduler's write was fenced off: another agent leads");
                    self.leading = None;
                }
                self.converge_soon(timers);
            }
            (Pending::Schedule, Err(e)) => {
                log::warn!("Fleet: failed to write placements: {e}; retrying");
            }
            (Pending::Publish, result) => {
                if let Err(e) = &result {
                    log::debug!("Fleet: failed to publish: {e}");
                }
                self.publisher.done(id, result.is_ok());
            }
            (Pending::Outbox, result) => self.outbox_answered(result),
            (_, Ok(_)) => {}
        }
    }

    fn lease_lost(&mut self, registry: &Registry, timers: &mut Timers) {
        self.lease = Lease::None {
            retry: Instant::now(),
        };
        self.publisher.lease_changed();
        self.leading = None;
        self.grant(registry, timers);
    }

    fn tick(&mut self, apps: &mut Apps, env: &mut Env<'_>) {
        let now = Instant::now();
        let (registry, timers) = (env.registry, &mut *env.timers);
        if self.read_at.is_some_and(|t| t <= now) {
            self.read(registry, timers);
        }
        if let Some((at, from)) = self.watch_at {
            if at <= now {
                self.start_watch(from, registry, timers);
            }
        }
        match self.lease {
            Lease::None { retry } if retry <= now => self.grant(registry, timers),
            Lease::Held { id, next_keepalive } if next_keepalive <= now => {
                self.lease = Lease::Held {
                    id,
                    next_keepalive: now + self.cfg.lease_ttl / 3,
                };
                let within = self.keepalive_timeout();
                self.requests += 1;
                let call =
                    self.etcd
                        .submit_within(Request::LeaseKeepAlive(id), within, registry, timers);
                self.pending.insert(call, Pending::KeepAlive(id));
            }
            _ => {}
        }
        self.publish_local(apps, env);
        self.send_published(env.registry, env.timers);
        self.send_outbox(env.registry, env.timers);
        // Every change of the mirror is acted on at once (converge_soon); this catches what
        // time alone changes (a node's grace ending), once a second.
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % CONVERGE_EVERY_TICKS == 0 {
            self.converge(apps, env);
        }
    }
}

/// The lease ID a previous run kept.
fn saved_lease(path: &std::path::Path) -> Option<LeaseId> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim().parse().ok()
}

fn describe(r: &Result<Response, EtcdError>) -> String {
    match r {
        Ok(other) => format!("unexpected answer {other:?}"),
        Err(e) => e.to_string(),
    }
}
