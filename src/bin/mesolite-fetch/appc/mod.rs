//! AppC mode: an image and, depth first, its dependencies into the AppC store. Each ACI is
//! found by simple discovery (`<prefix><name>-<version>-<os>-<arch>.aci`, over HTTP(S) with
//! the stall timeout, or read from a local directory), unpacked into `staging/<tmp>` while its
//! image ID is computed, checked (layout, manifest name, the requested `id`) and renamed into
//! `images/<id>` only then, so a failure stores nothing partial.

mod error;
mod unpack;

use std::fs::{self, File};
use std::path::Path;

use mesolite::fetcher::uri::NetScheme;
use mesolite::provisioner::appc::{
    discovery_source, AppcImage, AppcStore, DiscoverySource, ImageId,
};
use mesolite::provisioner::protocol::{AppcPullRequest, PullEvent};

use crate::download::curl_get;
use crate::run::emit;
use crate::safe_fs;
use error::{io_err, AppcError};
use unpack::{check_image, unpack_aci};

/// Deeper dependency chains than this are refused (a cycle through ever new names, or abuse).
const MAX_DEPTH: usize = 32;

/// Runs an AppC fetch; returns whether it finished without error.
pub fn pull(request: &AppcPullRequest) -> bool {
    let mut run = Run {
        request,
        store: AppcStore::new(&request.store_dir),
        fetched: Vec::new(),
        chain: Vec::new(),
    };
    match run.fetch(&request.image) {
        Ok(id) => {
            eprintln!("AppC image '{}' is in the store as {id}", request.image);
            emit(&PullEvent::Done { complete: true });
            true
        }
        Err(err) => {
            eprintln!("Failed to fetch AppC image '{}': {err}", request.image);
            emit(&PullEvent::Failed {
                error: err.to_string(),
            });
            false
        }
    }
}

struct Run<'a> {
    request: &'a AppcPullRequest,
    store: AppcStore,
    /// Images fetched by this run (by request key): fetched once even with `cached` false.
    fetched: Vec<(String, ImageId)>,
    /// The images on the way down, for cycle detection: (id, name).
    chain: Vec<(ImageId, String)>,
}

impl Run<'_> {
    /// Makes sure `image` and its dependencies are stored; returns its ID.
    fn fetch(&mut self, image: &AppcImage) -> Result<ImageId, AppcError> {
        let key = image.key();
        let known = self
            .fetched
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, id)| id);
        let id = match (known, self.store.find(image)) {
            (Some(id), _) => id.clone(),
            (None, Some(id)) if self.request.cached => id,
            _ => {
                let id = self.fetch_one(image)?;
                self.fetched.push((key, id.clone()));
                id
            }
        };
        let cycle = self.chain.iter().any(|(seen, _)| *seen == id);
        if cycle || self.chain.len() >= MAX_DEPTH {
            let mut chain: Vec<String> = self.chain.iter().map(|(_, n)| n.clone()).collect();
            chain.push(image.name.clone());
            return Err(AppcError::Cycle { chain });
        }
        let dependencies = match self.store.manifest(&id) {
            Some(manifest) => manifest.dependency_images()?,
            None => self.store.read_manifest(&id)?.dependency_images()?,
        };
        self.chain.push((id.clone(), image.name.clone()));
        for dependency in &dependencies {
            self.fetch(dependency)?;
        }
        self.chain.pop();
        Ok(id)
    }

    /// Fetches one ACI into the store.
    fn fetch_one(&mut self, image: &AppcImage) -> Result<ImageId, AppcError> {
        let source = discovery_source(&self.request.uri_prefix, image)?;
        let staging = self.store.create_staging()?;
        let fetched = self.fetch_into(&staging, &source, image);
        let result = fetched.and_then(|(id, size)| {
            self.store.commit(&staging.join("image"), &id)?;
            Ok((id, size))
        });
        let _ = fs::remove_dir_all(&staging);
        let (id, size) = result?;
        emit(&PullEvent::Fetched {
            name: image.name.clone(),
            id: id.clone(),
            size,
        });
        Ok(id)
    }

    /// Downloads (or opens) and unpacks the ACI into `staging/image`, checked.
    fn fetch_into(
        &self,
        staging: &Path,
        source: &DiscoverySource,
        image: &AppcImage,
    ) -> Result<(ImageId, u64), AppcError> {
        let aci = match source {
            DiscoverySource::File(path) => {
                eprintln!("Fetching AppC image '{image}' from '{}'", path.display());
                path.clone()
            }
            DiscoverySource::Url(url) => {
                eprintln!("Fetching AppC image '{image}' from '{url}'");
                let dest = staging.join("image.aci");
                let download_err = |source| AppcError::Download {
                    url: url.clone(),
                    source,
                };
                let mut out = safe_fs::create(&dest).map_err(download_err)?;
                let scheme = if url.starts_with("https://") {
                    NetScheme::Https
                } else {
                    NetScheme::Http
                };
                let timeout = self.request.stall_timeout_secs;
                curl_get(scheme, url, &mut out, timeout, &dest).map_err(download_err)?;
                dest
            }
        };
        let file = File::open(&aci).map_err(|source| AppcError::Open {
            path: aci.clone(),
            source,
        })?;
        if !file.metadata().map_err(io_err("inspect", &aci))?.is_file() {
            return Err(AppcError::Open {
                path: aci,
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file"),
            });
        }
        let dir = staging.join("image");
        let (id, size) = unpack_aci(file, &dir, &image.name)?;
        if let Some(expected) = &image.id {
            if *expected != id {
                return Err(AppcError::IdMismatch {
                    image: image.name.clone(),
                    expected: expected.clone(),
                    actual: id,
                });
            }
        }
        check_image(&dir, &image.name)?;
        let _ = fs::remove_file(staging.join("image.aci"));
        Ok((id, size))
    }
}
