//! The AppC fetch's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use mesolite::provisioner::appc::store::AppcStoreError;
use mesolite::provisioner::appc::{ImageId, SpecError};

use crate::error::FetchError;
use crate::pull::error::PullError;

#[derive(Debug)]
pub enum AppcError {
    Spec(SpecError),
    Store(AppcStoreError),
    /// The HTTP(S) transfer failed (404 included).
    Download {
        url: String,
        source: FetchError,
    },
    /// A local discovery prefix has no such ACI, or it cannot be read.
    Open {
        path: PathBuf,
        source: io::Error,
    },
    /// Unpacking refused an entry, or the archive is unreadable.
    Unpack {
        image: String,
        source: PullError,
    },
    /// An archive that is not an ACI (no manifest, no rootfs, other top-level entries...).
    Invalid {
        image: String,
        detail: String,
    },
    /// The fetched image is not the one the `id` named.
    IdMismatch {
        image: String,
        expected: ImageId,
        actual: ImageId,
    },
    /// Dependencies lead back to an image on the way (names, outermost first).
    Cycle {
        chain: Vec<String>,
    },
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for AppcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppcError::Spec(err) => write!(f, "{err}"),
            AppcError::Store(err) => write!(f, "{err}"),
            AppcError::Download { url, source } => {
                write!(f, "Failed to fetch '{url}': {source}")
            }
            AppcError::Open { path, source } => {
                write!(f, "Failed to open the ACI '{}': {source}", path.display())
            }
            AppcError::Unpack { image, source } => {
                write!(f, "Failed to unpack the ACI of '{image}': {source}")
            }
            AppcError::Invalid { image, detail } => {
                write!(f, "The ACI of '{image}' is not a valid image: {detail}")
            }
            AppcError::IdMismatch {
                image,
                expected,
                actual,
            } => write!(
                f,
                "The ACI of '{image}' has image id {actual}, not the requested {expected}"
            ),
            AppcError::Cycle { chain } => write!(
                f,
                "AppC image dependencies form a cycle: {}",
                chain.join(" -> ")
            ),
            AppcError::Io { op, path, source } => {
                write!(f, "Failed to {op} '{}': {source}", path.display())
            }
        }
    }
}

impl std::error::Error for AppcError {}

impl From<SpecError> for AppcError {
    fn from(err: SpecError) -> AppcError {
        AppcError::Spec(err)
    }
}

impl From<AppcStoreError> for AppcError {
    fn from(err: AppcStoreError) -> AppcError {
        AppcError::Store(err)
    }
}

pub fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> AppcError {
    let path = path.into();
    move |source| AppcError::Io { op, path, source }
}
