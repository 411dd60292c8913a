//! Copying a cache file into the sandbox as cheaply as the file system allows.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::{io_err, FetchError};
use crate::safe_fs;

/// Copies `cache_file` to `dest`: a reflink (FICLONE) when both sit on a file system that shares
/// extents (btrfs, xfs), else `std::io::copy`, which on Linux uses copy_file_range and falls back
/// to sendfile and then a read/write loop by itself.
pub fn copy_cached(cache_file: &Path, dest: &Path) -> Result<u64, FetchError> {
    let mut input = File::open(cache_file).map_err(io_err("open", cache_file))?;
    let mut out = safe_fs::create(dest)?;
    if mesolite::sys::fs::reflink(&input, &out) {
        return input
            .metadata()
            .map(|m| m.len())
            .map_err(io_err("inspect", cache_file));
    }
    io::copy(&mut input, &mut out).map_err(io_err("copy into", dest))
}
