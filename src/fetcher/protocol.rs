//! The JSON spoken between the agent and `mesolite-fetch`.
//!
//! The agent writes ONE [`FetchRequest`] object to the fetcher's stdin and closes it. The fetcher
//! answers on stdout with one JSON line per item as it finishes: a [`FetchOutcome`] in fetch mode,
//! a [`ProbeOutcome`] in probe mode. Its human log (Mesos's texts) goes to stderr, which the agent
//! points at the sandbox's `stderr` file. A fetch stops at the first failure, so items after it
//! get no line; the exit code is 0 if every item succeeded, else 1.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The fetcher refuses a request larger than this (bytes on stdin).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Suffix of a cache file while it is being downloaded; renamed away on success, so a file with
/// this suffix found at agent start is garbage.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Suffix of the sidecar next to each cache file, holding its cache key (see
/// [`crate::fetcher::uri::cache_key`]) so the index can be rebuilt after an agent restart.
pub const KEY_SUFFIX: &str = ".key";

/// What the fetcher is asked to do with the whole request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Report each item's size (for cache reservation); touch nothing.
    Probe,
    /// Fetch each item into the sandbox, as its action says.
    Fetch,
}

/// Per-item instruction, Mesos's `FetcherInfo.Item.Action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Download straight into the sandbox.
    #[default]
    BypassCache,
    /// Download into `<cache_directory>/<cache_filename>`, then deliver into the sandbox.
    DownloadAndCache,
    /// Deliver from `<cache_directory>/<cache_filename>`, already resident.
    RetrieveFromCache,
}

fn default_true() -> bool {
    true
}

/// Mesos's `CommandInfo.URI`, with its defaults; the agent can deserialize the task's JSON into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uri {
    pub value: String,
    #[serde(default)]
    pub executable: bool,
    #[serde(default = "default_true")]
    pub extract: bool,
    #[serde(default)]
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

impl Uri {
    /// A URI with Mesos's defaults (not executable, extract, not cached, no output file).
    pub fn new(value: &str) -> Uri {
        Uri {
            value: value.to_string(),
            executable: false,
            extract: true,
            cache: false,
            output_file: None,
        }
    }
}

/// One URI and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchItem {
    pub uri: Uri,
    #[serde(default)]
    pub action: Action,
    /// File name inside `cache_directory`; required for the two cache actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_filename: Option<String>,
}

/// The one object the agent writes to the fetcher's stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub mode: Mode,
    pub sandbox_directory: PathBuf,
    /// `<fetcher_cache_dir>/<user or "root">` (see [`crate::fetcher::cache::CachePath`]).
    pub cache_directory: PathBuf,
    /// Fetch as this user (the fetcher, started as root, switches to it before touching a URI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frameworks_home: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_home: Option<PathBuf>,
    /// A transfer slower than 1 byte/s for this long is aborted (net schemes only).
    pub stall_timeout_secs: f64,
    pub items: Vec<FetchItem>,
}

/// One stdout line in fetch mode: `{"index":i,"ok":true,"size":N}` or
/// `{"index":i,"ok":false,"error":"..."}` (plus `"cache_file_missing":true` when a
/// `RETRIEVE_FROM_CACHE` found no file, so the agent drops the entry and downloads again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchOutcome {
    pub index: usize,
    pub ok: bool,
    /// Bytes of the downloaded (or cached) file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache_file_missing: bool,
}

impl FetchOutcome {
    pub fn success(index: usize, size: u64) -> FetchOutcome {
        FetchOutcome {
            index,
            ok: true,
            size: Some(size),
            error: None,
            cache_file_missing: false,
        }
    }

    pub fn failure(index: usize, error: String, cache_file_missing: bool) -> FetchOutcome {
        FetchOutcome {
            index,
            ok: false,
            size: None,
            error: Some(error),
            cache_file_missing,
        }
    }
}

/// One stdout line in probe mode: `{"index":i,"size":N}` or `{"index":i,"size":null,"error":"..."}`
/// (size unknown: FTP, no or zero Content-Length, any error). Unknown size means "bypass the cache".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    pub index: usize,
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_defaults_follow_mesos() {
        let uri: Uri = serde_json::from_str(r#"{"value":"http://h/x"}"#).unwrap();
        assert_eq!(uri, Uri::new("http://h/x"));
        assert!(uri.extract && !uri.executable && !uri.cache);
    }

    #[test]
    fn request_round_trips_with_exact_names() {
        let json = r#"{"mode":"fetch","sandbox_directory":"/s","cache_directory":"/c/root",
            "stall_timeout_secs":60.0,"items":[{"uri":{"value":"/a","cache":true},
            "action":"DOWNLOAD_AND_CACHE","cache_filename":"c1-a"}]}"#;
        let req: FetchRequest = serde_json::from_str(json).unwrap();
        assert_eq!(req.mode, Mode::Fetch);
        assert_eq!(req.items[0].action, Action::DownloadAndCache);
        assert_eq!(req.items[0].cache_filename.as_deref(), Some("c1-a"));
        assert_eq!(req.user, None);
        let back: FetchRequest =
            serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn outcome_lines_are_the_documented_json() {
        let ok = serde_json::to_string(&FetchOutcome::success(0, 5)).unwrap();
        assert_eq!(ok, r#"{"index":0,"ok":true,"size":5}"#);
        let bad = serde_json::to_string(&FetchOutcome::failure(1, "x".into(), false)).unwrap();
        assert_eq!(bad, r#"{"index":1,"ok":false,"error":"x"}"#);
        let probe = ProbeOutcome {
            index: 2,
            size: None,
            error: Some("ftp".into()),
        };
        assert_eq!(
            serde_json::to_string(&probe).unwrap(),
            r#"{"index":2,"size":null,"error":"ftp"}"#
        );
    }

    #[test]
    fn unknown_mode_is_rejected() {
        let json = r#"{"mode":"steal","sandbox_directory":"/s","cache_directory":"/c",
            "stall_timeout_secs":1,"items":[]}"#;
        assert!(serde_json::from_str::<FetchRequest>(json).is_err());
    }
}
