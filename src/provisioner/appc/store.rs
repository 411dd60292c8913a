//! The AppC image store under `--appc_store_dir`, Mesos's layout (`appc/paths.cpp`):
//!
//! ```text
//! images/<image id>/{manifest, rootfs/}   one unpacked ACI, renamed in whole from staging
//! staging/<tmp>/                          fetches in progress
//! ```
//!
//! An image is found by its ID, else by name and labels among the stored manifests (Mesos's
//! cache, rebuilt from the manifests at each lookup: there are few images and they are small).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::spec::{AciManifest, AppcImage, ImageId};
use crate::provisioner::manifest::ImageConfig;
use crate::provisioner::staging;

/// The prefix of what a provisioned container records about its AppC layers (see
/// [`AppcStore::in_use_record`]), beside Docker's image references.
const IN_USE_PREFIX: &str = "appc:";

#[derive(Debug)]
pub enum AppcStoreError {
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A stored manifest, or a dependency it names, that cannot be used.
    Manifest { path: PathBuf, detail: String },
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
}

impl AppcStore {
    pub fn new(root: impl Into<PathBuf>) -> AppcStore {
        AppcStore { root: root.into() }
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
        let bytes = fs::read(&path).map_err(io_err("read", &path))?;
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
        if let Some(id) = &image.id {
            return self.has(id).then(|| id.clone());
        }
        let mut best: Option<(SystemTime, ImageId)> = None;
        for id in self.ids().ok()? {
            let Ok(manifest) = self.read_manifest(&id) else {
                continue;
            };
            if !self.has(&id) || !image.matches(&manifest) {
                continue;
            }
            let stored = fs::metadata(self.image_dir(&id))
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, _)| stored > *t) {
                best = Some((stored, id));
            }
        }
        best.map(|(_, id)| id)
    }

    /// Moves an unpacked image (`manifest`, `rootfs/`) from staging to `images/<id>`. If it is
    /// there already its tree is kept (and marked as the most recent), `staged` removed.
    pub fn commit(&self, staged: &Path, id: &ImageId) -> Result<(), AppcStoreError> {
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
        let config = self.read_manifest(&top)?.image_config();
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
        let manifest = self.read_manifest(&id)?;
        let dependencies = manifest
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
        &self,
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
    fn add(store: &AppcStore, manifest: &serde_json::Value) -> ImageId {
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
        let store = temp_store("deps");
        let app = image("example.com/app", "1");
        assert_eq!(store.resolve(&app, true).unwrap(), AppcResolution::Fetch);
        let deps = serde_json::json!([
            {"imageName": "example.com/base", "labels": [{"name": "version", "value": "1"}]},
            {"imageName": "example.com/extra", "labels": [{"name": "version", "value": "1"}]}]);
        let app_id = add(&store, &manifest("example.com/app", "1", deps));
        assert_eq!(store.find(&app), Some(app_id.clone()));
        // Its dependencies are not there yet.
        assert_eq!(store.resolve(&app, true).unwrap(), AppcResolution::Fetch);
        let base = add(
            &store,
            &manifest("example.com/base", "1", serde_json::json!([])),
        );
        let extra_deps =
            serde_json::json!([{"imageName": "example.com/base", "imageID": base.to_string()}]);
        let extra = add(&store, &manifest("example.com/extra", "1", extra_deps));
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
    fn cycles_are_refused_and_newest_match_wins() {
        let store = temp_store("cycle");
        let a_deps =
            serde_json::json!([{"imageName": "b", "labels": [{"name": "version", "value": "1"}]}]);
        let b_deps =
            serde_json::json!([{"imageName": "a", "labels": [{"name": "version", "value": "1"}]}]);
        add(&store, &manifest("a", "1", a_deps));
        add(&store, &manifest("b", "1", b_deps));
        let err = store
            .resolve(&image("a", "1"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cycle: a -> b -> a"), "{err}");

        // Two stored images answer the same request: the one stored last.
        let mut old = manifest("c", "1", serde_json::json!([]));
        old["app"]["exec"] = serde_json::json!(["/old"]);
        let old = add(&store, &old);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let new = add(&store, &manifest("c", "1", serde_json::json!([])));
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
