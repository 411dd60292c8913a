//! The keys a node keeps under its lease (its registration, its apps' status): what each
//! should hold, and what etcd was last told under the current lease. A lost lease took them
//! all with it, so after a new grant every one is written again.

use std::collections::{BTreeMap, BTreeSet};

use crate::etcd::EtcdId;

#[derive(Debug, Default)]
pub struct Publisher {
    desired: BTreeMap<String, Vec<u8>>,
    /// What etcd holds of ours under the current lease, as far as we know.
    written: BTreeMap<String, Vec<u8>>,
    /// Writes in flight: the key, the value (None: a delete), the lease epoch.
    in_flight: BTreeMap<EtcdId, (String, Option<Vec<u8>>, u64)>,
    busy: BTreeSet<String>,
    epoch: u64,
}

impl Publisher {
    pub fn set(&mut self, key: String, value: Vec<u8>) {
        self.desired.insert(key, value);
    }

    pub fn remove(&mut self, key: &str) {
        self.desired.remove(key);
    }

    /// The keys published now (wanted, written or not).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.desired.keys().map(String::as_str)
    }

    /// A new lease: nothing of ours is in etcd any more.
    pub fn lease_changed(&mut self) {
        self.written.clear();
        self.epoch += 1;
    }

    /// Writes to send: a key's value (or None: delete it), where etcd is behind.
    pub fn due(&self) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        for (k, v) in &self.desired {
            if !self.busy.contains(k) && self.written.get(k) != Some(v) {
                out.push((k.clone(), Some(v.clone())));
            }
        }
        for k in self.written.keys() {
            if !self.busy.contains(k) && !self.desired.contains_key(k) {
                out.push((k.clone(), None));
            }
        }
        out
    }

    pub fn sent(&mut self, id: EtcdId, key: String, value: Option<Vec<u8>>) {
        self.busy.insert(key.clone());
        self.in_flight.insert(id, (key, value, self.epoch));
    }

    /// A write's outcome; a failed one is due again.
    pub fn done(&mut self, id: EtcdId, ok: bool) {
        let Some((key, value, epoch)) = self.in_flight.remove(&id) else {
            return;
        };
        self.busy.remove(&key);
        if !ok || epoch != self.epoch {
            return;
        }
        match value {
            Some(v) => {
                self.written.insert(key, v);
            }
            None => {
                self.written.remove(&key);
            }
        }
    }

    /// Whether `key` holds its wanted value in etcd, as far as we know.
    pub fn is_written(&self, key: &str) -> bool {
        self.desired
            .get(key)
            .is_some_and(|v| self.written.get(key) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_changed_and_everything_after_a_new_lease() {
        let mut p = Publisher::default();
        p.set("a".into(), b"1".to_vec());
        assert_eq!(p.due(), vec![("a".to_string(), Some(b"1".to_vec()))]);
        p.sent(7, "a".into(), Some(b"1".to_vec()));
        assert!(p.due().is_empty(), "nothing twice while in flight");
        p.done(7, true);
        assert!(p.is_written("a"));
        assert!(p.due().is_empty());
        p.lease_changed();
        assert_eq!(p.due().len(), 1);
        p.sent(8, "a".into(), Some(b"1".to_vec()));
        p.done(8, true);
        p.remove("a");
        assert_eq!(p.due(), vec![("a".to_string(), None)]);
        // An answer from before a lease change does not count.
        p.sent(9, "a".into(), None);
        p.lease_changed();
        p.done(9, true);
        assert!(p.due().is_empty());
    }
}
