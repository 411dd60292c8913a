//! The AppC image store under `--appc_store_dir`, Mesos's layout (`appc/paths.cpp`):
//!
//! ```text
//! images/<image id>/{manifest, rootfs/}   one unpacked ACI, renamed in whole from staging
//! staging/<tmp>/                          fetches in progress
//! ```
//!
//! An image is found by its ID, else by name and labels among the stored manifests, through an
//! index of them in memory ([`AppcIndex`], Mesos's cache): built from the store when it is
//! opened, updated by [`AppcStore::commit`] and [`AppcStore::prune`], and by
//! [`AppcStore::refresh`] once another process (the fetcher) stored images. A lookup reads no
//! manifest.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::index::{AppcIndex, Indexed};
use super::spec::{AciManifest, AppcImage, ImageId};
use crate::provisioner::manifest::ImageConfig;
use crate::provisioner::staging;
use crate::sys::bounded::read_file;

/// The prefix of what a provisioned container records about its AppC layers (see
/// [`AppcStore::in_use_record`]), beside Docker's image references.
const IN_USE_PREFIX: &str = "appc:";

/// The largest manifest read (the spec's manifests are a few KiB).
const MAX_MANIFEST: u64 = 1 << 20;

#[derive(Debug)]
pub enum AppcStoreError {
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A stored manifest, or a dependency it names, that cannot be used.
    Manifest { path: PathBuf, detail: String },
    /// A stored manifest that is not a regular file, leads out of the store, or is too big.
    Unreadable(crate::sys::bounded::ReadError),
    /// Image dependencies that lead back to an image on the way (names, outermost first).
    Cycle { chain: Vec<String> },
}

impl fmt::Display for AppcStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppcStoreError::Io { op, path, source } => {
                write!(f, "Failed to {op} '{}': {source}", path.display())
            }
            AppcStoreError::Manifest { path, detail } => {
                write!(f, "Unusable AppC manifest '{}': {detail}", path.display())
            }
            AppcStoreError::Unreadable(e) => write!(f, "Unreadable AppC manifest {e}"),
            AppcStoreError::Cycle { chain } => {
                write!(
                    f,
                    "AppC image dependencies form a cycle: {}",
                    chain.join(" -> ")
                )
            }
        }
    }
}

impl std::error::Error for AppcStoreError {}

impl From<staging::StagingError> for AppcStoreError {
    fn from(e: staging::StagingError) -> Self {
        AppcStoreError::Io {
            op: e.op,
            path: e.path,
            source: e.source,
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> AppcStoreError + 'a {
    move |source| AppcStoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Whether an image and all its dependencies can be provisioned now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppcResolution {
    /// Layers bottom first (dependencies depth first, the image last, each once), and what
    /// `appc/runtime` takes from the image's own manifest.
    Ready {
        layers: Vec<ImageId>,
        config: ImageConfig,
    },
    /// Some image of the tree is not stored (or `cached` is false): fetch.
    Fetch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppcStore {
    root: PathBuf,
    index: AppcIndex,
}

impl AppcStore {
    /// Opens the store, indexing what it holds (each manifest is read once, here).
    pub fn new(root: impl Into<PathBuf>) -> AppcStore {
        let mut store = AppcStore {
            root: root.into(),
            index: AppcIndex::default(),
        };
        if let Err(e) = store.refresh() {
            log::warn!("AppC store {}: {e}", store.root.display());
        }
        store
    }

    /// Brings the index up to date with what is stored: images gone are dropped, new ones
    /// read (only their manifests), and the others' storing times taken again (a `stat`).
    pub fn refresh(&mut self) -> Result<(), AppcStoreError> {
        let ids = self.ids()?;
        self.index.retain(|id| ids.contains(id));
        for id in ids {
            let stored = self.stored_at(&id);
            match self.index.get(&id) {
                Some(_) if !self.has(&id) => self.index.remove(&id),
                Some(entry) if entry.stored == stored => {}
                Some(entry) => {
                    let manifest = entry.manifest.clone();
                    self.index.insert(id, Indexed { manifest, stored });
                }
                None => match self.read_manifest(&id) {
                    Ok(manifest) if self.has(&id) => {
                        self.index.insert(id, Indexed { manifest, stored })
                    }
                    // Half stored or half removed (a crash): as if it were not there.
                    Ok(_) => {}
                    // Skipped, as a lookup skipped it before: it is fetched again.
                    Err(e) => log::warn!("AppC store: image {id} left out: {e}"),
                },
            }
        }
        Ok(())
    }

    /// How many images the index holds.
    pub fn indexed(&self) -> usize {
        self.index.count()
    }

    fn stored_at(&self, id: &ImageId) -> SystemTime {
        fs::symlink_metadata(self.image_dir(id))
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// The manifest of a stored image, as indexed.
    pub fn manifest(&self, id: &ImageId) -> Option<&AciManifest> {
        self.index.get(id).map(|e| &e.manifest)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }

    pub fn image_dir(&self, id: &ImageId) -> PathBuf {
        self.images_dir().join(id.to_string())
    }

    pub fn rootfs(&self, id: &ImageId) -> PathBuf {
        self.image_dir(id).join("rootfs")
    }

    pub fn manifest_path(&self, id: &ImageId) -> PathBuf {
        self.image_dir(id).join("manifest")
    }

    pub fn staging_root(&self) -> PathBuf {
        self.root.join("staging")
    }

    /// A fresh directory under `staging/`, unique across processes.
    pub fn create_staging(&self) -> Result<PathBuf, AppcStoreError> {
        staging::create(&self.staging_root()).map_err(AppcStoreError::from)
    }

    /// Removes everything under `staging/` (at agent start no fetch runs).
    pub fn clear_staging(&self) -> Result<(), AppcStoreError> {
        staging::clear(&self.staging_root()).map_err(AppcStoreError::from)
    }

    /// An image is stored once its directory holds a manifest file and a rootfs directory
    /// (never followed through links: the unpacking refuses to make them links, this is belt
    /// and braces).
    pub fn has(&self, id: &ImageId) -> bool {
        let is = |path: PathBuf, dir: bool| {
            fs::symlink_metadata(path).is_ok_and(|m| if dir { m.is_dir() } else { m.is_file() })
        };
        is(self.manifest_path(id), false) && is(self.rootfs(id), true)
    }

    pub fn read_manifest(&self, id: &ImageId) -> Result<AciManifest, AppcStoreError> {
        let path = self.manifest_path(id);
        let bytes = read_file(&path, MAX_MANIFEST).map_err(AppcStoreError::Unreadable)?;
        AciManifest::parse(&bytes).map_err(|e| AppcStoreError::Manifest {
            path,
            detail: e.to_string(),
        })
    }

    /// Every stored image.
    pub fn ids(&self) -> Result<Vec<ImageId>, AppcStoreError> {
        let dir = self.images_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", &dir)(e)),
        };
        Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| ImageId::parse(n).ok()))
            .collect())
    }

    /// The stored image answering `image`: by its ID when given, else the most recently
    /// stored of those whose manifest matches its name and labels.
    pub fn find(&self, image: &AppcImage) -> Option<ImageId> {
        let id = match &image.id {
            Some(id) => self.index.get(id).map(|_| id)?,
            None => self.index.newest_match(image)?,
        };
        // Taken out behind the agent's back (it is fetched again then).
        self.has(id).then(|| id.clone())
    }

    /// Moves an unpacked image (`manifest`, `rootfs/`) from staging to `images/<id>`. If it is
    /// there already its tree is kept (and marked as the most recent), `staged` removed.
    pub fn commit(&mut self, staged: &Path, id: &ImageId) -> Result<(), AppcStoreError> {
        self.store(staged, id)?;
        let stored = self.stored_at(id);
        let manifest = match self.index.get(id) {
            Some(entry) => entry.manifest.clone(),
            None => self.read_manifest(id)?,
        };
        self.index.insert(id.clone(), Indexed { manifest, stored });
        Ok(())
    }

    fn store(&self, staged: &Path, id: &ImageId) -> Result<(), AppcStoreError> {
        let images = self.images_dir();
        fs::create_dir_all(&images).map_err(io_err("create directory", &images))?;
        let target = self.image_dir(id);
        if self.has(id) {
            if let Ok(dir) = fs::File::open(&target) {
                let _ = dir.set_modified(SystemTime::now());
            }
            return fs::remove_dir_all(staged).map_err(io_err("remove", staged));
        }
        // A half-removed tree (a crash during prune) is replaced.
        if fs::symlink_metadata(&target).is_ok() {
            fs::remove_dir_all(&target).map_err(io_err("remove", &target))?;
        }
        match fs::rename(staged, &target) {
            // Another fetch (of an image depending on this one) stored it meanwhile.
            Err(_) if self.has(id) => fs::remove_dir_all(staged).map_err(io_err("remove", staged)),
            other => other.map_err(io_err("rename into place", staged)),
        }
    }

    /// Whether `image` and its dependencies are all stored (with `cached` false nothing is:
    /// Mesos re-fetches the whole tree).
    pub fn resolve(
        &self,
        image: &AppcImage,
        cached: bool,
    ) -> Result<AppcResolution, AppcStoreError> {
        if !cached {
            return Ok(AppcResolution::Fetch);
        }
        let mut layers = Vec::new();
        let mut chain = Vec::new();
        let Some(top) = self.collect(image, &mut chain, &mut layers)? else {
            return Ok(AppcResolution::Fetch);
        };
        let config = self.indexed_manifest(&top)?.image_config();
        Ok(AppcResolution::Ready { layers, config })
    }

    /// Adds the layers of `image` (its dependencies', then its own) to `layers`; `None` when
    /// one is missing. `chain` holds the images on the way down, for cycle detection.
    fn collect(
        &self,
        image: &AppcImage,
        chain: &mut Vec<(ImageId, String)>,
        layers: &mut Vec<ImageId>,
    ) -> Result<Option<ImageId>, AppcStoreError> {
        let Some(id) = self.find(image) else {
            return Ok(None);
        };
        if chain.iter().any(|(seen, _)| *seen == id) {
            let mut names: Vec<String> = chain.iter().map(|(_, n)| n.clone()).collect();
            names.push(image.name.clone());
            return Err(AppcStoreError::Cycle { chain: names });
        }
        let dependencies = self
            .indexed_manifest(&id)?
            .dependency_images()
            .map_err(|e| AppcStoreError::Manifest {
                path: self.manifest_path(&id),
                detail: e.to_string(),
            })?;
        chain.push((id.clone(), image.name.clone()));
        for dependency in &dependencies {
            if self.collect(dependency, chain, layers)?.is_none() {
                return Ok(None);
            }
        }
        chain.pop();
        if !layers.contains(&id) {
            layers.push(id.clone());
        }
        Ok(Some(id))
    }

    /// The manifest of an image [`Self::find`] found.
    fn indexed_manifest(&self, id: &ImageId) -> Result<&AciManifest, AppcStoreError> {
        self.manifest(id).ok_or_else(|| AppcStoreError::Manifest {
            path: self.manifest_path(id),
            detail: "not in the store's index".into(),
        })
    }

    /// The layer trees for a backend, bottom first.
    pub fn layer_rootfses(&self, layers: &[ImageId]) -> Vec<PathBuf> {
        layers.iter().map(|id| self.rootfs(id)).collect()
    }

    /// What a provisioned container records (one line) so that `PRUNE_IMAGES` keeps its images.
    pub fn in_use_record(layers: &[ImageId]) -> String {
        let ids: Vec<String> = layers.iter().map(ImageId::to_string).collect();
        format!("{IN_USE_PREFIX}{}", ids.join(","))
    }

    /// `PRUNE_IMAGES`: takes out every image that no record in `in_use` (what containers
    /// recorded, Docker references among them) names, renaming each (cheap) into one fresh
    /// directory under `staging/` for the caller to delete where walking it blocks no one.
    /// Returns the removed images and that directory, if any.
    pub fn prune(
        &mut self,
        in_use: &[String],
    ) -> Result<(Vec<ImageId>, Option<PathBuf>), AppcStoreError> {
        let kept: Vec<ImageId> = in_use
            .iter()
            .filter_map(|r| r.strip_prefix(IN_USE_PREFIX))
            .flat_map(|ids| ids.split(','))
            .filter_map(|id| ImageId::parse(id.trim()).ok())
            .collect();
        let mut removed = Vec::new();
        let mut trash = None;
        for id in self.ids()? {
            if kept.contains(&id) {
                continue;
            }
            let dir = self.image_dir(&id);
            let bin = match &trash {
                Some(bin) => bin,
                None => trash.insert(self.create_staging()?),
            };
            fs::rename(&dir, bin.join(id.to_string())).map_err(io_err("remove", &dir))?;
            self.index.remove(&id);
            removed.push(id);
        }
        Ok((removed, trash))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::provisioner::appc::spec::Label;

    fn temp_store(name: &str) -> AppcStore {
        let dir = std::env::temp_dir().join(format!("mesolite-appc-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        AppcStore::new(dir)
    }

    /// Stores an image with this manifest; its ID is made up from the manifest.
    fn add(store: &mut AppcStore, manifest: &serde_json::Value) -> ImageId {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let id = ImageId::of_bytes(&bytes);
        let staged = store.create_staging().unwrap();
        fs::write(staged.join("manifest"), &bytes).unwrap();
        fs::create_dir(staged.join("rootfs")).unwrap();
        store.commit(&staged, &id).unwrap();
        id
    }

    fn image(name: &str, version: &str) -> AppcImage {
        let labels = vec![Label {
            name: "version".into(),
            value: version.into(),
        }];
        AppcImage::new(name, labels, None).unwrap()
    }

    fn manifest(name: &str, version: &str, deps: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name,
            "labels": [{"name": "version", "value": version}],
            "app": {"exec": ["/bin/true"]}, "dependencies": deps})
    }

    #[test]
    fn dependencies_come_first_and_missing_ones_mean_fetch() {
        let mut store = temp_store("deps");
        let app = image("example.com/app", "1");
        assert_eq!(store.resolve(&app, true).unwrap(), AppcResolution::Fetch);
        let deps = serde_json::json!([
            {"imageName": "example.com/base", "labels": [{"name": "version", "value": "1"}]},
            {"imageName": "example.com/extra", "labels": [{"name": "version", "value": "1"}]}]);
        let app_id = add(&mut store, &manifest("example.com/app", "1", deps));
        assert_eq!(store.find(&app), Some(app_id.clone()));
        // Its dependencies are not there yet.
        assert_eq!(store.resolve(&app, true).unwrap(), AppcResolution::Fetch);
        let base = add(
            &mut store,
            &manifest("example.com/base", "1", serde_json::json!([])),
        );
        let extra_deps =
            serde_json::json!([{"imageName": "example.com/base", "imageID": base.to_string()}]);
        let extra = add(&mut store, &manifest("example.com/extra", "1", extra_deps));
        let AppcResolution::Ready { layers, config } = store.resolve(&app, true).unwrap() else {
            panic!("not ready");
        };
        // base once, though both the app and extra depend on it.
        assert_eq!(layers, vec![base.clone(), extra, app_id.clone()]);
        assert_eq!(config.cmd.unwrap(), ["/bin/true"]);
        assert_eq!(store.resolve(&app, false).unwrap(), AppcResolution::Fetch);
        // By ID: found; a made-up ID is not.
        let by_id = AppcImage::new("example.com/app", vec![], Some(app_id.clone())).unwrap();
        assert_eq!(store.find(&by_id), Some(app_id.clone()));
        let unknown = AppcImage::new("example.com/app", vec![], Some(ImageId::of_bytes(b"x")));
        assert_eq!(store.find(&unknown.unwrap()), None);

        // Prune keeps what a container uses.
        let record = AppcStore::in_use_record(&[base.clone(), app_id.clone()]);
        let (removed, trash) = store
            .prune(&[record, "library/busybox:latest".into()])
            .unwrap();
        assert_eq!(removed.len(), 1);
        assert!(trash.unwrap().join(removed[0].to_string()).is_dir());
        assert!(!store.has(&removed[0]));
        assert!(store.has(&base) && store.has(&app_id));
        fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn lookups_read_no_manifest_and_the_index_follows_the_store() {
        let mut store = temp_store("index");
        let id = add(&mut store, &manifest("d", "1", serde_json::json!([])));
        // Made unreadable on disk: the index answers regardless, so nothing read it.
        fs::write(store.manifest_path(&id), b"not json").unwrap();
        assert_eq!(store.find(&image("d", "1")), Some(id.clone()));
        assert!(matches!(
            store.resolve(&image("d", "1"), true).unwrap(),
            AppcResolution::Ready { .. }
        ));
        // Opened afresh, the store indexes what it holds, and leaves the broken one out.
        let other = AppcStore::new(store.root());
        assert_eq!(other.indexed(), 0);
        assert_eq!(other.find(&image("d", "1")), None);
        // Another process stores an image: found once the index is refreshed.
        let mut other = other;
        let mut writer = AppcStore::new(store.root());
        let e = add(&mut writer, &manifest("e", "1", serde_json::json!([])));
        assert_eq!(other.find(&image("e", "1")), None);
        other.refresh().unwrap();
        assert_eq!(other.find(&image("e", "1")), Some(e.clone()));
        // Pruned: gone from the index at once.
        other.prune(&[]).unwrap();
        assert_eq!(other.find(&image("e", "1")), None);
        assert_eq!(other.indexed(), 0);
        store.clear_staging().unwrap();
        fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn cycles_are_refused_and_newest_match_wins() {
        let mut store = temp_store("cycle");
        let a_deps =
            serde_json::json!([{"imageName": "b", "labels": [{"name": "version", "value": "1"}]}]);
        let b_deps =
            serde_json::json!([{"imageName": "a", "labels": [{"name": "version", "value": "1"}]}]);
        add(&mut store, &manifest("a", "1", a_deps));
        add(&mut store, &manifest("b", "1", b_deps));
        let err = store
            .resolve(&image("a", "1"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cycle: a -> b -> a"), "{err}");

        // Two stored images answer the same request: the one stored last.
        let mut old = manifest("c", "1", serde_json::json!([]));
        old["app"]["exec"] = serde_json::json!(["/old"]);
        let old = add(&mut store, &old);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let new = add(&mut store, &manifest("c", "1", serde_json::json!([])));
        assert_eq!(store.find(&image("c", "1")), Some(new));
        // Storing the old one again makes it the most recent.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let staged = store.create_staging().unwrap();
        store.commit(&staged, &old).unwrap();
        assert!(!staged.exists());
        assert_eq!(store.find(&image("c", "1")), Some(old));
        store.clear_staging().unwrap();
        fs::remove_dir_all(store.root()).unwrap();
    }
}
