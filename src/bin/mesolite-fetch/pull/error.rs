//! The puller's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use mesolite::provisioner::digest::Digest;
use mesolite::provisioner::manifest::ManifestError;
use mesolite::provisioner::reference::ReferenceError;
use mesolite::provisioner::store::StoreError;

use crate::error::FetchError;

#[derive(Debug)]
pub enum PullError {
    Reference(ReferenceError),
    Manifest(ManifestError),
    Store(StoreError),
    /// Unpacking refused an entry or failed writing (the fetcher's safe extraction rules).
    Unpack(FetchError),
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    Curl {
        url: String,
        source: curl::Error,
    },
    /// An HTTP answer other than the expected one.
    HttpStatus {
        url: String,
        code: u32,
    },
    /// 401 and no way to authenticate (no challenge we understand, or the token refused).
    Unauthorized {
        url: String,
        detail: String,
    },
    /// Content whose sha256 is not the digest that named it; nothing was stored.
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// A local registry holds no archive or layout for the image.
    NotFound {
        image: String,
        looked_at: Vec<PathBuf>,
    },
    /// A `docker save` tarball or OCI layout that does not hold what it should.
    BadArchive {
        path: PathBuf,
        detail: String,
    },
}

impl fmt::Display for PullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullError::Reference(err) => write!(f, "{err}"),
            PullError::Manifest(err) => write!(f, "{err}"),
            PullError::Store(err) => write!(f, "{err}"),
            PullError::Unpack(err) => write!(f, "Failed to unpack a layer: {err}"),
            PullError::Io { op, path, source } => {
                write!(f, "Failed to {op} '{}': {source}", path.display())
            }
            PullError::Curl { url, source } => write!(f, "Failed to fetch '{url}': {source}"),
            PullError::HttpStatus { url, code } => {
                write!(f, "Unexpected HTTP response {code} for '{url}'")
            }
            PullError::Unauthorized { url, detail } => {
                write!(f, "Unauthorized to fetch '{url}': {detail}")
            }
            PullError::DigestMismatch {
                what,
                expected,
                actual,
            } => write!(
                f,
                "Digest mismatch for {what}: expected {expected}, got {actual}"
            ),
            PullError::NotFound { image, looked_at } => write!(
                f,
                "No image '{image}' in the local registry (looked for {})",
                looked_at
                    .iter()
                    .map(|p| format!("'{}'", p.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PullError::BadArchive { path, detail } => {
                write!(f, "Invalid image archive '{}': {detail}", path.display())
            }
        }
    }
}

impl std::error::Error for PullError {}

impl From<ManifestError> for PullError {
    fn from(err: ManifestError) -> PullError {
        PullError::Manifest(err)
    }
}

impl From<StoreError> for PullError {
    fn from(err: StoreError) -> PullError {
        PullError::Store(err)
    }
}

impl From<FetchError> for PullError {
    fn from(err: FetchError) -> PullError {
        PullError::Unpack(err)
    }
}

pub fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> PullError {
    let path = path.into();
    move |source| PullError::Io { op, path, source }
}
