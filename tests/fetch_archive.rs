//! `mesolite-fetch` extraction: every archive type Mesos extracts, zip corner cases, and
//! malicious archives that must be refused with nothing written outside the sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fetch_support;

use std::path::{Path, PathBuf};

use fetch_support::*;
use serde_json::json;

/// Fetches `content` saved as `name` into a fresh sandbox; returns (run, sandbox, outside dir).
fn fetch_archive(t: &TempDir, name: &str, content: &[u8]) -> (Run, PathBuf, PathBuf) {
    let src = t.file(&format!("from/{name}"), content);
    let sandbox = t.dir("sandbox");
    let outside = t.dir("outside");
    let run = run_fetch(&request(
        &sandbox,
        &t.path().join("cache"),
        json!([item(src.to_str().unwrap())]),
    ));
    (run, sandbox, outside)
}

#[test]
fn every_tar_flavour_is_extracted_into_the_sandbox_root() {
    let tar = tar_of(&[("dir/hello", b"hello tar"), ("top.txt", b"top")]);
    let flavours: [(&str, Vec<u8>); 7] = [
        ("a.tar", tar.clone()),
        ("a.tgz", gzip(&tar)),
        ("a.tar.gz", gzip(&tar)),
        ("a.tbz2", bzip2(&tar)),
        ("a.tar.bz2", bzip2(&tar)),
        ("a.txz", xz(&tar)),
        ("a.tar.xz", xz(&tar)),
    ];
    for (name, content) in flavours {
        let t = TempDir::new();
        let (run, sandbox, _) = fetch_archive(&t, name, &content);
        assert!(run.ok(), "{name}: {run:?}");
        assert_eq!(read(&sandbox.join("dir/hello")), "hello tar", "{name}");
        assert_eq!(read(&sandbox.join("top.txt")), "top", "{name}");
        // Uncached: the archive stays next to its content.
        assert!(sandbox.join(name).exists(), "{name}");
    }
}

#[test]
fn a_plain_tar_named_tar_gz_is_still_extracted() {
    // Mesos ExtractNotExecutable: libarchive sniffs the format; so do we.
    let t = TempDir::new();
    let (run, sandbox, _) = fetch_archive(&t, "x.tar.gz", &tar_of(&[("file", b"hello world")]));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("file")), "hello world");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(sandbox.join("file"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o111, 0);
}

#[test]
fn bare_gz_is_decompressed_without_its_extension() {
    let t = TempDir::new();
    let (run, sandbox, _) = fetch_archive(&t, "hello.gz", &gzip(b"hello world"));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("hello")), "hello world");
    // Mesos CustomGzipOutputFile: the output name decides.
    let src = t.file("from/other", &gzip(b"renamed"));
    let items = json!([{"uri": {"value": src, "output_file": "custom.gz"}}]);
    let run = run_fetch(&request(&sandbox, t.path(), items));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("custom")), "renamed");
}

#[test]
fn zip_deflated_and_stored() {
    let t = TempDir::new();
    let (run, sandbox, _) = fetch_archive(
        &t,
        "a.zip",
        &deflated_zip(&[("dir/hello", b"hello world\n"), ("x", &[b'x'; 4096])]),
    );
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("dir/hello")), "hello world\n");
    assert_eq!(read(&sandbox.join("x")).len(), 4096);
}

#[test]
fn zip_duplicated_entries_last_wins() {
    let t = TempDir::new();
    let zip = raw_zip(&[Entry::File("A", b"1"), Entry::File("A", b"2")], None);
    let (run, sandbox, _) = fetch_archive(&t, "dup.zip", &zip);
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("A")), "2");
}

#[test]
fn corrupt_archives_fail_the_fetch() {
    let t = TempDir::new();
    let bad_crc = raw_zip(&[Entry::File("A", b"hello")], Some(0xdead_beef));
    let (run, _, _) = fetch_archive(&t, "bad.zip", &bad_crc);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.error().contains("Failed to extract"), "{run:?}");
    let t = TempDir::new();
    let (run, _, _) = fetch_archive(&t, "junk.tgz", b"\x1f\x8bnot really gzip at all");
    assert_eq!(run.code, 1, "{run:?}");
}

/// The archive is refused (the error names `needle`), and `outside` stays empty.
fn assert_refused(run: &Run, outside: &Path, needle: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.error().contains(needle), "wanted {needle:?}: {run:?}");
    assert!(run.stderr.contains("Failed to fetch"), "{}", run.stderr);
    assert!(
        listing(outside).is_empty(),
        "written outside: {:?}",
        listing(outside)
    );
}

#[test]
fn tar_entries_with_absolute_or_parent_names_are_refused() {
    let t = TempDir::new();
    let outside = t.dir("outside");
    let absolute = outside.join("abs-pwned");
    let tar = raw_tar(&[Entry::File(absolute.to_str().unwrap(), b"x")]);
    let (run, _, outside) = fetch_archive(&t, "abs.tar", &tar);
    assert_refused(&run, &outside, "absolute path");

    let t = TempDir::new();
    let tar = raw_tar(&[
        Entry::File("ok", b"fine"),
        Entry::File("../outside/dotdot-pwned", b"x"),
    ]);
    let (run, _, outside) = fetch_archive(&t, "dotdot.tar", &tar);
    assert_refused(&run, &outside, "'..' component");
}

#[test]
fn symlinks_leaving_the_sandbox_are_refused() {
    for target in ["../outside", "/etc", "a/../../outside"] {
        let t = TempDir::new();
        let tar = raw_tar(&[
            Entry::Symlink("evil", target),
            Entry::File("evil/pwned", b"x"),
        ]);
        let (run, sandbox, outside) = fetch_archive(&t, "link.tar", &tar);
        assert_refused(&run, &outside, "symbolic link pointing outside the sandbox");
        assert!(!sandbox.join("evil").exists(), "{target}");
    }
    // The same in a zip.
    let t = TempDir::new();
    let zip = raw_zip(&[Entry::Symlink("evil", "../outside")], None);
    let (run, _, outside) = fetch_archive(&t, "link.zip", &zip);
    assert_refused(&run, &outside, "symbolic link pointing outside the sandbox");
}

#[test]
fn a_link_redirected_by_a_later_link_is_caught() {
    // `x -> a/..` looks harmless by name, until `a -> .` makes it the sandbox's parent.
    let t = TempDir::new();
    let tar = raw_tar(&[Entry::Symlink("x", "a/.."), Entry::Symlink("a", ".")]);
    let (run, sandbox, outside) = fetch_archive(&t, "chain.tar", &tar);
    assert_refused(&run, &outside, "resolving outside the sandbox");
    assert!(std::fs::symlink_metadata(sandbox.join("x")).is_err());
}

#[test]
fn nothing_is_written_through_a_link_already_in_the_sandbox() {
    let t = TempDir::new();
    let sandbox = t.dir("sandbox");
    let outside = t.dir("outside");
    // Planted by an earlier item (or anything else): the extraction must not follow it.
    std::os::unix::fs::symlink(&outside, sandbox.join("planted")).unwrap();
    let tar = raw_tar(&[Entry::File("planted/pwned", b"x")]);
    let src = t.file("from/through.tar", &tar);
    let run = run_fetch(&request(
        &sandbox,
        t.path(),
        json!([item(src.to_str().unwrap())]),
    ));
    assert_refused(&run, &outside, "goes through a symbolic link");
    // An inside link is not written through either.
    let t = TempDir::new();
    let tar = raw_tar(&[
        Entry::Dir("real"),
        Entry::Symlink("alias", "real"),
        Entry::File("alias/f", b"x"),
    ]);
    let (run, sandbox, outside) = fetch_archive(&t, "alias.tar", &tar);
    assert_refused(&run, &outside, "goes through a symbolic link");
    assert!(!sandbox.join("real/f").exists());
}

#[test]
fn an_entry_replacing_a_link_replaces_the_link_not_its_target() {
    let t = TempDir::new();
    let sandbox = t.dir("sandbox");
    let outside = t.dir("outside");
    let victim = t.file("outside/victim", b"original");
    std::os::unix::fs::symlink(&victim, sandbox.join("name")).unwrap();
    let src = t.file("from/replace.tar", &raw_tar(&[Entry::File("name", b"new")]));
    let run = run_fetch(&request(
        &sandbox,
        t.path(),
        json!([item(src.to_str().unwrap())]),
    ));
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&victim), "original");
    assert_eq!(read(&sandbox.join("name")), "new");
    assert!(!std::fs::symlink_metadata(sandbox.join("name"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(listing(&outside), ["victim"]);
}

#[test]
fn hardlinks_leaving_the_sandbox_are_refused() {
    let t = TempDir::new();
    let secret = t.file("outside/secret", b"secret");
    let tar = raw_tar(&[Entry::Hardlink("hl", secret.to_str().unwrap())]);
    let (run, sandbox, _) = fetch_archive(&t, "hl-abs.tar", &tar);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.error()
            .contains("hard link pointing outside the sandbox"),
        "{run:?}"
    );
    assert!(!sandbox.join("hl").exists());

    let t = TempDir::new();
    t.file("outside/secret", b"secret");
    let tar = raw_tar(&[Entry::Hardlink("hl", "../outside/secret")]);
    let (run, sandbox, _) = fetch_archive(&t, "hl-rel.tar", &tar);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.error()
            .contains("hard link pointing outside the sandbox"),
        "{run:?}"
    );
    assert!(!sandbox.join("hl").exists());

    // Through a link that is itself inside: still no.
    let t = TempDir::new();
    let sandbox = t.dir("sandbox");
    let outside = t.dir("outside");
    t.file("outside/secret", b"secret");
    std::os::unix::fs::symlink(&outside, sandbox.join("planted")).unwrap();
    let src = t.file(
        "from/hl.tar",
        &raw_tar(&[Entry::Hardlink("hl", "planted/secret")]),
    );
    let run = run_fetch(&request(
        &sandbox,
        t.path(),
        json!([item(src.to_str().unwrap())]),
    ));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.error().contains("goes through a symbolic link"),
        "{run:?}"
    );
    assert!(!sandbox.join("hl").exists());
}

#[test]
fn well_behaved_links_are_kept() {
    let t = TempDir::new();
    let tar = raw_tar(&[
        Entry::Dir("jre/bin"),
        Entry::File("jre/bin/java", b"java"),
        Entry::Dir("bin"),
        Entry::Symlink("bin/java", "../jre/bin/java"),
        Entry::Hardlink("java-copy", "jre/bin/java"),
    ]);
    let (run, sandbox, _) = fetch_archive(&t, "jdk.tar", &tar);
    assert!(run.ok(), "{run:?}");
    assert_eq!(read(&sandbox.join("bin/java")), "java");
    assert_eq!(read(&sandbox.join("java-copy")), "java");
    let link = std::fs::read_link(sandbox.join("bin/java")).unwrap();
    assert_eq!(link, PathBuf::from("../jre/bin/java"));
}
