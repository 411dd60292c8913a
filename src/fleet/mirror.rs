//! This agent's copy of the fleet's keys: read once whole, then kept current by one watch
//! of the prefix from the revision of that read (the informer pattern of Kubernetes'
//! clients). Everything the agent decides, it decides from here; a copy that lags (a watch
//! being re-established, etcd without quorum) only delays decisions, never reverses them.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::etcd::{EventKind, Kv, LeaseId, Revision, WatchEvent};

/// One key's value and history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub lease: LeaseId,
}

impl Entry {
    fn from_kv(kv: Kv) -> (String, Entry) {
        let key = kv.key_str();
        let entry = Entry {
            value: kv.value,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            lease: kv.lease,
        };
        (key, entry)
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.value).ok()
    }
}

#[derive(Debug, Default)]
pub struct Mirror {
    entries: BTreeMap<String, Entry>,
    /// Everything through this revision is in.
    revision: Revision,
    /// A whole read has been taken in since the agent started.
    synced: bool,
}

impl Mirror {
    /// Replaces everything with a whole read at `revision`; returns the keys that were
    /// there and are not now.
    pub fn load(&mut self, kvs: Vec<Kv>, revision: Revision) -> Vec<String> {
        let fresh: BTreeMap<String, Entry> = kvs.into_iter().map(Entry::from_kv).collect();
        let gone = self
            .entries
            .keys()
            .filter(|k| !fresh.contains_key(*k))
            .cloned()
            .collect();
        self.entries = fresh;
        self.revision = revision;
        self.synced = true;
        gone
    }

    /// Applies a watch's changes; returns the keys deleted.
    pub fn apply(&mut self, events: Vec<WatchEvent>, revision: Revision) -> Vec<String> {
        let mut deleted = Vec::new();
        for e in events {
            if e.kv.mod_revision <= self.revision && e.kind == EventKind::Put {
                continue;
            }
            match e.kind {
                EventKind::Put => {
                    let (key, entry) = Entry::from_kv(e.kv);
                    self.entries.insert(key, entry);
                }
                EventKind::Delete => {
                    let key = e.kv.key_str();
                    if self.entries.remove(&key).is_some() {
                        deleted.push(key);
                    }
                }
            }
        }
        self.revision = self.revision.max(revision);
        deleted
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn synced(&self) -> bool {
        self.synced
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The keys starting with `prefix`, in order.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a Entry)> {
        self.entries
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, e)| (k.as_str(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, rev: i64) -> Kv {
        Kv {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            lease: 0,
        }
    }

    #[test]
    fn a_watch_after_a_read_changes_only_what_is_newer() {
        let mut m = Mirror::default();
        m.load(vec![kv("/p/apps/a", "1", 5), kv("/p/nodes/x", "n", 3)], 5);
        assert!(m.synced());
        // An event the read already had is skipped; a newer one applies.
        let events = vec![
            WatchEvent {
                kind: EventKind::Put,
                kv: kv("/p/apps/a", "old", 5),
            },
            WatchEvent {
                kind: EventKind::Put,
                kv: kv("/p/apps/b", "2", 6),
            },
            WatchEvent {
                kind: EventKind::Delete,
                kv: kv("/p/nodes/x", "", 7),
            },
        ];
        let deleted = m.apply(events, 7);
        assert_eq!(deleted, vec!["/p/nodes/x".to_string()]);
        assert_eq!(
            m.get("/p/apps/a").map(|e| e.value.clone()),
            Some(b"1".to_vec())
        );
        let apps: Vec<&str> = m.under("/p/apps/").map(|(k, _)| k).collect();
        assert_eq!(apps, vec!["/p/apps/a", "/p/apps/b"]);
        assert_eq!(m.revision(), 7);
        let gone = m.load(vec![kv("/p/apps/b", "2", 6)], 9);
        assert_eq!(gone, vec!["/p/apps/a".to_string()]);
    }
}
