//! Errors of PROVISIONING (the image lookup, its pull, the rootfs) and of PRUNE_IMAGES, and of
//! what the task runs (the command and the image's user). Each carries the image, container or
//! path it concerns; `Display` is the text the launch failure (or the PRUNE_IMAGES refusal)
//! shows.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::children::ChildStart;
use crate::config::ImageProvider;
use crate::provisioner::appc::store::AppcStoreError;
use crate::provisioner::appc::AppcImage;
use crate::provisioner::backend::BackendError;
use crate::provisioner::store::StoreError;
use crate::spec::ContainerId;

/// Why an image could not be made into a rootfs, or the store pruned.
#[derive(Debug)]
pub enum ProvisionError {
    /// No `--image_providers`.
    ImagesOff,
    /// `--image_providers` does not name the image's kind.
    ProviderOff(ImageProvider),
    /// The container has no launch in PROVISIONING.
    NotProvisioning(ContainerId),
    /// The launch's stdio is gone before PREPARING.
    LostStdio(ContainerId),
    /// A pull for this launch ended, yet the store still lacks the image (its key).
    Incomplete { image: String },
    /// The AppC store could not say whether the image is there.
    AppcLookup {
        image: Box<AppcImage>,
        source: AppcStoreError,
    },
    /// The container's `image` file (`what`: create, write).
    ImageFile {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The image puller could not be started.
    PullerStart(ChildStart),
    /// The pull of the image (its key) failed; `error` is what the puller said.
    Pull { image: String, error: String },
    /// The rootfs copy could not be started.
    CopyStart(ChildStart),
    /// A mounting backend (bind, overlay) failed.
    Backend(BackendError),
    /// The rootfs copy failed; what it said.
    Copy(String),
    /// The rootfs copy wrote a line that is no provision event.
    CopyOutput {
        line: String,
        source: serde_json::Error,
    },
    /// The rootfs copy ended without saying how it went.
    CopySilent,
    /// PRUNE_IMAGES while pulls run.
    PullsInProgress,
    /// Pruning the Docker store.
    Prune(StoreError),
    /// Pruning the AppC store.
    PruneAppc(AppcStoreError),
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvisionError::ImagesOff => {
                f.write_str("Container images are not enabled (--image_providers)")
            }
            ProvisionError::ProviderOff(provider) => {
                let (what, name) = match provider {
                    ImageProvider::Docker => ("Docker", "docker"),
                    ImageProvider::Appc => ("AppC", "appc"),
                };
                write!(
                    f,
                    "{what} images are not enabled: --image_providers does not name '{name}'"
                )
            }
            ProvisionError::NotProvisioning(_) => f.write_str("container is not provisioning"),
            ProvisionError::LostStdio(_) => f.write_str("the launch lost its stdio"),
            ProvisionError::Incomplete { image } => {
                write!(
                    f,
                    "Image '{image}' is incomplete in the store after its pull"
                )
            }
            ProvisionError::AppcLookup { image, source } => {
                write!(f, "Failed to look up AppC image '{image}': {source}")
            }
            ProvisionError::ImageFile { what, path, source } => {
                write!(f, "Failed to {what} {}: {source}", path.display())
            }
            ProvisionError::PullerStart(e) => write!(f, "Failed to start the image puller: {e}"),
            ProvisionError::Pull { image, error } => {
                write!(f, "Failed to pull image '{image}': {error}")
            }
            ProvisionError::CopyStart(e) => write!(f, "Failed to start the rootfs copy: {e}"),
            ProvisionError::Backend(e) => write!(f, "Failed to provision the rootfs: {e}"),
            ProvisionError::Copy(error) => write!(f, "Failed to provision the rootfs: {error}"),
            ProvisionError::CopyOutput { line, source } => {
                write!(
                    f,
                    "Failed to provision the rootfs: unreadable line {line:?}: {source}"
                )
            }
            ProvisionError::CopySilent => {
                f.write_str("Failed to provision the rootfs: the copy ended without a word")
            }
            ProvisionError::PullsInProgress => {
                f.write_str("Pulls are in progress; try again when they are done")
            }
            ProvisionError::Prune(e) => write!(f, "Failed to prune images: {e}"),
            ProvisionError::PruneAppc(e) => write!(f, "Failed to prune AppC images: {e}"),
        }
    }
}

impl std::error::Error for ProvisionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProvisionError::AppcLookup { source, .. } | ProvisionError::PruneAppc(source) => {
                Some(source)
            }
            ProvisionError::ImageFile { source, .. } => Some(source),
            ProvisionError::PullerStart(e) | ProvisionError::CopyStart(e) => Some(e),
            ProvisionError::Backend(e) => Some(e),
            ProvisionError::CopyOutput { source, .. } => Some(source),
            ProvisionError::Prune(e) => Some(e),
            _ => None,
        }
    }
}

/// Why the task's command or user cannot be made (docker/runtime, appc/runtime).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    /// A shell command with an empty value.
    NoShellValue,
    /// No value, and the image (if any) gives neither Entrypoint nor Cmd.
    NoCommand,
    /// The image's `User` is not in its `/etc/passwd`.
    UnknownUser { user: String },
    /// The group of the image's `User` is not in its `/etc/group`.
    UnknownGroup { group: String },
    /// The image's `/etc/passwd` or `/etc/group` (`path`) cannot be read inside its rootfs:
    /// not a regular file, too large, or unreadable (`reason`).
    ImageFile { path: &'static str, reason: String },
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::NoShellValue => f.write_str("A shell command needs 'command.value'"),
            RuntimeError::NoCommand => f.write_str(
                "No command to run: no 'command.value' and the image has neither Entrypoint nor Cmd",
            ),
            RuntimeError::UnknownUser { user } => {
                write!(f, "The image's user '{user}' is not in its /etc/passwd")
            }
            RuntimeError::UnknownGroup { group } => {
                write!(f, "The image's group '{group}' is not in its /etc/group")
            }
            RuntimeError::ImageFile { path, reason } => {
                write!(f, "Failed to read the image's {path} to resolve its user: {reason}")
            }
        }
    }
}

impl std::error::Error for RuntimeError {}
