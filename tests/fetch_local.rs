//! `mesolite-fetch` with local sources: Mesos's fetcher_tests cases that need no network, the
//! cache actions, the user switch, and probes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fetch_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use fetch_support::*;
use serde_json::json;

#[test]
fn file_uri_lands_in_the_sandbox_and_logs_mesos_texts() {
    let t = TempDir::new();
    let src = t.file("from/test", b"data");
    let sandbox = t.dir("sandbox");
    let uri = format!("file://{}", src.display());
    let run = run_fetch(&request(
        &sandbox,
        &t.path().join("cache"),
        json!([item(&uri)]),
    ));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("test")), "data");
    assert_eq!(run.lines, vec![json!({"index": 0, "ok": true, "size": 4})]);
    assert!(run.stderr.contains(&format!("Fetching URI '{uri}'")));
    assert!(run.stderr.contains("directly into the sandbox directory"));
    assert!(run.stderr.contains(&format!(
        "Successfully fetched all URIs into '{}'",
        sandbox.display()
    )));
    // No cache action: no cache directory is made.
    assert!(!t.path().join("cache").exists());
}

#[test]
fn missing_file_fails_and_stops_at_the_first_failure() {
    let t = TempDir::new();
    let good = t.file("good", b"g");
    let sandbox = t.dir("sandbox");
    let items = json!([item("/nonexistent/file"), item(good.to_str().unwrap())]);
    let run = run_fetch(&request(&sandbox, t.path(), items));
    assert_eq!(run.code, 1);
    assert_eq!(run.lines.len(), 1, "{run:?}");
    assert_eq!(run.lines[0]["ok"], json!(false));
    assert!(
        run.stderr.contains("Failed to fetch '/nonexistent/file'"),
        "{}",
        run.stderr
    );
    assert!(!sandbox.join("good").exists());
    assert!(!sandbox.join("file").exists());
}

#[test]
fn absolute_localhost_and_space_prefixed_paths() {
    let t = TempDir::new();
    let src = t.file("from/test", b"data");
    let sandbox = t.dir("sandbox");
    for (i, uri) in [
        src.display().to_string(),
        format!("file://localhost{}", src.display()),
        format!("\r\n\t {}", src.display()),
    ]
    .iter()
    .enumerate()
    {
        let out = format!("out{i}");
        let items = json!([{"uri": {"value": uri, "output_file": out}}]);
        let run = run_fetch(&request(&sandbox, t.path(), items));
        assert!(run.ok(), "{uri:?}: {run:?}");
        assert_eq!(read(&sandbox.join(&out)), "data");
    }
}

#[test]
fn relative_path_needs_frameworks_home() {
    let t = TempDir::new();
    let from = t.dir("from");
    t.file("from/test", b"data");
    let sandbox = t.dir("sandbox");
    let mut req = request(&sandbox, t.path(), json!([item("test")]));
    let run = run_fetch(&req);
    assert_eq!(run.code, 1);
    assert!(
        run.error().contains(
            "A relative path was passed for the resource but the Mesos \
                                   framework home was not specified"
        ),
        "{run:?}"
    );
    req["frameworks_home"] = json!(from);
    let run = run_fetch(&req);
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("test")), "data");
}

#[test]
fn output_file_may_have_subdirectories_but_not_leave_the_sandbox() {
    let t = TempDir::new();
    let src = t.file("from/test", b"data");
    let sandbox = t.dir("sandbox");
    let fetch = |out: &str| {
        let items = json!([{"uri": {"value": src, "output_file": out}}]);
        run_fetch(&request(&sandbox, &t.path().join("cache"), items))
    };
    let run = fetch("subdir/custom.txt");
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("subdir/custom.txt")), "data");
    for bad in [
        "/subdir/custom.txt",
        "../escaped.txt",
        "subdir/../../escaped.txt",
    ] {
        let run = fetch(bad);
        assert_eq!(run.code, 1, "{bad}");
        assert!(
            run.error()
                .contains("URI output file must be within the sandbox directory"),
            "{bad}: {run:?}"
        );
    }
    assert!(!t.path().join("escaped.txt").exists());
    assert!(!std::path::Path::new("/subdir/custom.txt").exists());
}

#[test]
fn malformed_uri_is_refused() {
    let t = TempDir::new();
    let sandbox = t.dir("sandbox");
    let run = run_fetch(&request(&sandbox, t.path(), json!([item("lala://nopath")])));
    assert_eq!(run.code, 1);
    assert!(run.error().contains("Malformed"), "{run:?}");
}

#[test]
fn executable_bit_and_no_extract() {
    let t = TempDir::new();
    let src = t.file("from/script", b"#!/bin/sh\n");
    let sandbox = t.dir("sandbox");
    let items = json!([
        {"uri": {"value": src, "executable": false, "extract": false, "output_file": "plain"}},
        {"uri": {"value": src, "executable": true, "output_file": "exe"}},
    ]);
    let run = run_fetch(&request(&sandbox, t.path(), items));
    assert!(run.ok(), "{run:?}");
    let mode = |name: &str| {
        std::fs::metadata(sandbox.join(name))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(mode("plain") & 0o111, 0);
    assert_eq!(mode("exe") & 0o777, 0o755);
}

#[test]
fn non_archive_with_extract_is_copied_under_its_output_name() {
    let t = TempDir::new();
    let src = t.file("from/notes.txt", b"keep me");
    let sandbox = t.dir("sandbox");
    let items = json!([{"uri": {"value": src, "output_file": "renamed.txt"}}]);
    let run = run_fetch(&request(&sandbox, t.path(), items));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("renamed.txt")), "keep me");
    assert!(
        run.stderr.contains("Copying instead of extracting"),
        "{}",
        run.stderr
    );
}

#[test]
fn hadoop_schemes_use_the_hadoop_client() {
    let t = TempDir::new();
    let home = t.dir("hadoop");
    let script = t.file(
        "hadoop/bin/hadoop",
        b"#!/bin/sh\n[ \"$1 $2\" = 'fs -copyToLocal' ] || exit 3\ncp \"${3#hdfs://localhost}\" \"$4\"\n",
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = t.file("from/data.txt", b"from hdfs");
    let sandbox = t.dir("sandbox");
    let uri = format!("hdfs://localhost{}", src.display());
    let mut req = request(&sandbox, t.path(), json!([item(&uri)]));
    req["hadoop_home"] = json!(home);
    let run = run_fetch(&req);
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("data.txt")), "from hdfs");
}

#[test]
fn download_and_cache_then_retrieve_then_missing() {
    let t = TempDir::new();
    let src = t.file("from/cmd", b"#!/bin/sh\necho hi\n");
    let cache = t.path().join("cache/root");
    let cached = |action: &str, out: &str| {
        json!({"uri": {"value": src, "executable": true, "cache": true, "output_file": out},
               "action": action, "cache_filename": "c1-cmd"})
    };
    let first = t.dir("sandbox1");
    let run = run_fetch(&request(
        &first,
        &cache,
        json!([cached("DOWNLOAD_AND_CACHE", "cmd")]),
    ));
    assert!(run.ok(), "{run:?}");
    assert_eq!(run.lines[0]["size"], json!(18));
    assert_eq!(read(&cache.join("c1-cmd")), "#!/bin/sh\necho hi\n");
    assert_eq!(read(&cache.join("c1-cmd.key")), src.display().to_string());
    assert!(!cache.join("c1-cmd.partial").exists());
    // The source can go away: the second run reads only the cache.
    std::fs::remove_file(&src).unwrap();
    let second = t.dir("sandbox2");
    let items = json!([cached("RETRIEVE_FROM_CACHE", "sub/cmd")]);
    let run = run_fetch(&request(&second, &cache, items.clone()));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&second.join("sub/cmd")), "#!/bin/sh\necho hi\n");
    let mode = std::fs::metadata(second.join("sub/cmd"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    // A vanished cache file is reported as such, for the agent to download again.
    std::fs::remove_file(cache.join("c1-cmd")).unwrap();
    let run = run_fetch(&request(&t.dir("sandbox3"), &cache, items));
    assert_eq!(run.code, 1);
    assert_eq!(run.lines[0]["cache_file_missing"], json!(true), "{run:?}");
    assert!(run.error().starts_with("Cache file missing"));
}

#[test]
fn cached_archive_delivers_only_its_content() {
    let t = TempDir::new();
    let src = t.file(
        "from/bundle.tar.gz",
        &gzip(&tar_of(&[("dir/hello", b"hello tar")])),
    );
    let cache = t.path().join("cache/root");
    let uncached = t.dir("uncached");
    let run = run_fetch(&request(
        &uncached,
        &cache,
        json!([item(src.to_str().unwrap())]),
    ));
    assert!(run.ok(), "{run:?}");
    assert_eq!(listing(&uncached), ["bundle.tar.gz", "dir", "dir/hello"]);
    let cached = t.dir("cached");
    let items = json!([{"uri": {"value": src, "cache": true}, "action": "DOWNLOAD_AND_CACHE",
                        "cache_filename": "c4-bundle.tar.gz"}]);
    let run = run_fetch(&request(&cached, &cache, items));
    assert!(run.ok(), "{run:?}");
    assert_eq!(listing(&cached), ["dir", "dir/hello"]);
    assert_eq!(read(&cached.join("dir/hello")), "hello tar");
}

#[test]
fn cache_filename_must_be_a_plain_name() {
    let t = TempDir::new();
    let src = t.file("from/x", b"x");
    let sandbox = t.dir("sandbox");
    for name in ["../x", "a/b", ""] {
        let items = json!([{"uri": {"value": src}, "action": "DOWNLOAD_AND_CACHE",
                            "cache_filename": name}]);
        let run = run_fetch(&request(&sandbox, &t.path().join("cache"), items));
        assert_eq!(run.code, 1, "{name}");
        assert!(run.error().contains("Invalid cache file name"), "{run:?}");
    }
}

#[test]
fn probe_reports_local_sizes_and_errors() {
    let t = TempDir::new();
    let src = t.file("from/five", b"12345");
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let mut req = request(
        &t.dir("sandbox"),
        t.path(),
        json!([
            item(src.to_str().unwrap()),
            item(link.to_str().unwrap()),
            item("/nope")
        ]),
    );
    req["mode"] = json!("probe");
    let run = run_fetch(&req);
    assert!(run.ok(), "{run:?}");
    assert_eq!(run.lines[0], json!({"index": 0, "size": 5}));
    assert_eq!(run.lines[1], json!({"index": 1, "size": 5}));
    assert_eq!(run.lines[2]["size"], json!(null));
    assert!(run.lines[2]["error"].as_str().unwrap().contains("/nope"));
}

#[test]
fn fetching_as_nobody_cannot_read_root_only_files() {
    if !is_root() {
        eprintln!("SKIPPED fetching_as_nobody_cannot_read_root_only_files: needs root");
        return;
    }
    let t = TempDir::new();
    let secret = t.file("from/secret", b"root only");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = t.file("from/public", b"anyone");
    let sandbox = t.dir("sandbox");
    std::os::unix::fs::chown(&sandbox, Some(65534), Some(65534)).unwrap();
    let cache = t.path().join("cache/nobody");
    let fetch = |src: &std::path::Path, action: &str| {
        let mut req = request(
            &sandbox,
            &cache,
            json!([{"uri": {"value": src}, "action": action, "cache_filename": "c1-x"}]),
        );
        req["user"] = json!("nobody");
        run_fetch(&req)
    };
    let run = fetch(&secret, "BYPASS_CACHE");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.error().contains("Permission denied"), "{run:?}");
    assert!(!sandbox.join("secret").exists());
    // The same setup works for a readable file, and files are the user's.
    let run = fetch(&public, "DOWNLOAD_AND_CACHE");
    assert!(run.ok(), "{run:?}");
    assert_eq!(
        std::fs::metadata(sandbox.join("public")).unwrap().uid(),
        65534
    );
    assert_eq!(std::fs::metadata(&cache).unwrap().uid(), 65534);
    assert_eq!(std::fs::metadata(cache.join("c1-x")).unwrap().uid(), 65534);
}

#[test]
fn invalid_user_fails_before_fetching() {
    let t = TempDir::new();
    let src = t.file("from/x", b"x");
    let sandbox = t.dir("sandbox");
    let mut req = request(&sandbox, t.path(), json!([item(src.to_str().unwrap())]));
    req["user"] = json!("no-such-user-mlfetch");
    let run = run_fetch(&req);
    assert_eq!(run.code, 1);
    assert!(run.error().contains("no-such-user-mlfetch"), "{run:?}");
    assert!(run.error().contains("chown"), "{run:?}");
    assert!(!sandbox.join("x").exists());
}

#[test]
fn bad_requests_are_refused() {
    let t = TempDir::new();
    let run = run_fetch(&json!({"mode": "fetch"}));
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Invalid fetch request"), "{run:?}");
    let huge = "x".repeat(2 * 1024 * 1024);
    let run = run_fetch(&request(&t.dir("s"), t.path(), json!([item(&huge)])));
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("larger than"), "{run:?}");
}
