//! What this node keeps under its lease: its record (address, resources, attributes, what
//! its containers hold, and of that what the fleet's apps do not) and its apps' status (their
//! tasks as Marathon shows them), written where etcd is behind.

use mio::Registry;

use super::coordinator::{Fleet, Pending};
use super::records::NodeRecord;
use crate::apps::{Apps, Env};
use crate::etcd::Request;
use crate::resources::Resources;
use crate::timer::Timers;

/// The node's record is rewritten at most this often for its allocation.
const RECORD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Fleet {
    /// The node's record and its apps' status, as they are now.
    pub(super) fn publish_local(&mut self, apps: &Apps, env: &mut Env<'_>) {
        let now = std::time::Instant::now();
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
        // The apps' status is rendered again only when they changed.
        if self.status_generation == Some(apps.generation()) {
            return;
        }
        self.status_generation = Some(apps.generation());
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

    pub(super) fn send_published(&mut self, registry: &Registry, timers: &mut Timers) {
        let Some(lease) = self.lease_id() else {
            return;
        };
        // Another live agent registered under this name (a second agent given the same
        // --hostname, or an earlier run of this one whose lease ID was lost): its keys are
        // not overwritten; this agent registers once that lease has ended.
        let node = self.mirror.get(&self.keys.node(&self.cfg.hostname));
        let other = node
            .map(|e| e.lease)
            .filter(|l| *l != 0 && *l != lease && !self.held.contains(l));
        if !self.mirror.synced() || other.is_some() {
            if let (Some(other), false) = (other, self.name_taken) {
                log::error!(
                    "Fleet: another agent is registered as {} (lease {other:x}); this one waits for that lease to end",
                    self.cfg.hostname
                );
            }
            self.name_taken = other.is_some();
            return;
        }
        self.name_taken = false;
        for (key, value) in self.publisher.due() {
            let request = match &value {
                Some(v) => Request::put(key.clone(), v.clone(), Some(lease)),
                None => Request::delete(key.clone()),
            };
            let id = self.submit(Pending::Publish, request, registry, timers);
            self.publisher.sent(id, key, value);
        }
    }
}

fn clamp(r: &mut Resources) {
    r.cpus = r.cpus.max(0.0);
    r.mem_mb = r.mem_mb.max(0.0);
    r.disk_mb = r.disk_mb.max(0.0);
}
