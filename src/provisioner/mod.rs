//! Container images: the Docker image store and the backends that turn stored layers into a
//! container's root filesystem (Mesos's provisioner, `docs/container-image.md`). AppC images
//! have their own store and fetch ([`appc`]) and share the backends.
//!
//! What the agent does with it, in order:
//! 1. [`ImageReference::parse`] the task's `docker.name`;
//! 2. [`Store::lookup`]: `Ready` (every layer there, unless `cached=false`) or a pull is needed;
//! 3. spawn `mesolite-fetch` with a [`protocol::PullRequest`] and read its [`protocol::PullEvent`]
//!    lines (the first, `resolved`, lists the layer digests so concurrent pulls can share them);
//! 4. [`backend::provision`] the layers ([`Store::layer_rootfses`]) into
//!    [`backend::RootfsPaths::new`] for the container;
//! 5. [`backend::unmount_all_under`] and a background delete when the container is removed; [`Store::prune`] for
//!    `PRUNE_IMAGES`.
//!
//! Everything here is blocking file-system work sized by what it touches: looking things up is
//! cheap, `copy` provisioning is not (run it where blocking is allowed).

pub mod appc;
pub mod auth;
pub mod backend;
pub mod digest;
pub mod manifest;
pub mod protocol;
pub mod reference;
pub mod staging;
pub mod store;
pub mod sys;
pub mod whiteout;

pub use backend::BackendKind;
pub use digest::Digest;
pub use manifest::ImageConfig;
pub use reference::ImageReference;
pub use store::{ImageLookup, ImageRecord, Store};
pub use whiteout::WhiteoutFormat;
