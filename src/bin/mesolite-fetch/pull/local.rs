//! Local registries (`--docker_registry=/dir`): `docker save` tarballs named `<name>:<tag>.tar`
//! (Mesos's image tar puller) and OCI image layouts in directories named `<name>:<tag>`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use mesolite::provisioner::digest::Digest;
use mesolite::provisioner::manifest::{
    host_architecture, parse_config, parse_manifest, pick_platform, Manifest,
};
use mesolite::provisioner::reference::ImageReference;
use serde::Deserialize;

use super::error::{io_err, PullError};
use super::Resolved;

/// Where the image is in a local registry directory.
#[derive(Debug)]
pub enum LocalImage {
    DockerSave(PathBuf),
    OciLayout(PathBuf),
}

pub fn find(dir: &Path, reference: &ImageReference) -> Result<LocalImage, PullError> {
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let mut names = vec![reference.name.clone()];
    if reference.repository != reference.name {
        names.push(reference.repository.clone());
    }
    let mut looked_at = Vec::new();
    for name in names {
        let tarball = dir.join(format!("{name}:{tag}.tar"));
        if tarball.is_file() {
            return Ok(LocalImage::DockerSave(tarball));
        }
        let layout = dir.join(format!("{name}:{tag}"));
        if layout.join("index.json").is_file() {
            return Ok(LocalImage::OciLayout(layout));
        }
        looked_at.extend([tarball, layout]);
    }
    Err(PullError::NotFound {
        image: reference.to_string(),
        looked_at,
    })
}

fn bad(path: &Path, detail: impl Into<String>) -> PullError {
    PullError::BadArchive {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// A `docker save` tarball, indexed: entry name -> (data offset, size).
#[derive(Debug)]
pub struct DockerSave {
    path: PathBuf,
    entries: HashMap<String, (u64, u64)>,
    /// Entry names of the layers, bottom first (after `resolve`).
    layer_entries: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct DiffIds {
    #[serde(default)]
    rootfs: Option<RootfsIds>,
}

#[derive(Deserialize)]
struct RootfsIds {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

fn normalize(name: &str) -> String {
    name.trim_start_matches("./").to_string()
}

impl DockerSave {
    pub fn open(path: &Path) -> Result<DockerSave, PullError> {
        let file = File::open(path).map_err(io_err("open", path))?;
        let mut tar = tar::Archive::new(file);
        let mut entries = HashMap::new();
        for entry in tar.entries().map_err(|e| bad(path, e.to_string()))? {
            let entry = entry.map_err(|e| bad(path, e.to_string()))?;
            let name = entry.path().map_err(|e| bad(path, e.to_string()))?;
            let name = normalize(&name.to_string_lossy());
            entries.insert(name, (entry.raw_file_position(), entry.size()));
        }
        Ok(DockerSave {
            path: path.to_path_buf(),
            entries,
            layer_entries: Vec::new(),
        })
    }

    fn entry(&self, name: &str) -> Result<impl Read, PullError> {
        let (offset, size) = *self
            .entries
            .get(&normalize(name))
            .ok_or_else(|| bad(&self.path, format!("no entry '{name}'")))?;
        let mut file = File::open(&self.path).map_err(io_err("open", &self.path))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(io_err("seek in", &self.path))?;
        Ok(file.take(size))
    }

    fn read_entry(&self, name: &str) -> Result<Vec<u8>, PullError> {
        let mut bytes = Vec::new();
        self.entry(name)?
            .read_to_end(&mut bytes)
            .map_err(io_err("read", &self.path))?;
        Ok(bytes)
    }

    pub fn resolve(&mut self, reference: &ImageReference) -> Result<Resolved, PullError> {
        let manifests: Vec<SaveManifest> =
            serde_json::from_slice(&self.read_entry("manifest.json")?)
                .map_err(|e| bad(&self.path, format!("manifest.json: {e}")))?;
        let tag = reference.tag.as_deref().unwrap_or("latest");
        let wanted = [
            format!("{}:{tag}", reference.name),
            format!("{}:{tag}", reference.repository),
        ];
        let manifest = manifests
            .iter()
            .find(|m| {
                m.repo_tags
                    .as_ref()
                    .is_some_and(|tags| tags.iter().any(|t| wanted.contains(t)))
            })
            .or(manifests.first())
            .ok_or_else(|| bad(&self.path, "manifest.json lists no image"))?;
        let config_bytes = self.read_entry(&manifest.config)?;
        let config = parse_config(&config_bytes)?;
        let diff_ids = serde_json::from_slice::<DiffIds>(&config_bytes)
            .ok()
            .and_then(|c| c.rootfs)
            .map(|r| r.diff_ids)
            .unwrap_or_default();
        // A layer's name is its content digest: from an OCI-style `blobs/sha256/<hex>` path,
        // else the config's diff_id (the sha256 of the uncompressed layer.tar).
        let mut layers = Vec::new();
        for (index, entry) in manifest.layers.iter().enumerate() {
            let from_path = entry
                .strip_prefix("blobs/sha256/")
                .and_then(|hex| Digest::from_hex(hex).ok());
            let digest = from_path
                .or_else(|| diff_ids.get(index).cloned())
                .ok_or_else(|| bad(&self.path, format!("no digest known for layer '{entry}'")))?;
            layers.push(digest);
        }
        self.layer_entries = manifest.layers.clone();
        Ok(Resolved {
            manifest_digest: None,
            layers,
            config,
        })
    }

    /// The layer's bytes (verified by the caller while unpacking).
    pub fn layer(&self, index: usize) -> Result<impl Read, PullError> {
        let name = self
            .layer_entries
            .get(index)
            .ok_or_else(|| bad(&self.path, format!("no layer {index}")))?;
        self.entry(name)
    }
}

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/...`).
#[derive(Debug)]
pub struct OciLayout {
    dir: PathBuf,
}

#[derive(Deserialize)]
struct Annotated {
    #[serde(default)]
    annotations: HashMap<String, String>,
    digest: Digest,
}

#[derive(Deserialize)]
struct RawIndex {
    manifests: Vec<Annotated>,
}

impl OciLayout {
    pub fn new(dir: &Path) -> OciLayout {
        OciLayout {
            dir: dir.to_path_buf(),
        }
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    fn blob(&self, digest: &Digest) -> Result<Vec<u8>, PullError> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
        let actual = Digest::of_bytes(&bytes);
        if actual != *digest {
            return Err(PullError::DigestMismatch {
                what: format!("blob '{}'", path.display()),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    pub fn resolve(&self, reference: &ImageReference) -> Result<Resolved, PullError> {
        let index_path = self.dir.join("index.json");
        let index_bytes = std::fs::read(&index_path).map_err(io_err("read", &index_path))?;
        let index: RawIndex =
            serde_json::from_slice(&index_bytes).map_err(|e| bad(&index_path, e.to_string()))?;
        let tag = reference.tag.as_deref().unwrap_or("latest");
        let entry = index
            .manifests
            .iter()
            .find(|m| {
                m.annotations
                    .get("org.opencontainers.image.ref.name")
                    .is_some_and(|name| name == tag)
            })
            .or(index.manifests.first())
            .ok_or_else(|| bad(&index_path, "the index lists no manifest"))?;
        let mut digest = entry.digest.clone();
        // An entry may itself be an index (multi-platform); two levels are plenty.
        for _ in 0..3 {
            let body = self.blob(&digest)?;
            match parse_manifest(None, &body)? {
                Manifest::Index(entries) => {
                    digest = pick_platform(&entries, host_architecture())?.digest.clone();
                }
                Manifest::Image(manifest) => {
                    let config = parse_config(&self.blob(&manifest.config.digest)?)?;
                    return Ok(Resolved {
                        manifest_digest: Some(digest),
                        layers: manifest.layers.into_iter().map(|l| l.digest).collect(),
                        config,
                    });
                }
            }
        }
        Err(bad(&self.dir, "indexes nested too deep"))
    }
}
