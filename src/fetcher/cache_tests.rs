//! Unit tests of the cache index, including Mesos's fetcher_cache_tests scenarios that concern
//! the index (SimpleEviction, FallbackFromEviction, RemoveLRUCacheEntries, LocalCachedMissing,
//! HttpCachedConcurrent's one-download rule).

use super::*;

const S: u64 = 1000;

fn uri(n: u32) -> String {
    format!("http://127.0.0.1:9/cmd{n}")
}

/// One whole task run: look up, download if told to (with `actual` bytes), release.
fn run_task(cache: &mut Cache, n: u32, size: u64) -> Decision {
    let decision = cache.lookup_or_reserve(None, &uri(n), Some(size));
    match &decision {
        Decision::DownloadAndCache { ticket, .. } => {
            cache.download_finished(ticket, Ok(size));
            cache.release(ticket);
        }
        Decision::RetrieveFromCache { ticket, .. } | Decision::WaitForDownload { ticket, .. } => {
            cache.release(ticket);
        }
        Decision::Bypass { .. } => {}
    }
    decision
}

fn resident_uris(cache: &Cache, max: u32) -> Vec<u32> {
    (0..max)
        .filter(|n| cache.lookup(None, &uri(*n)) == Lookup::Resident)
        .collect()
}

#[test]
fn a_download_then_a_hit_from_the_same_file() {
    let mut cache = Cache::new(10 * S);
    let Decision::DownloadAndCache { path, evicted, .. } = run_task(&mut cache, 0, S) else {
        panic!("expected a download");
    };
    assert!(evicted.is_empty());
    assert_eq!(path.dir, "root");
    assert_eq!(path.file, "c1-cmd0");
    assert_eq!(path.relative(), PathBuf::from("root/c1-cmd0"));
    assert_eq!(path.key_sidecar(), PathBuf::from("root/c1-cmd0.key"));
    let Decision::RetrieveFromCache { path: hit, .. } = run_task(&mut cache, 0, S) else {
        panic!("expected a hit");
    };
    assert_eq!(hit, path);
    assert_eq!(cache.used_bytes(), S);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
}

#[test]
fn concurrent_runs_of_one_uri_download_it_once() {
    let mut cache = Cache::new(10 * S);
    let Decision::DownloadAndCache {
        ticket: first,
        path,
        ..
    } = cache.lookup_or_reserve(None, &uri(0), Some(S))
    else {
        panic!("expected a download");
    };
    let waiters: Vec<Ticket> = (0..4)
        .map(|_| match cache.lookup_or_reserve(None, &uri(0), None) {
            Decision::WaitForDownload { ticket, path: p } => {
                assert_eq!(p, path);
                ticket
            }
            other => panic!("expected a wait, got {other:?}"),
        })
        .collect();
    assert_eq!(cache.lookup(None, &uri(0)), Lookup::Downloading);
    assert_eq!(cache.state(&waiters[0]), TicketState::Downloading);
    assert!(cache.download_finished(&first, Ok(S)).is_empty());
    for waiter in &waiters {
        assert_eq!(cache.state(waiter), TicketState::Resident(path.clone()));
    }
    // Referenced by four waiters: a competitor needing all the space cannot evict it.
    cache.release(&first);
    assert!(matches!(
        cache.lookup_or_reserve(None, &uri(1), Some(10 * S)),
        Decision::Bypass {
            reason: BypassReason::TooLarge { .. }
        }
    ));
    for waiter in &waiters {
        cache.release(waiter);
    }
    assert!(matches!(
        cache.lookup_or_reserve(None, &uri(1), Some(10 * S)),
        Decision::DownloadAndCache { ref evicted, .. } if evicted == std::slice::from_ref(&path)
    ));
}

#[test]
fn a_failed_download_sends_waiters_to_bypass_and_a_late_release_is_harmless() {
    let mut cache = Cache::new(10 * S);
    let Decision::DownloadAndCache { ticket: first, .. } =
        cache.lookup_or_reserve(None, &uri(0), Some(S))
    else {
        panic!("expected a download");
    };
    let Decision::WaitForDownload { ticket: waiter, .. } =
        cache.lookup_or_reserve(None, &uri(0), Some(S))
    else {
        panic!("expected a wait");
    };
    cache.download_finished(&first, Err(()));
    assert_eq!(cache.state(&waiter), TicketState::Gone);
    assert_eq!(cache.used_bytes(), 0);
    assert_eq!(cache.lookup(None, &uri(0)), Lookup::Absent);

    // A new attempt gets a new generation; the old tickets' releases must not unpin it.
    let Decision::DownloadAndCache {
        ticket: second,
        path,
        ..
    } = cache.lookup_or_reserve(None, &uri(0), Some(S))
    else {
        panic!("expected a new download");
    };
    assert_eq!(path.file, "c2-cmd0");
    cache.release(&first);
    cache.release(&waiter);
    cache.download_finished(&second, Ok(S));
    assert!(matches!(
        cache.lookup_or_reserve(None, &uri(1), Some(10 * S)),
        Decision::Bypass { .. }
    ));
}

#[test]
fn simple_eviction_keeps_two_of_four() {
    // Mesos SimpleEviction: cache = 2 scripts, 4 tasks → entries 1, 2, 2, 2.
    let mut cache = Cache::new(2 * S);
    let mut entries = Vec::new();
    let mut evicted_all = Vec::new();
    for n in 0..4 {
        if let Decision::DownloadAndCache { evicted, .. } = run_task(&mut cache, n, S) {
            evicted_all.extend(evicted.into_iter().map(|p| p.file));
        } else {
            panic!("task {n} should download");
        }
        entries.push(cache.stats().entries);
    }
    assert_eq!(entries, vec![1, 2, 2, 2]);
    assert_eq!(evicted_all, vec!["c1-cmd0", "c2-cmd1"]);
    assert_eq!(cache.stats().evictions, 2);
    assert_eq!(resident_uris(&cache, 4), vec![2, 3]);
}

#[test]
fn fallback_from_eviction() {
    // Mesos FallbackFromEviction: cache = S+10.
    let mut cache = Cache::new(S + 10);
    assert!(matches!(
        run_task(&mut cache, 0, S),
        Decision::DownloadAndCache { .. }
    ));
    assert_eq!(cache.capacity() - cache.used_bytes(), 10);
    let Decision::DownloadAndCache { evicted, .. } = run_task(&mut cache, 1, S + 10) else {
        panic!("task 1 should evict task 0 and download");
    };
    assert_eq!(evicted.len(), 1);
    assert_eq!(cache.used_bytes(), cache.capacity());
    let decision = run_task(&mut cache, 2, S + 20);
    let Decision::Bypass { reason } = decision else {
        panic!("task 2 is bigger than the cache");
    };
    assert!(reason
        .to_string()
        .contains("Could not free up enough fetcher cache space"));
    assert_eq!(cache.stats().entries, 1);
    assert_eq!(resident_uris(&cache, 3), vec![1]);
}

#[test]
fn remove_lru_cache_entries() {
    // Mesos RemoveLRUCacheEntries: access cmd0, cmd1, cmd1, cmd2 → cmd1 and cmd2 remain.
    let mut cache = Cache::new(2 * S);
    for n in [0, 1, 1, 2] {
        run_task(&mut cache, n, S);
    }
    assert_eq!(resident_uris(&cache, 3), vec![1, 2]);
    // And recency, not insertion order, decides: cmd0, cmd1, cmd0, cmd2 → cmd1 goes.
    let mut cache = Cache::new(2 * S);
    for n in [0, 1, 0, 2] {
        run_task(&mut cache, n, S);
    }
    assert_eq!(resident_uris(&cache, 3), vec![0, 2]);
}

#[test]
fn local_cached_missing_downloads_again() {
    // Mesos LocalCachedMissing (MESOS-7474).
    let mut cache = Cache::new(10 * S);
    run_task(&mut cache, 0, S);
    cache.missing_file(None, &uri(0));
    assert_eq!(cache.lookup(None, &uri(0)), Lookup::Absent);
    assert_eq!(cache.used_bytes(), 0);
    let Decision::DownloadAndCache { path, .. } = run_task(&mut cache, 0, S) else {
        panic!("expected a fresh download");
    };
    assert_eq!(path.file, "c2-cmd0");
    assert_eq!((cache.stats().entries, cache.used_bytes()), (1, S));
}

#[test]
fn actual_size_corrects_the_reservation() {
    let mut cache = Cache::new(3 * S);
    run_task(&mut cache, 0, S);
    // Smaller than probed: the difference is given back.
    let Decision::DownloadAndCache { ticket, .. } = cache.lookup_or_reserve(None, &uri(1), Some(S))
    else {
        panic!();
    };
    assert!(cache.download_finished(&ticket, Ok(S / 2)).is_empty());
    cache.release(&ticket);
    assert_eq!(cache.used_bytes(), S + S / 2);
    // Larger than probed and over capacity: the least recently used unreferenced entry goes,
    // never the one in use.
    let Decision::DownloadAndCache { ticket, .. } = cache.lookup_or_reserve(None, &uri(2), Some(S))
    else {
        panic!();
    };
    let evicted = cache.download_finished(&ticket, Ok(2 * S));
    assert_eq!(
        evicted.iter().map(|p| p.file.as_str()).collect::<Vec<_>>(),
        ["c1-cmd0"]
    );
    assert_eq!(cache.used_bytes(), S / 2 + 2 * S);
    assert!(cache.used_bytes() <= cache.capacity());
    cache.release(&ticket);
    assert_eq!(resident_uris(&cache, 3), vec![1, 2]);
}

#[test]
fn bypass_cases_take_no_reference() {
    let mut disabled = Cache::new(0);
    assert!(matches!(
        disabled.lookup_or_reserve(None, &uri(0), Some(1)),
        Decision::Bypass {
            reason: BypassReason::Disabled
        }
    ));
    let mut cache = Cache::new(S);
    assert!(matches!(
        cache.lookup_or_reserve(None, &uri(0), None),
        Decision::Bypass {
            reason: BypassReason::UnknownSize
        }
    ));
    assert!(matches!(
        cache.lookup_or_reserve(None, "lala://nopath", Some(1)),
        Decision::Bypass {
            reason: BypassReason::BadUri(_)
        }
    ));
    assert_eq!((cache.stats().entries, cache.used_bytes()), (0, 0));
}

#[test]
fn users_have_their_own_entries_and_directories() {
    let mut cache = Cache::new(10 * S);
    let Decision::DownloadAndCache { path: a, .. } =
        cache.lookup_or_reserve(Some("alice"), &uri(0), Some(S))
    else {
        panic!();
    };
    let Decision::DownloadAndCache { path: b, .. } =
        cache.lookup_or_reserve(Some("bob"), &uri(0), Some(S))
    else {
        panic!("bob must not share alice's download");
    };
    assert_eq!((a.dir.as_str(), b.dir.as_str()), ("alice", "bob"));
    assert_ne!(a.file, b.file);
    assert_eq!(cache.lookup(None, &uri(0)), Lookup::Absent);
}

#[test]
fn rebuild_adopts_keyed_files_and_discards_the_rest() {
    let file = |dir: &str, name: &str, size, key: Option<&str>| ExistingFile {
        path: CachePath {
            dir: dir.into(),
            file: name.into(),
        },
        size,
        key: key.map(str::to_string),
    };
    let mut cache = Cache::new(2 * S);
    let delete = cache.rebuild(vec![
        file("root", "c5-cmd0", S, Some(&uri(0))),
        file("root", "c9-cmd1.partial", S, Some(&uri(1))),
        file("root", "c3-orphan", S, None),
        file("root", "junk", 1, Some("x")),
        file("alice", "c7-cmd2", S, Some(&format!("alice@{}", uri(2)))),
        file("root", "c8-cmd3", S, Some(&uri(3))),
        file("root", "c2-cmd0", S, Some(&uri(0))),
    ]);
    let mut deleted: Vec<&str> = delete.iter().map(|p| p.file.as_str()).collect();
    deleted.sort();
    // c2-cmd0 is an older copy of cmd0; c5-cmd0 is then the LRU one once over capacity.
    assert_eq!(
        deleted,
        ["c2-cmd0", "c3-orphan", "c5-cmd0", "c9-cmd1.partial", "junk"]
    );
    assert_eq!(cache.used_bytes(), 2 * S);
    assert_eq!(cache.lookup(Some("alice"), &uri(2)), Lookup::Resident);
    assert!(matches!(
        cache.lookup_or_reserve(None, &uri(3), Some(S)),
        Decision::RetrieveFromCache { .. }
    ));
    // New serials continue after the highest seen, so no name is reused.
    let mut cache = Cache::new(10 * S);
    cache.rebuild(vec![file("root", "c41-cmd0", S, Some(&uri(0)))]);
    let Decision::DownloadAndCache { path, .. } = cache.lookup_or_reserve(None, &uri(1), Some(S))
    else {
        panic!();
    };
    assert_eq!(path.file, "c42-cmd1");
}
