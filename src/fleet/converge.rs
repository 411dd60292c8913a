//! What a member decides from its mirror, each time it changes and on every tick:
//! - it runs what the scheduler assigned to it (and nothing else of the fleet's apps);
//! - with no scheduler, it stands (a create-if-absent of the leader key under its lease);
//! - as the scheduler, it places: one pass (scheduler.rs), written in one transaction fenced
//!   by the leader key's create revision, then nothing more until the mirror shows that write.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::coordinator::{Fleet, Pending};
use super::keys::Key;
use super::placement;
use super::records::{Assignment, NodeRecord, StoredApp, WaitingRecord};
use super::scheduler::{schedule, AppView, Change, Current, Input, NodeView};
use crate::apps::{AppId, Apps, Env};
use crate::etcd::{Compare, CompareResult, Op, Request, Target};
use crate::resources::Resources;

/// etcd's default bound on a transaction's operations is 128.
const OPS_PER_TXN: usize = 100;

impl Fleet {
    pub(super) fn converge(&mut self, apps: &mut Apps, env: &mut Env<'_>) {
        if !self.mirror.synced() {
            return;
        }
        self.run_assignments(apps, env);
        self.stand(env);
        if self.is_leader() {
            self.schedule_pass(env);
        } else if self.leading.take().is_some() {
            log::warn!("Fleet: {} no longer schedules", self.cfg.hostname);
        }
    }

    /// Launches and kills to match this node's assignments.
    fn run_assignments(&mut self, apps: &mut Apps, env: &mut Env<'_>) {
        let prefix = format!("{}assign/{}/", self.keys.root(), self.cfg.hostname);
        let mut mine: BTreeMap<String, (Assignment, i64)> = BTreeMap::new();
        for (key, entry) in self.mirror.under(&prefix) {
            let Some(Key::Assign { stem, .. }) = self.keys.parse(key) else {
                continue;
            };
            match entry.json::<Assignment>() {
                Some(a) => {
                    mine.insert(stem.to_string(), (a, entry.create_revision));
                }
                None => log::error!("Fleet: ignoring the unreadable assignment {key}"),
            }
        }
        for (assignment, revision) in mine.values() {
            apps.assign(assignment.app.clone(), *revision, env);
        }
        let unassigned: Vec<AppId> = apps
            .all()
            .filter(|a| !a.deleting && !mine.contains_key(&a.id.stem()))
            .map(|a| a.id.clone())
            .collect();
        for id in unassigned {
            apps.unassign(&id, env);
        }
        // Launches only while this node is registered under its own lease: not before (a
        // restarted agent's checkpointed apps may have been placed elsewhere), not while
        // another agent holds its name, not between a lost lease and the next.
        let registered = self.lease_id().is_some_and(|lease| {
            self.mirror
                .get(&self.keys.node(&self.cfg.hostname))
                .is_some_and(|e| e.lease == lease)
        });
        if registered != self.released {
            self.released = registered;
            if registered {
                log::info!(
                    "Fleet: {} assignment(s) for this node; launches may go",
                    mine.len()
                );
            } else {
                log::warn!("Fleet: this node is not registered: no launches until it is");
            }
        }
        apps.hold(!registered, env);
    }

    /// Whether this member schedules now.
    pub fn is_leader(&self) -> bool {
        let Some(lease) = self.lease_id() else {
            return false;
        };
        self.mirror
            .get(&self.keys.leader())
            .is_some_and(|e| e.lease == lease && e.value == self.cfg.hostname.as_bytes())
    }

    /// The agent whose name the leader key holds.
    pub fn leader(&self) -> Option<String> {
        let e = self.mirror.get(&self.keys.leader())?;
        Some(String::from_utf8_lossy(&e.value).into_owned())
    }

    /// With no scheduler, this member stands: the key is created under its lease if absent.
    fn stand(&mut self, env: &mut Env<'_>) {
        let Some(lease) = self.lease_id() else {
            return;
        };
        let registered = self
            .publisher
            .is_written(&self.keys.node(&self.cfg.hostname));
        let campaigning = self.pending.values().any(|p| *p == Pending::Campaign);
        if !registered || campaigning || self.mirror.get(&self.keys.leader()).is_some() {
            return;
        }
        let key = self.keys.leader();
        let request = Request::txn(
            vec![Compare::absent(key.clone())],
            vec![Op::put(key, self.cfg.hostname.clone(), Some(lease))],
            vec![],
        );
        self.submit(Pending::Campaign, request, env.registry, env.timers);
    }

    fn schedule_pass(&mut self, env: &mut Env<'_>) {
        let Some(fence) = self
            .mirror
            .get(&self.keys.leader())
            .map(|e| e.create_revision)
        else {
            return;
        };
        if self.leading.map(|(_, r)| r) != Some(fence) {
            log::info!("Fleet: {} schedules from now on", self.cfg.hostname);
            self.leading = Some((Instant::now(), fence));
        }
        let busy = self.pending.values().any(|p| *p == Pending::Schedule);
        if busy || self.mirror.revision() < self.awaiting {
            return;
        }
        let changes = self.plan();
        if changes.is_empty() {
            return;
        }
        let mut ops = Vec::new();
        for c in changes.into_iter().take(OPS_PER_TXN) {
            log::info!("Fleet: {}", describe(&c));
            ops.push(match c {
                Change::Put {
                    host,
                    stem,
                    assignment,
                } => Op::put(
                    self.keys.assign(&host, &stem),
                    serde_json::to_vec(&assignment).unwrap_or_default(),
                    None,
                ),
                Change::Delete { host, stem } => Op::delete(self.keys.assign(&host, &stem)),
                Change::Waiting {
                    stem,
                    record: Some(w),
                } => Op::put(
                    self.keys.waiting(&stem),
                    serde_json::to_vec(&w).unwrap_or_default(),
                    None,
                ),
                Change::Waiting { stem, record: None } => Op::delete(self.keys.waiting(&stem)),
            });
        }
        let fenced = Compare::new(
            self.keys.leader(),
            Target::Create(fence),
            CompareResult::Equal,
        );
        let request = Request::txn(vec![fenced], ops, vec![]);
        self.submit(Pending::Schedule, request, env.registry, env.timers);
    }

    /// The scheduler's input from the mirror, and its pass.
    fn plan(&self) -> Vec<Change> {
        let root = self.keys.root().to_string();
        let mut nodes = Vec::new();
        for (key, e) in self.mirror.under(&format!("{root}nodes/")) {
            let Some(r) = e.json::<NodeRecord>() else {
                log::debug!("Fleet: unreadable node record {key}");
                continue;
            };
            let parse = |t: &str| Resources::parse_text(t).unwrap_or_default();
            nodes.push(NodeView {
                hostname: r.hostname.clone(),
                attributes: r.attributes.clone(),
                total: parse(&r.resources),
                reserved: parse(&r.reserved),
            });
        }
        let mut apps = Vec::new();
        for (key, e) in self.mirror.under(&format!("{root}apps/")) {
            let (Some(Key::App(stem)), Some(s)) = (self.keys.parse(key), e.json::<StoredApp>())
            else {
                continue;
            };
            let Ok(id) = AppId::parse(&s.app.id) else {
                continue;
            };
            match placement::App::from_definition(id, &s.app) {
                Ok(need) => apps.push(AppView {
                    stem: stem.to_string(),
                    def: s.app,
                    need,
                }),
                Err(e) => log::warn!("Fleet: app {stem} cannot be placed: {e:?}"),
            }
        }
        let mut assigned = Vec::new();
        for (key, e) in self.mirror.under(&format!("{root}assign/")) {
            if let (Some(Key::Assign { host, stem }), Some(a)) =
                (self.keys.parse(key), e.json::<Assignment>())
            {
                assigned.push(Current {
                    host: host.to_string(),
                    stem: stem.to_string(),
                    assignment: a,
                });
            }
        }
        let waiting: BTreeMap<String, WaitingRecord> = self
            .mirror
            .under(&format!("{root}waiting/"))
            .filter_map(|(k, e)| match self.keys.parse(k) {
                Some(Key::Waiting(stem)) => e.json().map(|w| (stem.to_string(), w)),
                _ => None,
            })
            .collect();
        let keep = self.in_grace(&nodes, &assigned);
        let now = crate::apps::time::now();
        schedule(&Input {
            nodes: &nodes,
            apps: &apps,
            assigned: &assigned,
            keep: &keep,
            waiting: &waiting,
            now: &now,
        })
    }

    /// Absent nodes whose assignments stay for now: one this member never saw go, for one
    /// lease TTL after it began to schedule (it may be an agent restarting).
    fn in_grace(&self, nodes: &[NodeView], assigned: &[Current]) -> BTreeSet<String> {
        let live: BTreeSet<&str> = nodes.iter().map(|n| n.hostname.as_str()).collect();
        let young = self
            .leading
            .is_some_and(|(since, _)| since.elapsed() < self.cfg.lease_ttl);
        assigned
            .iter()
            .map(|c| c.host.as_str())
            .filter(|h| !live.contains(h) && !self.node_gone.contains_key(*h) && young)
            .map(str::to_string)
            .collect()
    }
}

fn describe(c: &Change) -> String {
    match c {
        Change::Put {
            host,
            stem,
            assignment,
        } => format!(
            "assign {} instance(s) of {stem} to {host}",
            assignment.instances
        ),
        Change::Delete { host, stem } => format!("unassign {stem} from {host}"),
        Change::Waiting {
            stem,
            record: Some(w),
        } => format!("{} instance(s) of {stem} {}", w.count, w.reason),
        Change::Waiting { stem, record: None } => format!("no instance of {stem} waits"),
    }
}
