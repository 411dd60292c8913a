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
use super::outbox::{Outbox, WriteKind};
use super::publish::Publisher;
use super::records::NodeRecord;
use crate::apps::{Apps, Env};
use crate::etcd::{
    Compare, CompareResult, Endpoint, Etcd, EtcdError, EtcdEvent, EtcdId, KeyRange, LeaseId, Op,
    Request, Response, Revision, Target,
};
use crate::fleet::attributes::Attributes;
use crate::resources::Resources;
use crate::timer::{TimerKind, Timers};

/// How often the lease, the published keys and the queued writes are looked at.
const TICK: Duration = Duration::from_millis(200);
/// After a failed read, grant or watch: the next try.
const RETRY: Duration = Duration::from_millis(500);
/// The node's record is rewritten at most this often for its allocation.
const RECORD_EVERY: Duration = Duration::from_secs(1);

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
    pub version: &'static str,
}

/// A request in flight, by what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    Read,
    Grant,
    KeepAlive,
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
    /// Launches are held until the first whole read is in.
    pub(super) released: bool,
    /// Requests sent, for the benchmark.
    pub(super) requests: u64,
    pub(super) converge_deferred: bool,
    pub(super) nonces: crate::apps::Nonces,
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
        };
        fleet.read(registry, timers);
        fleet.grant(registry, timers);
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

    pub(super) fn lease_id(&self) -> Option<LeaseId> {
        match self.lease {
            Lease::Held { id, .. } => Some(id),
            _ => None,
        }
    }

    /// `Source::Etcd(conn)` is ready.
    pub fn on_event(&mut self, conn: u32, apps: &mut Apps, env: &mut Env<'_>) {
        let events = self.etcd.on_event(conn, env.registry, env.timers);
        self.handle(events, apps, env);
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
                self.handle(events, apps, env);
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

    fn handle(&mut self, events: Vec<EtcdEvent>, apps: &mut Apps, env: &mut Env<'_>) {
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
        let _ = apps;
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
            (Pending::Grant, Ok(Response::LeaseGrant { id: lease, ttl, .. })) => {
                log::info!("Fleet: registered under lease {lease:x} (TTL {ttl}s)");
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
            (Pending::KeepAlive, Ok(Response::LeaseKeepAlive { ttl, .. })) if ttl > 0 => {}
            (Pending::KeepAlive, Ok(_) | Err(EtcdError::LeaseNotFound { .. })) => {
                log::warn!("Fleet: the lease expired: registering again");
                self.lease_lost(registry, timers);
            }
            (Pending::KeepAlive, Err(e)) => {
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
                self.submit(
                    Pending::KeepAlive,
                    Request::LeaseKeepAlive(id),
                    registry,
                    timers,
                );
            }
            _ => {}
        }
        self.publish_local(apps, env);
        self.send_published(env.registry, env.timers);
        self.send_outbox(env.registry, env.timers);
        self.converge(apps, env);
    }

    /// The node's record and its apps' status, as they are now.
    fn publish_local(&mut self, apps: &Apps, env: &mut Env<'_>) {
        let now = Instant::now();
        let node_key = self.keys.node(&self.cfg.hostname);
        if now >= self.record_at || !self.publisher.keys().any(|k| k == node_key) {
            self.record_at = now + RECORD_EVERY;
            let allocated = env.containerizer.allocated();
            let mut reserved = allocated.clone();
            for app in apps.all() {
                let need = Resources {
                    cpus: app.def.cpus,
                    mem_mb: app.def.mem,
                    disk_mb: app.def.disk,
                    ports: Vec::new(),
                };
                for _ in app.instances.iter() {
                    reserved.subtract(&need);
                }
            }
            reserved.ports.clear();
            clamp(&mut reserved);
            let record = NodeRecord {
                hostname: self.cfg.hostname.clone(),
                address: self.cfg.address.clone(),
                resources: self.cfg.total.to_text(),
                attributes: self.cfg.attributes.clone(),
                allocated: allocated.to_text(),
                reserved: reserved.to_text(),
                registered_at: self.registered_at.clone(),
                version: self.cfg.version.to_string(),
            };
            if let Ok(bytes) = serde_json::to_vec(&record) {
                self.publisher.set(node_key, bytes);
            }
        }
        let status_prefix = format!("{}status/{}/", self.keys.root(), self.cfg.hostname);
        let mut local: Vec<String> = Vec::new();
        for app in apps.all() {
            let key = self.keys.status(&self.cfg.hostname, &app.id.stem());
            if let Some(v) = apps.status_of(&app.id) {
                if let Ok(bytes) = serde_json::to_vec(&v) {
                    self.publisher.set(key.clone(), bytes);
                }
            }
            local.push(key);
        }
        let stale: Vec<String> = self
            .publisher
            .keys()
            .filter(|k| k.starts_with(&status_prefix) && !local.iter().any(|l| l == k))
            .map(str::to_string)
            .collect();
        for k in stale {
            self.publisher.remove(&k);
        }
    }

    fn send_published(&mut self, registry: &Registry, timers: &mut Timers) {
        let Some(lease) = self.lease_id() else {
            return;
        };
        for (key, value) in self.publisher.due() {
            let request = match &value {
                Some(v) => Request::put(key.clone(), v.clone(), Some(lease)),
                None => Request::delete(key.clone()),
            };
            let id = self.submit(Pending::Publish, request, registry, timers);
            self.publisher.sent(id, key, value);
        }
    }

    pub(super) fn send_outbox(&mut self, registry: &Registry, timers: &mut Timers) {
        if self.pending.values().any(|p| *p == Pending::Outbox) {
            return;
        }
        let Some(w) = self.outbox.head() else {
            return;
        };
        let key = self.keys.app(&w.stem);
        let value = w.app.as_ref().and_then(|a| serde_json::to_vec(a).ok());
        let request = match (w.kind, value) {
            (WriteKind::Create, Some(v)) => Request::txn(
                vec![Compare::absent(key.clone())],
                vec![Op::put(key, v, None)],
                vec![],
            ),
            (WriteKind::Update, Some(v)) => Request::txn(
                vec![Compare::new(
                    key.clone(),
                    Target::Version(0),
                    CompareResult::Greater,
                )],
                vec![Op::put(key, v, None)],
                vec![],
            ),
            (WriteKind::Delete, _) | (_, None) => Request::delete(key),
        };
        self.submit(Pending::Outbox, request, registry, timers);
    }

    fn outbox_answered(&mut self, result: Result<Response, EtcdError>) {
        let Some(w) = self.outbox.head() else {
            return;
        };
        let (kind, stem) = (w.kind, w.stem.clone());
        match result {
            Ok(Response::Txn {
                succeeded: false, ..
            }) => {
                match kind {
                    WriteKind::Create => log::warn!(
                        "Fleet: app {stem} was in etcd already (created elsewhere, or an earlier try of ours that timed out): kept as it is"
                    ),
                    _ => log::warn!("Fleet: app {stem} is gone from etcd: its update is dropped"),
                }
                self.outbox.pop();
            }
            Ok(_) => {
                log::info!("Fleet: app {stem} written to etcd ({kind:?})");
                self.outbox.pop();
            }
            Err(e) if e.is_unavailable() => {
                log::warn!("Fleet: etcd did not take app {stem} ({e}); retrying");
            }
            Err(e) => {
                log::error!("Fleet: etcd refused app {stem}: {e}; dropped");
                self.outbox.pop();
            }
        }
    }
}

fn clamp(r: &mut Resources) {
    r.cpus = r.cpus.max(0.0);
    r.mem_mb = r.mem_mb.max(0.0);
    r.disk_mb = r.disk_mb.max(0.0);
}

fn describe(r: &Result<Response, EtcdError>) -> String {
    match r {
        Ok(other) => format!("unexpected answer {other:?}"),
        Err(e) => e.to_string(),
    }
}
