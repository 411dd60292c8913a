//! What differs between Docker and AppC images in PROVISIONING: looking the image up in its
//! store, and the request of the `mesolite-fetch` child that pulls it. Everything after (the
//! backends, the rootfs, the runtime config) is shared.

use std::path::PathBuf;

use serde::Serialize;

use super::error::ProvisionError;
use super::{ImageSettings, Images};
use crate::config::ImageProvider;
use crate::provisioner::appc::{AppcResolution, AppcStore};
use crate::provisioner::protocol::{AppcPullRequest, PullMode, PullRequest};
use crate::provisioner::{ImageConfig, ImageLookup};
use crate::spec::{Image, ImageSpec};

/// An image whose layers are all in its store.
#[derive(Debug)]
pub(super) struct Found {
    /// Written in the container's `image` file: what `PRUNE_IMAGES` keeps.
    pub in_use: String,
    /// Layer trees, bottom first.
    pub layers: Vec<PathBuf>,
    pub config: ImageConfig,
}

/// Which provider an image belongs to.
pub(super) fn kind(image: &Image) -> ImageProvider {
    match image.spec {
        ImageSpec::Docker { .. } => ImageProvider::Docker,
        ImageSpec::Appc(_) => ImageProvider::Appc,
    }
}

/// The provider of an image, refused when `--image_providers` does not name it.
pub(super) fn provider(
    settings: &ImageSettings,
    image: &Image,
) -> Result<ImageProvider, ProvisionError> {
    let provider = kind(image);
    if settings.providers.contains(&provider) {
        return Ok(provider);
    }
    Err(ProvisionError::ProviderOff(provider))
}

/// The image if it can be provisioned now (`cached` false asks for a pull first, unless
/// `pulled`: the pull for this launch is done). `None`: pull it.
pub(super) fn lookup(
    images: &Images,
    image: &Image,
    pulled: bool,
) -> Result<Option<Found>, ProvisionError> {
    provider(&images.settings, image)?;
    let cached = image.cached || pulled;
    match &image.spec {
        ImageSpec::Docker { reference, .. } => {
            let format = images.settings.backend.whiteout_format();
            if !cached {
                return Ok(None);
            }
            match images.store.lookup(reference, format) {
                ImageLookup::Ready(record) => Ok(Some(Found {
                    in_use: record.reference.clone(),
                    layers: images.store.layer_rootfses(&record, format),
                    config: record.config,
                })),
                _ => Ok(None),
            }
        }
        ImageSpec::Appc(appc) => {
            let store = images
                .appc
                .as_ref()
                .ok_or(ProvisionError::ProviderOff(ImageProvider::Appc))?;
            match store
                .resolve(appc, cached)
                .map_err(|source| ProvisionError::AppcLookup {
                    image: Box::new(appc.clone()),
                    source,
                })? {
                AppcResolution::Ready { layers, config } => Ok(Some(Found {
                    in_use: AppcStore::in_use_record(&layers),
                    layers: store.layer_rootfses(&layers),
                    config,
                })),
                AppcResolution::Fetch => Ok(None),
            }
        }
    }
}

/// What a pulling `mesolite-fetch` reads on its stdin.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum AnyPullRequest {
    Docker(PullRequest),
    Appc(AppcPullRequest),
}

pub(super) fn pull_request(settings: &ImageSettings, image: &Image) -> AnyPullRequest {
    let stall_timeout_secs = settings.stall_timeout.as_secs_f64();
    match &image.spec {
        ImageSpec::Docker { name, .. } => AnyPullRequest::Docker(PullRequest {
            mode: PullMode::Pull,
            image: name.clone(),
            docker_registry: settings.registry.clone(),
            store_dir: settings.store_dir.clone(),
            whiteout_format: settings.backend.whiteout_format(),
            docker_config: settings.docker_config.clone(),
            stall_timeout_secs,
            resolve_only: false,
            layers: None,
        }),
        ImageSpec::Appc(appc) => AnyPullRequest::Appc(AppcPullRequest {
            mode: "appc".into(),
            image: appc.clone(),
            store_dir: settings.appc_store_dir.clone(),
            uri_prefix: settings.appc_uri_prefix.clone(),
            cached: image.cached,
            stall_timeout_secs,
        }),
    }
}
