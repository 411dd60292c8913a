//! Docker image references, `[host[:port]/]repo[:tag|@digest]`, with Docker's defaults: no host
//! means the configured registry (`--docker_registry`), a single-component name there gets the
//! `library/` prefix, and no tag means `latest`.

use std::fmt;

use crate::provisioner::digest::Digest;

/// A parsed image name. `registry: None` means `--docker_registry` decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    pub registry: Option<String>,
    /// With the `library/` prefix when Docker's rules add it.
    pub repository: String,
    /// The repository as written (no `library/` added): how local archives are named.
    pub name: String,
    /// `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// Why an image name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    pub value: String,
    pub reason: String,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid Docker image reference '{}': {}",
            self.value, self.reason
        )
    }
}

impl std::error::Error for ReferenceError {}

fn is_name_component(part: &str) -> bool {
    // [a-z0-9]+ separated by '.', '_', '__' or any number of '-'.
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

fn is_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    port_ok && name_ok
}

impl ImageReference {
    pub fn parse(value: &str) -> Result<ImageReference, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        if value.is_empty() {
            return Err(err("empty name"));
        }
        let (rest, digest) = match value.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(Digest::parse(digest).map_err(|e| err(&e.to_string()))?),
            ),
            None => (value, None),
        };
        // A ':' after the last '/' starts the tag; one before it belongs to host:port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(err("invalid tag"));
            }
        }
        let (registry, name) = match path.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !is_host(first) {
                    return Err(err("invalid registry host"));
                }
                (Some(first.to_string()), rest)
            }
            _ => (None, path),
        };
        if name.is_empty() {
            return Err(err("empty repository name"));
        }
        if !name.split('/').all(is_name_component) {
            return Err(err(
                "repository name components must be lowercase letters and digits, \
                 separated by '.', '_', '__' or '-'",
            ));
        }
        let repository = if registry.is_none() && !name.contains('/') {
            format!("library/{name}")
        } else {
            name.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageReference {
            registry,
            repository,
            name: name.to_string(),
            tag,
            digest,
        })
    }

    /// What goes after `/manifests/`: the digest when pinned (it wins over a tag), else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

/// The canonical form, `[host/]repository[:tag][@digest]`: the key of the image in the store.
impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(registry) = &self.registry {
            write!(f, "{registry}/")?;
        }
        write!(f, "{}", self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn docker_defaults() {
        let r = ImageReference::parse("busybox").unwrap();
        assert_eq!(r.registry, None);
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.name, "busybox");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.to_string(), "library/busybox:latest");
        let r = ImageReference::parse("me/app:1.0").unwrap();
        assert_eq!(
            (r.repository.as_str(), r.tag.as_deref()),
            ("me/app", Some("1.0"))
        );
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        let r = ImageReference::parse("127.0.0.1:5000/busybox:musl").unwrap();
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository, "busybox");
        assert_eq!(r.tag.as_deref(), Some("musl"));
        let r = ImageReference::parse("localhost/a/b").unwrap();
        assert_eq!(r.registry.as_deref(), Some("localhost"));
        assert_eq!(r.repository, "a/b");
        let r = ImageReference::parse(&format!("quay.io/x/y@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_reference(), D);
        let r = ImageReference::parse(&format!("y:t@{D}")).unwrap();
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(r.to_string(), format!("library/y:t@{D}"));
        let r = ImageReference::parse("host:5000/x").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
    }

    #[test]
    fn bad_names_say_why() {
        for (bad, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("a//b", "lowercase"),
            ("busybox:", "tag"),
            ("busybox:-x", "tag"),
            ("busybox@sha256:12", "digest"),
            ("a..b", "lowercase"),
            ("quay.io/", "empty repository"),
            ("bad_host:x/y", "registry host"),
        ] {
            let err = ImageReference::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(ImageReference::parse("a__b-c.d--e").is_ok());
    }
}
