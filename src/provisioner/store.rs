//! The Docker image store under `--docker_store_dir`:
//!
//! ```text
//! layers/<digest>/{rootfs | rootfs.overlay, json}   unpacked once, shared by every image
//! images/<reference>.json                           image -> layers + config, write-then-rename
//! staging/<tmp>/                                    in-progress pulls, renamed into place
//! ```
//!
//! A layer exists once its rootfs directory does (it is renamed in whole from staging). An image
//! is usable only if every layer's rootfs exists (Mesos's MissingLayer test): otherwise it is
//! pulled again, and only the missing layers are fetched.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::provisioner::digest::Digest;
use crate::provisioner::manifest::ImageConfig;
use crate::provisioner::reference::ImageReference;
use crate::provisioner::staging;
use crate::provisioner::whiteout::WhiteoutFormat;
use crate::sys::bounded::read_file;

/// The largest image record read (a record lists layers and a config: a few KiB).
const MAX_RECORD: u64 = 4 << 20;

/// What the store keeps about one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The canonical reference (see [`ImageReference`]'s `Display`).
    pub reference: String,
    /// Digest of the platform manifest, when it came from a registry or an OCI layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<Digest>,
    /// Bottom layer first.
    pub layers: Vec<Digest>,
    #[serde(default)]
    pub config: ImageConfig,
}

/// The answer to "can this image be used as it is?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLookup {
    /// Every layer is present.
    Ready(ImageRecord),
    /// Known, but these layers are gone: pull again (only they are downloaded).
    MissingLayers {
        record: ImageRecord,
        missing: Vec<Digest>,
    },
    /// Never pulled (or its record is unreadable).
    Unknown,
}

#[derive(Debug)]
pub enum StoreError {
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// An image record that is not valid JSON.
    Corrupt { path: PathBuf, detail: String },
    /// An image record that is not a regular file, leads out of the store, or is too big.
    Unreadable(crate::sys::bounded::ReadError),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { op, path, source } => {
                write!(f, "Failed to {op} '{}': {source}", path.display())
            }
            StoreError::Corrupt { path, detail } => {
                write!(f, "Corrupt image record '{}': {detail}", path.display())
            }
            StoreError::Unreadable(e) => write!(f, "Unreadable image record {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<staging::StagingError> for StoreError {
    fn from(e: staging::StagingError) -> Self {
        StoreError::Io {
            op: e.op,
            path: e.path,
            source: e.source,
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Escapes a reference into one file name: `/` and `%` percent-encoded.
fn encode_name(reference: &str) -> String {
    let mut out = String::with_capacity(reference.len());
    for c in reference.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    pub fn layer_dir(&self, digest: &Digest) -> PathBuf {
        self.layers_dir().join(digest.to_string())
    }

    pub fn layer_rootfs(&self, digest: &Digest, format: WhiteoutFormat) -> PathBuf {
        self.layer_dir(digest).join(format.rootfs_name())
    }

    pub fn has_layer(&self, digest: &Digest, format: WhiteoutFormat) -> bool {
        self.layer_rootfs(digest, format).is_dir()
    }

    pub fn staging_root(&self) -> PathBuf {
        self.root.join("staging")
    }

    /// A fresh directory under `staging/`, unique across processes.
    pub fn create_staging(&self) -> Result<PathBuf, StoreError> {
        staging::create(&self.staging_root()).map_err(StoreError::from)
    }

    /// Removes everything under `staging/`: at agent start no pull is running, so it is all
    /// left over from a crash.
    pub fn clear_staging(&self) -> Result<(), StoreError> {
        staging::clear(&self.staging_root()).map_err(StoreError::from)
    }

    /// Moves an unpacked layer tree from staging into `layers/<digest>/`. If another pull got
    /// there first, its tree is kept and `staged` is removed.
    pub fn commit_layer(
        &self,
        staged: &Path,
        digest: &Digest,
        format: WhiteoutFormat,
        json: &[u8],
    ) -> Result<(), StoreError> {
        let dir = self.layer_dir(digest);
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        let json_path = dir.join("json");
        write_atomically(&json_path, json)?;
        let target = dir.join(format.rootfs_name());
        if target.is_dir() {
            return fs::remove_dir_all(staged).map_err(io_err("remove", staged));
        }
        fs::rename(staged, &target).map_err(io_err("rename into place", staged))
    }

    pub fn image_path(&self, reference: &str) -> PathBuf {
        self.root
            .join("images")
            .join(format!("{}.json", encode_name(reference)))
    }

    /// Records an image, write-then-rename so a crash leaves the old record or the new one.
    pub fn write_image(&self, record: &ImageRecord) -> Result<(), StoreError> {
        let path = self.image_path(&record.reference);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        }
        let json = serde_json::to_vec_pretty(record).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        write_atomically(&path, &json)
    }

    pub fn read_image(&self, reference: &str) -> Result<Option<ImageRecord>, StoreError> {
        let path = self.image_path(reference);
        let bytes = match read_file(&path, MAX_RECORD) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(StoreError::Unreadable(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path,
                detail: e.to_string(),
            })
    }

    pub fn remove_image(&self, reference: &str) -> Result<(), StoreError> {
        let path = self.image_path(reference);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// The layers of `record` that are not in the store (in `format`), bottom first.
    pub fn missing_layers(&self, record: &ImageRecord, format: WhiteoutFormat) -> Vec<Digest> {
        record
            .layers
            .iter()
            .filter(|d| !self.has_layer(d, format))
            .cloned()
            .collect()
    }

    /// Whether `reference` can be provisioned now. An unreadable record counts as unknown (it
    /// is pulled again and rewritten), as Mesos ignores an empty `storedImages` (MESOS-8871).
    pub fn lookup(&self, reference: &ImageReference, format: WhiteoutFormat) -> ImageLookup {
        let Ok(Some(record)) = self.read_image(&reference.to_string()) else {
            return ImageLookup::Unknown;
        };
        let missing = self.missing_layers(&record, format);
        if missing.is_empty() {
            ImageLookup::Ready(record)
        } else {
            ImageLookup::MissingLayers { record, missing }
        }
    }

    /// The layer trees to hand to a backend, bottom first.
    pub fn layer_rootfses(&self, record: &ImageRecord, format: WhiteoutFormat) -> Vec<PathBuf> {
        record
            .layers
            .iter()
            .map(|d| self.layer_rootfs(d, format))
            .collect()
    }

    /// Every recorded image.
    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let dir = self.root.join("images");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", &dir)(e)),
        };
        let mut records = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Ok(bytes) = read_file(&path, MAX_RECORD) {
                    if let Ok(record) = serde_json::from_slice::<ImageRecord>(&bytes) {
                        records.push(record);
                    }
                }
            }
        }
        Ok(records)
    }

    /// `PRUNE_IMAGES`: forgets every image not in `keep` (canonical references of images in use
    /// or excluded) and takes out every layer that no remaining image references: each is
    /// renamed (cheap, whatever its size) into one fresh directory under `staging/`, which the
    /// caller deletes where walking it blocks no one (and `clear_staging` at the next start, if
    /// that never happens). Returns the removed layers and that directory, if any.
    pub fn prune(&self, keep: &[String]) -> Result<(Vec<Digest>, Option<PathBuf>), StoreError> {
        let mut kept_layers = std::collections::HashSet::new();
        for record in self.images()? {
            if keep.contains(&record.reference) {
                kept_layers.extend(record.layers);
            } else {
                self.remove_image(&record.reference)?;
            }
        }
        let dir = self.layers_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
            Err(e) => return Err(io_err("list", &dir)(e)),
        };
        let mut removed = Vec::new();
        let mut trash = None;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(digest) = name.to_str().and_then(|n| Digest::parse(n).ok()) else {
                continue;
            };
            if !kept_layers.contains(&digest) {
                let path = entry.path();
                let bin = match &trash {
                    Some(bin) => bin,
                    None => trash.insert(self.create_staging()?),
                };
                fs::rename(&path, bin.join(&name)).map_err(io_err("remove", &path))?;
                removed.push(digest);
            }
        }
        Ok((removed, trash))
    }
}

/// Writes `path` through a temporary sibling and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(io_err("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("rename", &tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn temp_store(name: &str) -> Store {
        let dir =
            std::env::temp_dir().join(format!("mesolite-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Store::new(dir)
    }

    fn add_layer(store: &Store, digest: &Digest, format: WhiteoutFormat) {
        let staged = store.create_staging().unwrap().join("rootfs");
        fs::create_dir_all(staged.join("bin")).unwrap();
        store.commit_layer(&staged, digest, format, b"{}").unwrap();
    }

    #[test]
    fn missing_layer_means_pull_again() {
        let store = temp_store("missing");
        let reference = ImageReference::parse("127.0.0.1:5000/busy/box:1").unwrap();
        assert_eq!(
            store.lookup(&reference, WhiteoutFormat::Aufs),
            ImageLookup::Unknown
        );
        let record = ImageRecord {
            reference: reference.to_string(),
            manifest_digest: None,
            layers: vec![d('a'), d('b')],
            config: ImageConfig::default(),
        };
        store.write_image(&record).unwrap();
        assert!(store
            .image_path(&record.reference)
            .ends_with("127.0.0.1:5000%2Fbusy%2Fbox:1.json"));
        add_layer(&store, &d('a'), WhiteoutFormat::Aufs);
        assert_eq!(
            store.lookup(&reference, WhiteoutFormat::Aufs),
            ImageLookup::MissingLayers {
                record: record.clone(),
                missing: vec![d('b')]
            }
        );
        add_layer(&store, &d('b'), WhiteoutFormat::Aufs);
        assert_eq!(
            store.lookup(&reference, WhiteoutFormat::Aufs),
            ImageLookup::Ready(record.clone())
        );
        // The overlay form is a different tree: both layers are missing in it.
        assert_eq!(
            store.missing_layers(&record, WhiteoutFormat::Overlay),
            vec![d('a'), d('b')]
        );
        // Deleting a layer's rootfs (Mesos's MissingLayer) makes the image need a pull again.
        fs::remove_dir_all(store.layer_rootfs(&d('a'), WhiteoutFormat::Aufs)).unwrap();
        assert!(matches!(
            store.lookup(&reference, WhiteoutFormat::Aufs),
            ImageLookup::MissingLayers { missing, .. } if missing == vec![d('a')]
        ));
        // A truncated record is ignored, not fatal.
        fs::write(store.image_path(&record.reference), b"").unwrap();
        assert_eq!(
            store.lookup(&reference, WhiteoutFormat::Aufs),
            ImageLookup::Unknown
        );
        fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn second_commit_keeps_the_first_and_staging_is_cleared() {
        let store = temp_store("commit");
        add_layer(&store, &d('c'), WhiteoutFormat::Overlay);
        let staged = store.create_staging().unwrap().join("rootfs");
        fs::create_dir_all(staged.join("other")).unwrap();
        store
            .commit_layer(&staged, &d('c'), WhiteoutFormat::Overlay, b"{}")
            .unwrap();
        let rootfs = store.layer_rootfs(&d('c'), WhiteoutFormat::Overlay);
        assert!(rootfs.join("bin").is_dir() && !rootfs.join("other").exists());
        assert!(!staged.exists());
        store.clear_staging().unwrap();
        assert!(!store.staging_root().exists());
        fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn prune_keeps_layers_of_kept_images_only() {
        let store = temp_store("prune");
        for c in ['a', 'b', 'c'] {
            add_layer(&store, &d(c), WhiteoutFormat::Aufs);
        }
        let image = |name: &str, layers: Vec<Digest>| ImageRecord {
            reference: name.to_string(),
            manifest_digest: None,
            layers,
            config: ImageConfig::default(),
        };
        store
            .write_image(&image("library/x:1", vec![d('a'), d('b')]))
            .unwrap();
        store
            .write_image(&image("library/y:1", vec![d('a'), d('c')]))
            .unwrap();
        let (removed, trash) = store.prune(&["library/x:1".to_string()]).unwrap();
        assert_eq!(removed, vec![d('c')]);
        // The layer waits under staging/ for its deletion.
        let trash = trash.unwrap();
        assert!(trash.starts_with(store.staging_root()));
        assert!(trash.join(d('c').to_string()).is_dir());
        assert!(!store.layer_dir(&d('c')).exists());
        assert!(store.has_layer(&d('a'), WhiteoutFormat::Aufs));
        assert!(store.has_layer(&d('b'), WhiteoutFormat::Aufs));
        assert_eq!(store.read_image("library/y:1").unwrap(), None);
        fs::remove_dir_all(store.root()).unwrap();
    }
}
