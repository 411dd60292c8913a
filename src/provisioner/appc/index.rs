//! What the AppC store knows of its images, in memory: each stored image's manifest and when
//! it was stored. Built from the store once (at start), then kept up to date as images are
//! added and pruned, so that finding an image by name and labels reads no manifest.

use std::collections::HashMap;
use std::time::SystemTime;

use super::spec::{AciManifest, AppcImage, ImageId};

/// One stored image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    pub manifest: AciManifest,
    /// Its directory's mtime: storing an image again makes it the most recent.
    pub stored: SystemTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppcIndex {
    images: HashMap<ImageId, Indexed>,
}

impl AppcIndex {
    pub fn get(&self, id: &ImageId) -> Option<&Indexed> {
        self.images.get(id)
    }

    pub fn insert(&mut self, id: ImageId, entry: Indexed) {
        self.images.insert(id, entry);
    }

    pub fn remove(&mut self, id: &ImageId) {
        self.images.remove(id);
    }

    /// Keeps only the images `keep` says are still stored.
    pub fn retain(&mut self, mut keep: impl FnMut(&ImageId) -> bool) {
        self.images.retain(|id, _| keep(id));
    }

    /// How many images it holds.
    pub fn count(&self) -> usize {
        self.images.len()
    }

    /// The most recently stored image whose manifest matches `image`'s name and labels (ties,
    /// within the mtime's resolution, go to the greater ID, so the answer is stable).
    pub fn newest_match(&self, image: &AppcImage) -> Option<&ImageId> {
        self.images
            .iter()
            .filter(|(_, e)| image.matches(&e.manifest))
            .max_by(|(a_id, a), (b_id, b)| a.stored.cmp(&b.stored).then(a_id.cmp(b_id)))
            .map(|(id, _)| id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn manifest(name: &str) -> AciManifest {
        let json = serde_json::json!({"acKind": "ImageManifest", "acVersion": "0.8.11",
            "name": name, "labels": [{"name": "version", "value": "1"}]});
        AciManifest::parse(&serde_json::to_vec(&json).unwrap()).unwrap()
    }

    #[test]
    fn the_newest_match_wins_and_removed_images_are_not_found() {
        let mut index = AppcIndex::default();
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let (old, new, other) = (
            ImageId::of_bytes(b"old"),
            ImageId::of_bytes(b"new"),
            ImageId::of_bytes(b"other"),
        );
        let entry = |name, s| Indexed {
            manifest: manifest(name),
            stored: at(s),
        };
        index.insert(old.clone(), entry("a", 1));
        index.insert(new.clone(), entry("a", 2));
        index.insert(other.clone(), entry("b", 3));
        let labels = vec![super::super::spec::Label {
            name: "version".into(),
            value: "1".into(),
        }];
        let a = AppcImage::new("a", labels, None).unwrap();
        assert_eq!(index.newest_match(&a), Some(&new));
        index.remove(&new);
        assert_eq!(index.newest_match(&a), Some(&old));
        index.retain(|id| *id == other);
        assert_eq!(index.newest_match(&a), None);
        assert_eq!(index.count(), 1);
    }
}
