//! Pull mode: an image from a registry or a local directory into the store, layer by layer.
//! Each layer is downloaded (digest verified while streaming), unpacked into `staging/<tmp>`
//! and renamed into `layers/<digest>/` only when complete, so a failure stores nothing partial.

pub(crate) mod error;
mod local;
mod registry;
pub(crate) mod unpack;

use std::fs::{self, File};
use std::path::Path;

use mesolite::provisioner::auth;
use mesolite::provisioner::digest::Digest;
use mesolite::provisioner::manifest::{
    host_architecture, parse_config, parse_manifest, pick_platform, ImageConfig, Manifest,
};
use mesolite::provisioner::protocol::{PullEvent, PullRequest};
use mesolite::provisioner::reference::ImageReference;
use mesolite::provisioner::store::{ImageRecord, Store};

use crate::run::emit;
use error::{io_err, PullError};
use local::{DockerSave, LocalImage, OciLayout};
use registry::Registry;
use unpack::unpack_layer;

/// What an image is made of, before any layer is fetched.
#[derive(Debug)]
pub struct Resolved {
    pub manifest_digest: Option<Digest>,
    pub layers: Vec<Digest>,
    pub config: ImageConfig,
}

enum Source {
    Registry(Box<Registry>),
    DockerSave(DockerSave),
    OciLayout(OciLayout),
}

/// Runs a pull; returns whether it finished without error.
pub fn pull(request: &PullRequest) -> bool {
    match pull_image(request) {
        Ok(complete) => {
            emit(&PullEvent::Done { complete });
            true
        }
        Err(err) => {
            eprintln!("Failed to pull image '{}': {err}", request.image);
            emit(&PullEvent::Failed {
                error: err.to_string(),
            });
            false
        }
    }
}

fn is_url(value: &str) -> bool {
    value.starts_with("http://") || value.starts_with("https://")
}

fn open_source(request: &PullRequest, reference: &ImageReference) -> Result<Source, PullError> {
    if reference.registry.is_none() && !is_url(&request.docker_registry) {
        let dir = Path::new(&request.docker_registry);
        return match local::find(dir, reference)? {
            LocalImage::DockerSave(path) => Ok(Source::DockerSave(DockerSave::open(&path)?)),
            LocalImage::OciLayout(path) => Ok(Source::OciLayout(OciLayout::new(&path))),
        };
    }
    let base = if is_url(&request.docker_registry) || reference.registry.is_some() {
        registry::base_url(reference.registry.as_deref(), &request.docker_registry)
    } else {
        "https://registry-1.docker.io".to_string()
    };
    let host = base.split_once("://").map_or(base.as_str(), |(_, h)| h);
    let basic = match &request.docker_config {
        Some(path) => {
            let bytes = fs::read(path).map_err(io_err("read", path))?;
            auth::basic_credentials(&bytes, host)
        }
        None => None,
    };
    eprintln!("Pulling image '{reference}' from '{base}'");
    Ok(Source::Registry(Box::new(Registry::new(
        base,
        reference.repository.clone(),
        basic,
        request.stall_timeout_secs,
    ))))
}

fn resolve_from_registry(
    registry: &mut Registry,
    reference: &ImageReference,
) -> Result<Resolved, PullError> {
    let wanted = reference.manifest_reference();
    let (content_type, body) = registry.manifest(&wanted)?;
    let mut digest = Digest::of_bytes(&body);
    if let Some(pinned) = &reference.digest {
        if *pinned != digest {
            return Err(PullError::DigestMismatch {
                what: format!("manifest '{wanted}'"),
                expected: pinned.clone(),
                actual: digest,
            });
        }
    }
    let manifest = match parse_manifest(content_type.as_deref(), &body)? {
        Manifest::Image(manifest) => manifest,
        Manifest::Index(entries) => {
            let entry = pick_platform(&entries, host_architecture())?;
            let (content_type, body) = registry.manifest(&entry.digest.to_string())?;
            digest = Digest::of_bytes(&body);
            if digest != entry.digest {
                return Err(PullError::DigestMismatch {
                    what: format!("manifest '{}'", entry.digest),
                    expected: entry.digest.clone(),
                    actual: digest,
                });
            }
            match parse_manifest(content_type.as_deref(), &body)? {
                Manifest::Image(manifest) => manifest,
                Manifest::Index(_) => {
                    return Err(PullError::BadArchive {
                        path: wanted.into(),
                        detail: "an index pointing to another index".to_string(),
                    })
                }
            }
        }
    };
    let config = parse_config(&registry.blob(&manifest.config.digest)?)?;
    Ok(Resolved {
        manifest_digest: Some(digest),
        layers: manifest.layers.into_iter().map(|l| l.digest).collect(),
        config,
    })
}

fn resolve(source: &mut Source, reference: &ImageReference) -> Result<Resolved, PullError> {
    match source {
        Source::Registry(registry) => resolve_from_registry(registry, reference),
        Source::DockerSave(save) => save.resolve(reference),
        Source::OciLayout(layout) => layout.resolve(reference),
    }
}

/// Fetches and unpacks layer `index` into `staging/rootfs`. Returns the blob size.
fn fetch_layer(
    source: &mut Source,
    index: usize,
    digest: &Digest,
    staging: &Path,
    request: &PullRequest,
) -> Result<u64, PullError> {
    let rootfs = staging.join("rootfs");
    let what = format!("layer {digest}");
    let format = request.whiteout_format;
    let (_, size) = match source {
        Source::Registry(registry) => {
            let blob = staging.join("blob");
            registry.blob_to_file(digest, &blob)?;
            let file = File::open(&blob).map_err(io_err("open", &blob))?;
            // Verified while downloading; hashed again for free while unpacking.
            let unpacked = unpack_layer(file, Some(digest), &rootfs, format, &what)?;
            fs::remove_file(&blob).map_err(io_err("remove", &blob))?;
            unpacked
        }
        Source::DockerSave(save) => {
            unpack_layer(save.layer(index)?, Some(digest), &rootfs, format, &what)?
        }
        Source::OciLayout(layout) => {
            let path = layout.blob_path(digest);
            let file = File::open(&path).map_err(io_err("open", &path))?;
            unpack_layer(file, Some(digest), &rootfs, format, &what)?
        }
    };
    Ok(size)
}

/// Returns whether the image is complete in the store (and recorded).
fn pull_image(request: &PullRequest) -> Result<bool, PullError> {
    let reference = ImageReference::parse(&request.image).map_err(PullError::Reference)?;
    let store = Store::new(&request.store_dir);
    let mut source = open_source(request, &reference)?;
    let resolved = resolve(&mut source, &reference)?;
    let format = request.whiteout_format;
    let record = ImageRecord {
        reference: reference.to_string(),
        manifest_digest: resolved.manifest_digest.clone(),
        layers: resolved.layers.clone(),
        config: resolved.config.clone(),
    };
    let missing = store.missing_layers(&record, format);
    emit(&PullEvent::Resolved {
        reference: record.reference.clone(),
        manifest_digest: record.manifest_digest.clone(),
        layers: record.layers.clone(),
        missing: missing.clone(),
        config: record.config.clone(),
    });
    if !request.resolve_only {
        for (index, digest) in resolved.layers.iter().enumerate() {
            let wanted = request.layers.as_ref().is_none_or(|l| l.contains(digest));
            if !wanted || !missing.contains(digest) || store.has_layer(digest, format) {
                continue;
            }
            eprintln!("Pulling layer {digest}");
            let staging = store.create_staging()?;
            let stored =
                fetch_layer(&mut source, index, digest, &staging, request).and_then(|size| {
                    let json = serde_json::json!({"digest": digest, "size": size}).to_string();
                    store.commit_layer(&staging.join("rootfs"), digest, format, json.as_bytes())?;
                    Ok(size)
                });
            let _ = fs::remove_dir_all(&staging);
            let size = stored?;
            emit(&PullEvent::Layer {
                digest: digest.clone(),
                size,
            });
        }
    }
    let complete = store.missing_layers(&record, format).is_empty();
    if complete {
        store.write_image(&record)?;
        eprintln!("Image '{}' is in the store", record.reference);
    }
    Ok(complete)
}
