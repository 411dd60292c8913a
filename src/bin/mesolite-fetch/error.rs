//! The fetcher's error type: one variant per failed operation, carrying what it concerns.

use std::fmt;
use std::io;
use std::path::PathBuf;

use mesolite::fetcher::uri::UriError;

#[derive(Debug)]
pub enum FetchError {
    /// The request on stdin could not be read or parsed.
    Request(String),
    /// A URI rule (basename, output file, scheme) refused it.
    Uri(UriError),
    /// Switching to the task user (or preparing its cache directory) failed.
    User { user: String, detail: String },
    /// A file operation failed.
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// libcurl failed (connect, stall timeout, reset, TLS, FTP errors...).
    Curl { url: String, source: curl::Error },
    /// An HTTP answer other than 200.
    HttpStatus { code: u32 },
    /// The Hadoop client failed or could not be run.
    Hadoop { uri: String, detail: String },
    /// A cache action without a usable `cache_filename`.
    BadCacheFilename { name: Option<String> },
    /// `RETRIEVE_FROM_CACHE` and the file is not there (the agent drops the entry).
    CacheFileMissing { path: PathBuf },
    /// An archive entry would land outside the sandbox, or write through a symbolic link.
    UnsafeEntry { entry: String, reason: &'static str },
    /// The archive itself is unreadable (corrupt, bad checksum, unsupported entry).
    Archive { path: PathBuf, detail: String },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Request(detail) => write!(f, "Invalid fetch request: {detail}"),
            FetchError::Uri(err) => write!(f, "{err}"),
            FetchError::User { user, detail } => {
                write!(f, "Failed to fetch as user '{user}': {detail}")
            }
            FetchError::Io { op, path, source } => {
                write!(f, "Failed to {op} '{}': {source}", path.display())
            }
            FetchError::Curl { url, source } => {
                write!(f, "Error downloading resource '{url}': {source}")
            }
            FetchError::HttpStatus { code } => write!(
                f,
                "Error downloading resource, received HTTP return code {code}"
            ),
            FetchError::Hadoop { uri, detail } => {
                write!(
                    f,
                    "Failed to fetch '{uri}' with the Hadoop client: {detail}"
                )
            }
            FetchError::BadCacheFilename { name } => {
                write!(f, "Invalid cache file name {name:?} for a cache action")
            }
            FetchError::CacheFileMissing { path } => {
                write!(f, "Cache file missing: '{}'", path.display())
            }
            FetchError::UnsafeEntry { entry, reason } => {
                write!(f, "Refusing archive entry '{entry}': {reason}")
            }
            FetchError::Archive { path, detail } => {
                write!(f, "Failed to extract '{}': {detail}", path.display())
            }
        }
    }
}

impl std::error::Error for FetchError {}

impl From<UriError> for FetchError {
    fn from(err: UriError) -> FetchError {
        FetchError::Uri(err)
    }
}

/// Shorthand for `map_err` on file operations.
pub fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> FetchError {
    let path = path.into();
    move |source| FetchError::Io { op, path, source }
}
