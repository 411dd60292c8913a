//! FETCHING: the agent's side of the fetcher. It keeps the cache index (sizes, references, LRU
//! order) and decides, per URI, whether the `mesolite-fetch` subprocess downloads into the
//! cache, retrieves from it or bypasses it; the subprocess does every byte of I/O. Nothing here
//! blocks: the subprocess's stdout is watched by the loop, one JSON line per finished item.

mod child;
mod flow;
mod plan;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fetcher::cache::{Cache, CachePath, ExistingFile};
use crate::fetcher::protocol::{KEY_SUFFIX, PARTIAL_SUFFIX};

pub(super) use child::helper_env;
pub use child::{command as fetch_command, RequestParts};
pub use plan::FetchRun;

/// How the agent runs the fetcher.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// The `mesolite-fetch` binary.
    pub binary: PathBuf,
    pub cache_dir: PathBuf,
    pub cache_size: u64,
    pub stall_timeout: Duration,
    pub frameworks_home: Option<PathBuf>,
    pub hadoop_home: Option<PathBuf>,
}

/// Fetch counters, with Mesos's metric names.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchMetrics {
    pub succeeded: u64,
    pub failed: u64,
}

/// The cache index and the settings, owned by the containerizer.
#[derive(Debug)]
pub struct Fetcher {
    pub settings: FetchSettings,
    pub cache: Cache,
    pub metrics: FetchMetrics,
}

impl Fetcher {
    /// The cache survives agent restarts: its index is rebuilt from the directory; partial
    /// downloads and files without a key are deleted.
    pub fn new(settings: FetchSettings) -> Fetcher {
        let mut cache = Cache::new(settings.cache_size);
        let existing = scan(&settings.cache_dir);
        let n = existing.len();
        for stale in cache.rebuild(existing) {
            delete(&settings.cache_dir, &stale);
        }
        // Partial files never become entries: remove what a killed download left.
        remove_partials(&settings.cache_dir);
        log::info!(
            "Fetcher cache {}: {} files, {} of {} bytes used",
            settings.cache_dir.display(),
            n,
            cache.used_bytes(),
            cache.capacity()
        );
        Fetcher {
            settings,
            cache,
            metrics: FetchMetrics::default(),
        }
    }

    /// `<fetcher_cache_dir>/<user or root>`.
    pub fn user_cache_dir(&self, user: Option<&str>) -> PathBuf {
        self.settings
            .cache_dir
            .join(crate::fetcher::cache::user_dir(user))
    }

    pub fn delete(&self, path: &CachePath) {
        delete(&self.settings.cache_dir, path);
    }

    pub fn exists(&self, path: &CachePath) -> bool {
        self.settings.cache_dir.join(path.relative()).is_file()
    }
}

fn delete(root: &Path, path: &CachePath) {
    let _ = fs::remove_file(root.join(path.relative()));
    let _ = fs::remove_file(root.join(path.key_sidecar()));
}

/// Every cache file with its size and key, `<root>/<user>/<file>`.
fn scan(root: &Path) -> Vec<ExistingFile> {
    let mut out = Vec::new();
    let Ok(users) = fs::read_dir(root) else {
        return out;
    };
    for user in users.flatten().filter(|u| u.path().is_dir()) {
        let dir = user.file_name().to_string_lossy().into_owned();
        let Ok(files) = fs::read_dir(user.path()) else {
            continue;
        };
        for f in files.flatten() {
            let file = f.file_name().to_string_lossy().into_owned();
            if file.ends_with(KEY_SUFFIX) || file.ends_with(PARTIAL_SUFFIX) {
                continue;
            }
            let Ok(meta) = f.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let key = fs::read_to_string(user.path().join(format!("{file}{KEY_SUFFIX}"))).ok();
            out.push(ExistingFile {
                path: CachePath {
                    dir: dir.clone(),
                    file,
                },
                size: meta.len(),
                key: key.map(|k| k.trim_end_matches('\n').to_string()),
            });
        }
    }
    out
}

fn remove_partials(root: &Path) {
    let Ok(users) = fs::read_dir(root) else {
        return;
    };
    for user in users.flatten() {
        let Ok(files) = fs::read_dir(user.path()) else {
            continue;
        };
        for f in files.flatten() {
            if f.file_name().to_string_lossy().ends_with(PARTIAL_SUFFIX) {
                let _ = fs::remove_file(f.path());
            }
        }
    }
}
