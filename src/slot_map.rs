//! Per-container (or per-child) state keyed by a small number. A few hundred entries at most,
//! scanned linearly: far less code than a hash map per value type (each one is its own copy of
//! hashbrown), which matters for a binary meant to stay small, and no slower at these sizes.

/// Values by `u32` key.
#[derive(Debug)]
pub struct SlotMap<V>(Vec<(u32, V)>);

impl<V> Default for SlotMap<V> {
    fn default() -> Self {
        SlotMap(Vec::new())
    }
}

impl<V> SlotMap<V> {
    pub fn get(&self, key: u32) -> Option<&V> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: u32) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: u32) -> bool {
        self.0.iter().any(|(k, _)| *k == key)
    }

    /// Sets `key`'s value, returning the one it replaces.
    pub fn insert(&mut self, key: u32, value: V) -> Option<V> {
        match self.get_mut(key) {
            Some(old) => Some(std::mem::replace(old, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// `key`'s value, inserted by `make` if missing.
    pub fn get_or_insert_with(&mut self, key: u32, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.0.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.0.push((key, make()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    pub fn remove(&mut self, key: u32) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| *k == key)?;
        Some(self.0.swap_remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (*k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::SlotMap;

    #[test]
    fn insert_get_replace_remove() {
        let mut m = SlotMap::default();
        assert_eq!(m.insert(3, "a"), None);
        assert_eq!(m.insert(5, "b"), None);
        assert_eq!(m.insert(3, "c"), Some("a"));
        assert_eq!(m.get(3), Some(&"c"));
        assert!(m.contains_key(5));
        assert_eq!(*m.get_or_insert_with(7, || "d"), "d");
        assert_eq!(*m.get_or_insert_with(7, || "e"), "d");
        assert_eq!(m.remove(5), Some("b"));
        assert_eq!(m.remove(5), None);
        assert_eq!(m.len(), 2);
    }
}
