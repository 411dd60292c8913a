//! One fetch run: every item in order, stopping at the first failure (as Mesos does).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mesolite::fetcher::protocol::{
    Action, FetchItem, FetchOutcome, FetchRequest, ProbeOutcome, Uri, KEY_SUFFIX, PARTIAL_SUFFIX,
};
use mesolite::fetcher::uri::{basename, cache_key, classify, trim, validate_output_file};

use crate::deliver::copy_cached;
use crate::download::{download, probe_size};
use crate::error::{io_err, FetchError};
use crate::extract::{archive_kind, extract};
use crate::safe_fs::prepare_file;

/// Writes one JSON line to stdout. A closed stdout (the agent gave up on us) is not an error
/// worth dying over mid-extraction; the exit code still tells.
pub fn emit<T: serde::Serialize>(line: &T) {
    if let Ok(json) = serde_json::to_string(line) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{json}");
        let _ = out.flush();
    }
}

/// Fetch mode. Returns whether every item succeeded.
pub fn fetch_all(request: &FetchRequest) -> bool {
    for (index, item) in request.items.iter().enumerate() {
        let uri = trim(&item.uri.value);
        eprintln!("Fetching URI '{uri}'");
        match fetch_item(request, item) {
            Ok(size) => emit(&FetchOutcome::success(index, size)),
            Err(err) => {
                eprintln!("Failed to fetch '{uri}': {err}");
                let missing = matches!(err, FetchError::CacheFileMissing { .. });
                emit(&FetchOutcome::failure(index, err.to_string(), missing));
                return false;
            }
        }
    }
    eprintln!(
        "Successfully fetched all URIs into '{}'",
        request.sandbox_directory.display()
    );
    true
}

/// Probe mode: one size (or null) per item; never fails as a whole.
pub fn probe_all(request: &FetchRequest) {
    for (index, item) in request.items.iter().enumerate() {
        let uri = trim(&item.uri.value);
        let size = classify(uri, request.frameworks_home.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|source| probe_size(&source, request));
        let (size, error) = match size {
            Ok(size) => (Some(size), None),
            Err(error) => (None, Some(error)),
        };
        emit(&ProbeOutcome { index, size, error });
    }
}

fn fetch_item(request: &FetchRequest, item: &FetchItem) -> Result<u64, FetchError> {
    let uri = trim(&item.uri.value);
    let base = basename(uri)?;
    let name = match &item.uri.output_file {
        Some(output_file) => validate_output_file(output_file)?,
        None => PathBuf::from(base),
    };
    let sandbox = &request.sandbox_directory;
    match item.action {
        Action::BypassCache => {
            let source = classify(uri, request.frameworks_home.as_deref())?;
            eprintln!("Fetching directly into the sandbox directory");
            let dest = prepare_file(sandbox, &name)?;
            let size = download(&source, &dest, request).inspect_err(|_| {
                let _ = fs::remove_file(&dest);
            })?;
            finish_in_sandbox(&item.uri, &name, &dest, sandbox)?;
            Ok(size)
        }
        Action::DownloadAndCache => {
            let source = classify(uri, request.frameworks_home.as_deref())?;
            let cache_file = cache_file(request, item)?;
            eprintln!("Downloading into cache file '{}'", cache_file.display());
            let partial = with_suffix(&cache_file, PARTIAL_SUFFIX);
            let size = download(&source, &partial, request).inspect_err(|_| {
                let _ = fs::remove_file(&partial);
            })?;
            // The key sidecar first: a file without one is discarded at agent restart.
            let key = with_suffix(&cache_file, KEY_SUFFIX);
            fs::write(&key, cache_key(request.user.as_deref(), uri))
                .map_err(io_err("write", &key))?;
            fs::rename(&partial, &cache_file).map_err(io_err("rename", &partial))?;
            deliver_from_cache(&item.uri, &name, &cache_file, sandbox)?;
            Ok(size)
        }
        Action::RetrieveFromCache => {
            let cache_file = cache_file(request, item)?;
            let size = match fs::metadata(&cache_file) {
                Ok(meta) => meta.len(),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    return Err(FetchError::CacheFileMissing { path: cache_file })
                }
                Err(err) => return Err(io_err("inspect", &cache_file)(err)),
            };
            eprintln!("Fetching from cache file '{}'", cache_file.display());
            deliver_from_cache(&item.uri, &name, &cache_file, sandbox)?;
            Ok(size)
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `<cache_directory>/<cache_filename>`, the name being one plain component.
fn cache_file(request: &FetchRequest, item: &FetchItem) -> Result<PathBuf, FetchError> {
    let bad = || FetchError::BadCacheFilename {
        name: item.cache_filename.clone(),
    };
    let name = item.cache_filename.as_deref().ok_or_else(bad)?;
    if name.is_empty() || name.contains('/') || name == "." || name == ".." || name.contains('\0') {
        return Err(bad());
    }
    Ok(request.cache_directory.join(name))
}

fn make_executable(path: &Path) -> Result<(), FetchError> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(io_err("chmod", path))
}

fn copying_instead(uri: &Uri) {
    eprintln!(
        "Copying instead of extracting resource from URI with 'extract' flag, because it does \
         not seem to be an archive: {}",
        trim(&uri.value)
    );
}

/// After a direct download: executable wins over extract; an archive stays next to its content.
fn finish_in_sandbox(
    uri: &Uri,
    name: &Path,
    dest: &Path,
    sandbox: &Path,
) -> Result<(), FetchError> {
    if uri.executable {
        return make_executable(dest);
    }
    if uri.extract {
        match archive_kind(name) {
            Some(kind) => extract(kind, dest, name, sandbox)?,
            None => copying_instead(uri),
        }
    }
    Ok(())
}

/// From the cache: an archive is extracted straight from the cache file (only its content lands
/// in the sandbox); anything else is copied.
fn deliver_from_cache(
    uri: &Uri,
    name: &Path,
    cache_file: &Path,
    sandbox: &Path,
) -> Result<(), FetchError> {
    if !uri.executable && uri.extract {
        if let Some(kind) = archive_kind(name) {
            return extract(kind, cache_file, name, sandbox);
        }
        copying_instead(uri);
    }
    let dest = prepare_file(sandbox, name)?;
    copy_cached(cache_file, &dest)?;
    if uri.executable {
        make_executable(&dest)?;
    }
    Ok(())
}
