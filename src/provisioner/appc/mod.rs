//! AppC images (the App Container spec, github.com/appc/spec), as Mesos's appc provisioner
//! handles them (`src/slave/containerizer/mesos/provisioner/appc/`):
//!
//! 1. [`AppcImage`]: the task's `mesos.image.appc` (`name`, `labels`, `id`);
//! 2. [`AppcStore::resolve`]: every image of the dependency tree is in the store (found by `id`,
//!    else by name and labels through an index of the stored manifests) or a fetch is needed;
//! 3. `mesolite-fetch` in `appc` mode ([`protocol::AppcPullRequest`](super::protocol)) finds the
//!    ACIs by simple discovery ([`discovery_path`]: `<prefix><name>-<version>-<os>-<arch>.aci`),
//!    unpacks them into `staging/` and renames each into `images/<image id>/`, dependencies too;
//! 4. the layers (dependencies first, the image last) go to the backends like Docker layers, and
//!    `appc/runtime` applies the manifest's `app` through [`AciManifest::image_config`].

mod index;
pub mod spec;
pub mod store;

pub use spec::{
    discovery_path, discovery_source, AciManifest, AppcImage, DiscoverySource, ImageId, SpecError,
};
pub use store::{AppcResolution, AppcStore};
