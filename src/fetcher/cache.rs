//! The fetcher cache index the agent keeps: which URIs are cached under which file, how big,
//! who is using them, and which to evict. Pure data; the caller does the file I/O (deleting
//! the files this returns, stat-ing a file before trusting a hit).
//!
//! Semantics follow Mesos (docs/fetcher-cache-internals.md): entries keyed by `user@uri`, space
//! reserved before download from the probed size, least-recently-used unreferenced entries evicted
//! to make room, referenced entries never evicted, one download per key at a time.
//!
//! Every non-`Bypass` [`Decision`] holds a reference, released with [`Cache::release`] (once per
//! decision) when the fetch run ends, whatever its outcome. References are [`Ticket`]s naming the
//! entry's generation, so a late release never touches a newer entry for the same key.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use super::protocol::{KEY_SUFFIX, PARTIAL_SUFFIX};
use super::uri::{basename, cache_filename, cache_key, UriError};

/// A cache file, relative to `--fetcher_cache_dir`: `<dir>/<file>`, `dir` being the user (or
/// `root`). The fetcher gets `cache_directory = <fetcher_cache_dir>/<dir>`, `cache_filename = file`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CachePath {
    pub dir: String,
    pub file: String,
}

impl CachePath {
    pub fn relative(&self) -> PathBuf {
        PathBuf::from(&self.dir).join(&self.file)
    }

    /// The sidecar holding the key; delete it together with the file.
    pub fn key_sidecar(&self) -> PathBuf {
        PathBuf::from(&self.dir).join(format!("{}{KEY_SUFFIX}", self.file))
    }
}

/// The cache subdirectory of a user.
pub fn user_dir(user: Option<&str>) -> &str {
    user.unwrap_or("root")
}

/// A reference to one generation of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    key: String,
    serial: u64,
}

/// Why a cached URI is fetched without the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BypassReason {
    /// `--fetcher_cache_size=0`.
    Disabled,
    /// The probe could not tell the size (FTP, no Content-Length, error).
    UnknownSize,
    /// Bigger than what evicting every unreferenced entry would free.
    TooLarge { size: u64, available: u64 },
    /// The URI has no usable basename for a cache file.
    BadUri(UriError),
    /// The download this run was waiting for failed.
    DownloadFailed,
}

impl fmt::Display for BypassReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BypassReason::Disabled => write!(f, "the fetcher cache is disabled"),
            BypassReason::UnknownSize => write!(f, "the size of the URI is unknown"),
            BypassReason::TooLarge { size, available } => write!(
                f,
                "Could not free up enough fetcher cache space: {size} bytes needed, \
                 at most {available} available"
            ),
            BypassReason::BadUri(err) => write!(f, "{err}"),
            BypassReason::DownloadFailed => write!(f, "the cache download failed"),
        }
    }
}

/// What the agent should tell the fetcher for one cached URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Resident: `RETRIEVE_FROM_CACHE` from `path` (stat it first; if gone, call
    /// [`Cache::missing_file`] and ask again).
    RetrieveFromCache { ticket: Ticket, path: CachePath },
    /// Another run is downloading it: wait, then ask [`Cache::state`]. If the download being
    /// waited for is this same run's (a duplicate URI in one launch), send `RETRIEVE_FROM_CACHE`
    /// straight away instead: the fetcher handles items in order, so the file will be there.
    WaitForDownload { ticket: Ticket, path: CachePath },
    /// Reserved: `DOWNLOAD_AND_CACHE` into `path`, after deleting the `evicted` files.
    DownloadAndCache {
        ticket: Ticket,
        path: CachePath,
        evicted: Vec<CachePath>,
    },
    /// `BYPASS_CACHE`; no reference held.
    Bypass { reason: BypassReason },
}

/// What [`Cache::lookup`] sees, without changing anything (to decide whether to probe the size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Absent,
    Downloading,
    Resident,
}

/// Where a ticket's entry stands (for a run that waited on a download).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketState {
    Downloading,
    Resident(CachePath),
    /// The download failed or the entry was dropped: bypass the cache.
    Gone,
}

/// A file found in the cache directory at agent start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingFile {
    pub path: CachePath,
    pub size: u64,
    /// Contents of its key sidecar, if there is one.
    pub key: Option<String>,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Downloading,
    Resident,
}

#[derive(Debug)]
struct Entry {
    serial: u64,
    path: CachePath,
    state: State,
    size: u64,
    refs: u32,
    last_used: u64,
}

/// The index. See the module documentation.
#[derive(Debug)]
pub struct Cache {
    capacity: u64,
    used: u64,
    entries: HashMap<String, Entry>,
    next_serial: u64,
    clock: u64,
    stats: CacheStats,
}

impl Cache {
    pub fn new(capacity_bytes: u64) -> Cache {
        Cache {
            capacity: capacity_bytes,
            used: 0,
            entries: HashMap::new(),
            next_serial: 1,
            clock: 0,
            stats: CacheStats::default(),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes held by resident entries and reserved by downloads.
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.entries.len(),
            ..self.stats
        }
    }

    pub fn lookup(&self, user: Option<&str>, uri: &str) -> Lookup {
        match self.entries.get(&cache_key(user, uri)) {
            None => Lookup::Absent,
            Some(entry) if entry.state == State::Downloading => Lookup::Downloading,
            Some(_) => Lookup::Resident,
        }
    }

    /// A hit or a wait if the key is known, else a reservation of `size` bytes (probed by the
    /// fetcher; `None` if unknown) or a bypass.
    pub fn lookup_or_reserve(
        &mut self,
        user: Option<&str>,
        uri: &str,
        size: Option<u64>,
    ) -> Decision {
        let key = cache_key(user, uri);
        self.clock += 1;
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.refs += 1;
            entry.last_used = self.clock;
            self.stats.hits += 1;
            let ticket = Ticket {
                key,
                serial: entry.serial,
            };
            let path = entry.path.clone();
            return match entry.state {
                State::Resident => Decision::RetrieveFromCache { ticket, path },
                State::Downloading => Decision::WaitForDownload { ticket, path },
            };
        }
        self.stats.misses += 1;
        if self.capacity == 0 {
            return bypass(BypassReason::Disabled);
        }
        let Some(size) = size else {
            return bypass(BypassReason::UnknownSize);
        };
        let base = match basename(uri) {
            Ok(base) => base,
            Err(err) => return bypass(BypassReason::BadUri(err)),
        };
        let evicted = match self.make_room(size) {
            Ok(evicted) => evicted,
            Err(available) => return bypass(BypassReason::TooLarge { size, available }),
        };
        let serial = self.next_serial;
        self.next_serial += 1;
        let path = CachePath {
            dir: user_dir(user).to_string(),
            file: cache_filename(serial, &base),
        };
        self.used += size;
        self.entries.insert(
            key.clone(),
            Entry {
                serial,
                path: path.clone(),
                state: State::Downloading,
                size,
                refs: 1,
                last_used: self.clock,
            },
        );
        Decision::DownloadAndCache {
            ticket: Ticket { key, serial },
            path,
            evicted,
        }
    }

    /// The fetcher finished a `DOWNLOAD_AND_CACHE`: `Ok(actual size)` or `Err(())`. A smaller file
    /// gives back the difference; a larger one is kept but pushes older unreferenced entries out
    /// (the returned files, to delete); a failure drops the entry so waiters bypass the cache.
    pub fn download_finished(
        &mut self,
        ticket: &Ticket,
        actual: Result<u64, ()>,
    ) -> Vec<CachePath> {
        let Some(entry) = self.entry_mut(ticket) else {
            return Vec::new();
        };
        match actual {
            Ok(size) => {
                let reserved = entry.size;
                entry.size = size;
                entry.state = State::Resident;
                self.used = self.used - reserved + size;
                self.trim_to_capacity()
            }
            Err(()) => {
                self.remove(&ticket.key);
                Vec::new()
            }
        }
    }

    pub fn state(&self, ticket: &Ticket) -> TicketState {
        match self.entries.get(&ticket.key) {
            Some(entry) if entry.serial == ticket.serial => match entry.state {
                State::Downloading => TicketState::Downloading,
                State::Resident => TicketState::Resident(entry.path.clone()),
            },
            _ => TicketState::Gone,
        }
    }

    /// Drops one reference (at the end of a fetch run). Returns files to delete if the cache
    /// was over capacity and this made entries evictable.
    pub fn release(&mut self, ticket: &Ticket) -> Vec<CachePath> {
        let Some(entry) = self.entry_mut(ticket) else {
            return Vec::new();
        };
        entry.refs = entry.refs.saturating_sub(1);
        self.trim_to_capacity()
    }

    /// The cache file of a resident entry vanished (MESOS-7474): forget the entry so the URI is
    /// downloaded again. Outstanding tickets for it become `Gone`.
    pub fn missing_file(&mut self, user: Option<&str>, uri: &str) {
        let key = cache_key(user, uri);
        if self
            .entries
            .get(&key)
            .is_some_and(|e| e.state == State::Resident)
        {
            self.remove(&key);
        }
    }

    /// Agent restart: re-adopts complete cache files that have a key sidecar, oldest serial as
    /// least recently used. Returns the files to delete: partial downloads, files without a key
    /// or with an unparsable name, stale duplicates of a key, and whatever exceeds the capacity.
    pub fn rebuild(&mut self, mut files: Vec<ExistingFile>) -> Vec<CachePath> {
        let mut delete = Vec::new();
        files.sort_by_key(|f| parse_serial(&f.path.file).unwrap_or(0));
        for file in files {
            let serial = parse_serial(&file.path.file);
            let (Some(serial), Some(key), false) =
                (serial, file.key, file.path.file.ends_with(PARTIAL_SUFFIX))
            else {
                delete.push(file.path);
                continue;
            };
            self.next_serial = self.next_serial.max(serial + 1);
            self.clock += 1;
            if let Some(old) = self.entries.remove(&key) {
                self.used -= old.size;
                delete.push(old.path);
            }
            self.used += file.size;
            self.entries.insert(
                key,
                Entry {
                    serial,
                    path: file.path,
                    state: State::Resident,
                    size: file.size,
                    refs: 0,
                    last_used: self.clock,
                },
            );
        }
        delete.extend(self.trim_to_capacity());
        delete
    }

    fn entry_mut(&mut self, ticket: &Ticket) -> Option<&mut Entry> {
        self.entries
            .get_mut(&ticket.key)
            .filter(|entry| entry.serial == ticket.serial)
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.used -= entry.size;
        Some(entry)
    }

    /// Unreferenced resident entries, least recently used first.
    fn victims(&self) -> Vec<(u64, String, u64)> {
        let mut victims: Vec<(u64, String, u64)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.refs == 0 && e.state == State::Resident)
            .map(|(key, e)| (e.last_used, key.clone(), e.size))
            .collect();
        victims.sort();
        victims
    }

    /// Evicts LRU entries until `size` more bytes fit; evicts nothing if they cannot fit even
    /// then (returning the most that could be made available).
    fn make_room(&mut self, size: u64) -> Result<Vec<CachePath>, u64> {
        let available = self.capacity.saturating_sub(self.used);
        if size <= available {
            return Ok(Vec::new());
        }
        let victims = self.victims();
        let freeable: u64 = victims.iter().map(|v| v.2).sum();
        if available + freeable < size {
            return Err(available + freeable);
        }
        let mut evicted = Vec::new();
        for (_, key, _) in victims {
            if self.capacity.saturating_sub(self.used) >= size {
                break;
            }
            if let Some(entry) = self.remove(&key) {
                self.stats.evictions += 1;
                evicted.push(entry.path);
            }
        }
        Ok(evicted)
    }

    fn trim_to_capacity(&mut self) -> Vec<CachePath> {
        let mut evicted = Vec::new();
        for (_, key, _) in self.victims() {
            if self.used <= self.capacity {
                break;
            }
            if let Some(entry) = self.remove(&key) {
                self.stats.evictions += 1;
                evicted.push(entry.path);
            }
        }
        evicted
    }
}

fn bypass(reason: BypassReason) -> Decision {
    Decision::Bypass { reason }
}

/// `c<serial>-...` → serial.
fn parse_serial(file: &str) -> Option<u64> {
    let rest = file.strip_prefix('c')?;
    let (digits, _) = rest.split_once('-')?;
    digits.parse().ok()
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
