//! URI rules shared by the agent and `mesolite-fetch`, with Mesos's messages
//! (`src/slave/containerizer/fetcher.cpp`, `src/launcher/fetcher.cpp`).

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Why a URI (or its output file) cannot be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriError {
    /// `\`, `'` or NUL: Mesos refuses them because the old fetcher passed URIs through a shell.
    IllegalCharacters { uri: String },
    /// `scheme://host` with nothing after the host, or a path with no file name.
    MissingPath { uri: String },
    /// A relative path and no `--frameworks_home` to resolve it against.
    RelativeWithoutFrameworksHome { uri: String },
    /// `file://` naming a host other than localhost.
    RemoteFileHost { uri: String },
    /// An absolute output file, or one with a `..` component (MESOS-9610).
    OutputFileOutsideSandbox { output_file: String },
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::IllegalCharacters { .. } => write!(f, "Illegal characters in URI"),
            UriError::MissingPath { uri } => write!(f, "Malformed URI (missing path): {uri}"),
            UriError::RelativeWithoutFrameworksHome { .. } => write!(
                f,
                "A relative path was passed for the resource but the Mesos framework home was not \
                 specified. Please either provide this config option or avoid using a relative path"
            ),
            UriError::RemoteFileHost { uri } => {
                write!(f, "File URI with a host other than localhost: {uri}")
            }
            UriError::OutputFileOutsideSandbox { output_file } => write!(
                f,
                "URI output file must be within the sandbox directory: '{output_file}'"
            ),
        }
    }
}

impl std::error::Error for UriError {}

/// Schemes fetched with libcurl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetScheme {
    Http,
    Https,
    Ftp,
    Ftps,
}

/// Where a URI's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Downloaded with libcurl; `url` is the (trimmed) URI.
    Net { scheme: NetScheme, url: String },
    /// A local file (from `file://`, an absolute path, or a path under the frameworks home).
    Local(PathBuf),
    /// Any other scheme (`hdfs://`, `s3://`, ...): handed to `hadoop fs -copyToLocal`.
    Hadoop(String),
}

/// Mesos trims leading whitespace of URIs (MESOS-2862).
pub fn trim(uri: &str) -> &str {
    uri.trim_start()
}

/// `scheme` if the URI starts with `scheme://`, where Mesos counts a scheme only if it is longer
/// than one character (so `C://x` stays a path).
fn scheme(uri: &str) -> Option<&str> {
    let index = uri.find("://")?;
    (index > 1).then(|| &uri[..index])
}

/// The file name Mesos gives a fetched URI: the text after the last `/` (query strings kept).
pub fn basename(uri: &str) -> Result<String, UriError> {
    if uri.contains(['\\', '\'', '\0']) {
        return Err(UriError::IllegalCharacters {
            uri: uri.to_string(),
        });
    }
    let missing = || UriError::MissingPath {
        uri: uri.to_string(),
    };
    if let Some(scheme) = scheme(uri) {
        let rest = &uri[scheme.len() + 3..];
        let slash = rest.find('/').ok_or_else(missing)?;
        if rest.len() <= slash + 1 {
            return Err(missing());
        }
        let name = &rest[rest.rfind('/').map_or(0, |i| i + 1)..];
        return if name.is_empty() {
            Err(missing())
        } else {
            Ok(name.to_string())
        };
    }
    // A plain path: like stout's Path::basename, trailing slashes do not count.
    let name = uri.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        return Err(missing());
    }
    Ok(name.to_string())
}

/// Checks an `output_file` and returns it as a normalised relative path inside the sandbox.
pub fn validate_output_file(output_file: &str) -> Result<PathBuf, UriError> {
    let outside = || UriError::OutputFileOutsideSandbox {
        output_file: output_file.to_string(),
    };
    let mut relative = PathBuf::new();
    for component in Path::new(output_file).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => {
                return Err(outside())
            }
        }
    }
    if relative.as_os_str().is_empty() || output_file.contains('\0') {
        return Err(outside());
    }
    Ok(relative)
}

/// Decides how a (trimmed) URI is fetched.
pub fn classify(uri: &str, frameworks_home: Option<&Path>) -> Result<Source, UriError> {
    match scheme(uri).map(str::to_ascii_lowercase).as_deref() {
        Some("http") => Ok(net(NetScheme::Http, uri)),
        Some("https") => Ok(net(NetScheme::Https, uri)),
        Some("ftp") => Ok(net(NetScheme::Ftp, uri)),
        Some("ftps") => Ok(net(NetScheme::Ftps, uri)),
        Some("file") => {
            let rest = &uri["file://".len()..];
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if path.starts_with('/') {
                Ok(Source::Local(PathBuf::from(path)))
            } else {
                Err(UriError::RemoteFileHost {
                    uri: uri.to_string(),
                })
            }
        }
        Some(_) => Ok(Source::Hadoop(uri.to_string())),
        None if uri.starts_with('/') => Ok(Source::Local(PathBuf::from(uri))),
        None => match frameworks_home {
            Some(home) if !home.as_os_str().is_empty() => Ok(Source::Local(home.join(uri))),
            _ => Err(UriError::RelativeWithoutFrameworksHome {
                uri: uri.to_string(),
            }),
        },
    }
}

fn net(scheme: NetScheme, uri: &str) -> Source {
    Source::Net {
        scheme,
        url: uri.to_string(),
    }
}

/// The cache file name for a new entry: `c<serial>-<basename>`, a basename longer than 20
/// characters shortened to its first 10 + `_` + last 10 (so the extension survives).
pub fn cache_filename(serial: u64, basename: &str) -> String {
    let chars: Vec<char> = basename.chars().collect();
    let short: String = if chars.len() > 20 {
        let head: String = chars[..10].iter().collect();
        let tail: String = chars[chars.len() - 10..].iter().collect();
        format!("{head}_{tail}")
    } else {
        basename.to_string()
    };
    format!("c{serial}-{short}")
}

/// The cache key: `user@uri`, or the bare URI without a user (its own namespace, as in Mesos).
pub fn cache_key(user: Option<&str>, uri: &str) -> String {
    match user {
        Some(user) => format!("{user}@{uri}"),
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_takes_text_after_last_slash_keeping_queries() {
        assert_eq!(basename("http://h:80/a/b.tgz").unwrap(), "b.tgz");
        assert_eq!(basename("http://h/x?y=1").unwrap(), "x?y=1");
        assert_eq!(basename("file:///tmp/test").unwrap(), "test");
        assert_eq!(basename("/tmp/dir/f.txt").unwrap(), "f.txt");
        assert_eq!(basename("rel/f").unwrap(), "f");
        assert_eq!(basename("f").unwrap(), "f");
        assert_eq!(basename("/tmp/dir/").unwrap(), "dir");
    }

    #[test]
    fn basename_errors_use_mesos_messages() {
        for bad in ["http://h/a\\b", "/tmp/it's", "/tmp/a\0b"] {
            let err = basename(bad).unwrap_err();
            assert_eq!(err.to_string(), "Illegal characters in URI", "{bad:?}");
        }
        for bad in ["lala://nopath", "http://host/", "http://host"] {
            let err = basename(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("Malformed URI (missing path)"),
                "{bad}: {err}"
            );
        }
        assert!(basename("/").is_err());
    }

    #[test]
    fn output_file_must_stay_inside_the_sandbox() {
        assert_eq!(
            validate_output_file("subdir/custom.txt").unwrap(),
            PathBuf::from("subdir/custom.txt")
        );
        assert_eq!(
            validate_output_file("./a//b").unwrap(),
            PathBuf::from("a/b")
        );
        for bad in [
            "/subdir/custom.txt",
            "../x",
            "a/../../x",
            "a/..",
            "",
            ".",
            "./",
        ] {
            let err = validate_output_file(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("URI output file must be within the sandbox directory"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn classify_follows_the_scheme() {
        let net = |s| classify(s, None).unwrap();
        assert!(matches!(
            net("http://h/x"),
            Source::Net {
                scheme: NetScheme::Http,
                ..
            }
        ));
        assert!(matches!(
            net("HTTPS://h/x"),
            Source::Net {
                scheme: NetScheme::Https,
                ..
            }
        ));
        assert!(matches!(
            net("ftp://h/x"),
            Source::Net {
                scheme: NetScheme::Ftp,
                ..
            }
        ));
        assert!(matches!(
            net("ftps://h/x"),
            Source::Net {
                scheme: NetScheme::Ftps,
                ..
            }
        ));
        assert_eq!(net("hdfs://nn/x"), Source::Hadoop("hdfs://nn/x".into()));
        assert_eq!(net("s3://b/x"), Source::Hadoop("s3://b/x".into()));
        assert_eq!(net("file:///a/b"), Source::Local("/a/b".into()));
        assert_eq!(net("file://localhost/a/b"), Source::Local("/a/b".into()));
        assert_eq!(net("/a/b"), Source::Local("/a/b".into()));
        assert!(matches!(
            classify("file://elsewhere/a", None),
            Err(UriError::RemoteFileHost { .. })
        ));
    }

    #[test]
    fn relative_paths_need_the_frameworks_home() {
        let err = classify("test", None).unwrap_err().to_string();
        assert!(err.starts_with(
            "A relative path was passed for the resource but the Mesos framework home was not \
             specified"
        ));
        assert!(classify("test", Some(Path::new(""))).is_err());
        assert_eq!(
            classify("sub/test", Some(Path::new("/home/fw"))).unwrap(),
            Source::Local("/home/fw/sub/test".into())
        );
    }

    #[test]
    fn trim_removes_leading_whitespace_only() {
        assert_eq!(trim("\r\n\t http://h/x "), "http://h/x ");
    }

    #[test]
    fn cache_filenames_are_short_and_keep_the_extension() {
        assert_eq!(cache_filename(7, "cmd0"), "c7-cmd0");
        assert_eq!(
            cache_filename(1, "exactly_twenty_chars"),
            "c1-exactly_twenty_chars"
        );
        assert_eq!(
            cache_filename(12, "a-very-long-archive-name-1.2.3.tar.gz"),
            "c12-a-very-lon_2.3.tar.gz"
        );
        // Multi-byte names are cut on character boundaries, not bytes.
        assert_eq!(
            cache_filename(3, &"é".repeat(25)),
            format!("c3-{}_{}", "é".repeat(10), "é".repeat(10))
        );
    }

    #[test]
    fn cache_keys_separate_users() {
        assert_eq!(cache_key(Some("alice"), "http://h/x"), "alice@http://h/x");
        assert_eq!(cache_key(None, "http://h/x"), "http://h/x");
        assert_ne!(cache_key(Some("a"), "u"), cache_key(Some("b"), "u"));
    }
}
