//! The App Container spec as far as the agent uses it: image IDs (`sha512-<hex>` of the
//! uncompressed tar, `spec/aci.md`), the image manifest (name, labels, `app`, `dependencies`),
//! the task's `Image.Appc`, and simple discovery (`spec/discovery.md`, Mesos's appc fetcher).

use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha512};

use crate::provisioner::digest::{is_lower_hex, to_hex};
use crate::provisioner::manifest::ImageConfig;

/// What simple discovery uses when the image names no `version` label (Mesos and the spec).
pub const DEFAULT_VERSION: &str = "latest";
/// What simple discovery uses when the image names no `os` label. Mesos refuses such an image;
/// the agent only runs Linux tasks, so it is the one value that makes sense.
pub const DEFAULT_OS: &str = "linux";

/// The appc `arch` label of this machine (`types.ValidOSArch` names: amd64, i386, aarch64...).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "i386",
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    /// An image name that is not an AC Identifier (or could leave the discovery prefix).
    Name { name: String, reason: &'static str },
    /// A label that cannot be used (duplicate, empty, or unusable in a discovery URL).
    Label { name: String, reason: &'static str },
    /// An image ID that is not `sha512-` and 128 lowercase hex digits.
    Id { value: String },
    /// An image manifest that is not valid JSON of the spec's shape.
    Manifest { detail: String },
    /// `--appc_simple_discovery_uri_prefix` of a kind that cannot be fetched.
    Prefix { prefix: String },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::Name { name, reason } => {
                write!(
                    f,
                    "Invalid AppC image name '{}': {reason}",
                    name.escape_debug()
                )
            }
            SpecError::Label { name, reason } => {
                write!(f, "Invalid AppC label '{}': {reason}", name.escape_debug())
            }
            SpecError::Id { value } => write!(
                f,
                "Invalid AppC image id '{}': expected 'sha512-' and 128 lowercase hex digits",
                value.escape_debug()
            ),
            SpecError::Manifest { detail } => write!(f, "Invalid AppC image manifest: {detail}"),
            SpecError::Prefix { prefix } => write!(
                f,
                "Invalid simple discovery URI prefix '{}': expected http://, https://, file:// \
                 or an absolute directory path",
                prefix.escape_debug()
            ),
        }
    }
}

impl std::error::Error for SpecError {}

/// An image ID: the sha512 of the image's uncompressed tar, written `sha512-<128 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageId {
    hex: String,
}

impl ImageId {
    pub fn parse(value: &str) -> Result<ImageId, SpecError> {
        match value.strip_prefix("sha512-") {
            Some(hex) if is_lower_hex(hex, 128) => Ok(ImageId {
                hex: hex.to_string(),
            }),
            _ => Err(SpecError::Id {
                value: value.to_string(),
            }),
        }
    }

    pub fn of_bytes(bytes: &[u8]) -> ImageId {
        ImageId::from_hasher(Sha512::new_with_prefix(bytes))
    }

    fn from_hasher(hasher: Sha512) -> ImageId {
        ImageId {
            hex: to_hex(&hasher.finalize()),
        }
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha512-{}", self.hex)
    }
}

impl TryFrom<String> for ImageId {
    type Error = SpecError;
    fn try_from(value: String) -> Result<ImageId, SpecError> {
        ImageId::parse(&value)
    }
}

impl From<ImageId> for String {
    fn from(id: ImageId) -> String {
        id.to_string()
    }
}

/// Hashes what is read through it: the image ID of a decompressed ACI stream.
#[derive(Debug)]
pub struct IdHashingReader<R> {
    inner: R,
    hasher: Sha512,
    size: u64,
}

impl<R: Read> IdHashingReader<R> {
    pub fn new(inner: R) -> IdHashingReader<R> {
        IdHashingReader {
            inner,
            hasher: Sha512::new(),
            size: 0,
        }
    }

    /// Reads what is left (a tar reader stops at the end-of-archive marker, the ID covers the
    /// padding after it too), then returns the ID and the uncompressed size.
    pub fn finish(mut self) -> io::Result<(ImageId, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((ImageId::from_hasher(self.hasher), self.size))
    }
}

impl<R: Read> Read for IdHashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// A label as the image manifest writes it (`{"name":..,"value":..}`); requests write Mesos's
/// `{"key":..,"value":..}` and are converted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// The labels that take part in simple discovery.
const DISCOVERY_LABELS: [&str; 3] = ["version", "os", "arch"];

/// What a task asks for (`Image.Appc`), validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppcImage {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ImageId>,
}

/// An AC Identifier (`spec/types.md`): lowercase letters, digits and `-._~/@:`, that is also a
/// relative path of plain names (a local discovery prefix is a directory it must not leave).
fn check_name(name: &str) -> Result<(), SpecError> {
    let bad = |reason| {
        Err(SpecError::Name {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~/@:".contains(c);
    if !name.chars().all(allowed) {
        return bad("only lowercase letters, digits and -._~/@: are allowed");
    }
    if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return bad("every '/'-separated part must be a non-empty name other than '.' and '..'");
    }
    Ok(())
}

/// A label value that goes into a discovery file name or URL.
fn check_discovery_value(label: &Label) -> Result<(), SpecError> {
    let bad = |reason| {
        Err(SpecError::Label {
            name: label.name.clone(),
            reason,
        })
    };
    if label.value.is_empty() {
        return bad("its value is empty");
    }
    let forbidden_char =
        |c: char| c == '/' || c.is_whitespace() || c.is_control() || "?#%\\".contains(c);
    if label.value.chars().any(forbidden_char) || label.value == ".." {
        return bad("its value must not contain '/', '?', '#', '%', '\\' or white space");
    }
    Ok(())
}

impl AppcImage {
    pub fn new(
        name: &str,
        labels: Vec<Label>,
        id: Option<ImageId>,
    ) -> Result<AppcImage, SpecError> {
        check_name(name)?;
        for (index, label) in labels.iter().enumerate() {
            if label.name.is_empty() {
                return Err(SpecError::Label {
                    name: String::new(),
                    reason: "its name is empty",
                });
            }
            if labels[..index].iter().any(|l| l.name == label.name) {
                return Err(SpecError::Label {
                    name: label.name.clone(),
                    reason: "it is given twice",
                });
            }
            if DISCOVERY_LABELS.contains(&label.name.as_str()) {
                check_discovery_value(label)?;
            }
        }
        Ok(AppcImage {
            name: name.to_string(),
            labels,
            id,
        })
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    /// The labels discovery uses, defaults filled in: `(name, value, given)`.
    fn discovery_labels(&self) -> [(&'static str, &str, bool); 3] {
        let get = |name: &'static str, default: &'static str| match self.label(name) {
            Some(value) => (name, value, true),
            None => (name, default, false),
        };
        [
            get("version", DEFAULT_VERSION),
            get("os", DEFAULT_OS),
            get("arch", host_arch()),
        ]
    }

    /// Whether a stored image answers this request: the same name; every label the task gave
    /// equal in the manifest; the discovery defaults (version `latest`, this os and arch) equal
    /// too when the manifest has those labels at all (an image without `os`/`arch` runs
    /// anywhere, per the spec). Mesos compares the label sets for equality, so an image whose
    /// manifest has more labels than the task gave is never found again; this is looser.
    pub fn matches(&self, manifest: &AciManifest) -> bool {
        if manifest.name != self.name {
            return false;
        }
        let given_ok = self
            .labels
            .iter()
            .all(|l| manifest.label(&l.name) == Some(l.value.as_str()));
        let defaults_ok = self
            .discovery_labels()
            .iter()
            .filter(|(_, _, given)| !given)
            .all(|(name, value, _)| manifest.label(name).is_none_or(|v| v == *value));
        given_ok && defaults_ok
    }

    /// A stable text naming the request: the key of a fetch in flight, and what logs say.
    pub fn key(&self) -> String {
        let mut labels: Vec<String> = self
            .labels
            .iter()
            .map(|l| format!("{}={}", l.name, l.value))
            .collect();
        labels.sort();
        let mut key = format!("appc:{}", self.name);
        if !labels.is_empty() {
            key.push_str(&format!("[{}]", labels.join(",")));
        }
        if let Some(id) = &self.id {
            key.push_str(&format!("@{id}"));
        }
        key
    }
}

impl fmt::Display for AppcImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key().trim_start_matches("appc:"))
    }
}

/// Simple discovery's file name: `<name>-<version>-<os>-<arch>.aci`.
pub fn discovery_path(image: &AppcImage) -> String {
    let [version, os, arch] = image.discovery_labels().map(|(_, value, _)| value);
    format!("{}-{version}-{os}-{arch}.aci", image.name)
}

/// Where simple discovery finds an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoverySource {
    /// `http://` or `https://`.
    Url(String),
    /// A local directory prefix (an absolute path, or `file://` and one).
    File(PathBuf),
}

/// Checks `--appc_simple_discovery_uri_prefix` (as Mesos's appc fetcher does at creation).
pub fn check_prefix(prefix: &str) -> Result<(), SpecError> {
    let local = prefix.strip_prefix("file://").unwrap_or(prefix);
    let ok =
        prefix.starts_with("http://") || prefix.starts_with("https://") || local.starts_with('/');
    if ok && !prefix.contains('\0') {
        Ok(())
    } else {
        Err(SpecError::Prefix {
            prefix: prefix.to_string(),
        })
    }
}

/// `<prefix><name>-<version>-<os>-<arch>.aci` as a URL or a file. The prefix is used as given
/// (Mesos concatenates too): a directory prefix wants its trailing `/`.
pub fn discovery_source(prefix: &str, image: &AppcImage) -> Result<DiscoverySource, SpecError> {
    check_prefix(prefix)?;
    let path = discovery_path(image);
    if prefix.starts_with("http://") || prefix.starts_with("https://") {
        return Ok(DiscoverySource::Url(format!("{prefix}{path}")));
    }
    let local = prefix.strip_prefix("file://").unwrap_or(prefix);
    Ok(DiscoverySource::File(PathBuf::from(format!(
        "{local}{path}"
    ))))
}

/// `app.environment[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// The manifest's `app`: what `appc/runtime` applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    #[serde(default)]
    pub exec: Vec<String>,
    #[serde(default)]
    pub environment: Vec<EnvVar>,
    #[serde(default)]
    pub working_directory: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

/// One of the manifest's `dependencies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    #[serde(rename = "imageName")]
    pub image_name: String,
    #[serde(rename = "imageID", default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// An image manifest (`spec/aci.md`), the fields the agent reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AciManifest {
    pub ac_kind: String,
    #[serde(default)]
    pub ac_version: String,
    pub name: String,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub app: Option<App>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
}

impl AciManifest {
    pub fn parse(bytes: &[u8]) -> Result<AciManifest, SpecError> {
        let manifest: AciManifest =
            serde_json::from_slice(bytes).map_err(|e| SpecError::Manifest {
                detail: e.to_string(),
            })?;
        if manifest.ac_kind != "ImageManifest" {
            return Err(SpecError::Manifest {
                detail: format!("acKind is '{}', not 'ImageManifest'", manifest.ac_kind),
            });
        }
        check_name(&manifest.name).map_err(|e| SpecError::Manifest {
            detail: e.to_string(),
        })?;
        Ok(manifest)
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    /// The dependencies as images to find (in the manifest's order: the first is the bottom).
    pub fn dependency_images(&self) -> Result<Vec<AppcImage>, SpecError> {
        self.dependencies
            .iter()
            .map(|d| {
                let id = d.image_id.as_deref().map(ImageId::parse).transpose()?;
                AppcImage::new(&d.image_name, d.labels.clone(), id)
            })
            .collect()
    }

    /// `app` in the shape docker/runtime's config has, for the shared merge with the command
    /// (Mesos's appc/runtime: `exec` as the command when the task gives no value, arguments
    /// replacing `exec[1..]`, `environment`, `workingDirectory`; `user`/`group` are not applied,
    /// as in Mesos).
    pub fn image_config(&self) -> ImageConfig {
        let Some(app) = &self.app else {
            return ImageConfig::default();
        };
        ImageConfig {
            entrypoint: None,
            cmd: Some(app.exec.clone()).filter(|e| !e.is_empty()),
            env: app
                .environment
                .iter()
                .map(|e| format!("{}={}", e.name, e.value))
                .collect(),
            working_dir: app.working_directory.clone().filter(|d| !d.is_empty()),
            user: None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn names_labels_and_ids_are_checked() {
        assert!(AppcImage::new("example.com/busybox", vec![], None).is_ok());
        for bad in [
            "",
            "Upper/case",
            "a//b",
            "../etc",
            "a/../../b",
            "/abs",
            "a b",
            "x/",
        ] {
            assert!(AppcImage::new(bad, vec![], None).is_err(), "{bad:?}");
        }
        let twice = vec![label("version", "1"), label("version", "2")];
        let err = AppcImage::new("a", twice, None).unwrap_err().to_string();
        assert!(err.contains("given twice"), "{err}");
        for value in ["1/../../x", "", "a b", "1?x"] {
            let labels = vec![label("version", value)];
            assert!(AppcImage::new("a", labels, None).is_err(), "{value:?}");
        }
        // Labels that are not used in discovery may hold anything.
        assert!(AppcImage::new("a", vec![label("env", "a/b c")], None).is_ok());
        let hex = "ab".repeat(64);
        let id = ImageId::parse(&format!("sha512-{hex}")).unwrap();
        assert_eq!(id.to_string(), format!("sha512-{hex}"));
        for bad in [
            hex.clone(),
            format!("sha256-{hex}"),
            format!("sha512-{}", &hex[2..]),
        ] {
            assert!(ImageId::parse(&bad).is_err(), "{bad}");
        }
        assert!(ImageId::parse(&format!("sha512-{}", hex.to_uppercase())).is_err());
    }

    #[test]
    fn the_id_is_the_sha512_of_the_uncompressed_bytes() {
        // sha512("abc"), FIPS 180-2.
        let abc = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                   2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
        assert_eq!(
            ImageId::of_bytes(b"abc").to_string(),
            format!("sha512-{abc}")
        );
        let mut reader = IdHashingReader::new(&b"abc"[..]);
        let mut first = [0u8; 1];
        reader.read_exact(&mut first).unwrap();
        // What the tar reader left is hashed too.
        let (id, size) = reader.finish().unwrap();
        assert_eq!((id.to_string(), size), (format!("sha512-{abc}"), 3));
    }

    #[test]
    fn simple_discovery_uris() {
        let image = AppcImage::new("example.com/busybox", vec![label("version", "1.0")], None);
        let image = image.unwrap();
        let arch = host_arch();
        assert_eq!(
            discovery_path(&image),
            format!("example.com/busybox-1.0-linux-{arch}.aci")
        );
        assert_eq!(
            discovery_source("http://127.0.0.1:8080/", &image).unwrap(),
            DiscoverySource::Url(format!(
                "http://127.0.0.1:8080/example.com/busybox-1.0-linux-{arch}.aci"
            ))
        );
        let all = vec![label("os", "freebsd"), label("arch", "i386")];
        let image = AppcImage::new("x", all, None).unwrap();
        assert_eq!(
            discovery_source("file:///srv/aci/", &image).unwrap(),
            DiscoverySource::File("/srv/aci/x-latest-freebsd-i386.aci".into())
        );
        assert_eq!(
            discovery_source("/srv/", &image).unwrap(),
            DiscoverySource::File("/srv/x-latest-freebsd-i386.aci".into())
        );
        for bad in ["ftp://h/", "relative/", "hdfs://x/"] {
            assert!(discovery_source(bad, &image).is_err(), "{bad}");
        }
    }

    const MANIFEST: &str = r#"{"acKind":"ImageManifest","acVersion":"0.8.11",
        "name":"example.com/app","labels":[{"name":"version","value":"1.0"},
        {"name":"os","value":"linux"}],
        "app":{"exec":["/bin/sh","-c","echo hi"],"user":"0","group":"0",
               "environment":[{"name":"A","value":"b=c"}],"workingDirectory":"/etc"},
        "dependencies":[{"imageName":"example.com/base","labels":[{"name":"version","value":"2"}]}]}"#;

    #[test]
    fn manifests_parse_into_the_runtime_config() {
        let m = AciManifest::parse(MANIFEST.as_bytes()).unwrap();
        let config = m.image_config();
        assert_eq!(config.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(config.entrypoint, None);
        assert_eq!(config.env, ["A=b=c"]);
        assert_eq!(config.working_dir.as_deref(), Some("/etc"));
        assert_eq!(config.user, None);
        let deps = m.dependency_images().unwrap();
        assert_eq!(deps.len(), 1);
        assert_eq!(deps[0].name, "example.com/base");
        assert_eq!(deps[0].label("version"), Some("2"));
        let bad_kind = MANIFEST.replace("ImageManifest", "PodManifest");
        assert!(AciManifest::parse(bad_kind.as_bytes()).is_err());
        assert!(AciManifest::parse(b"{").is_err());
        let bad_dep =
            MANIFEST.replace(r#""imageName":"example.com/base""#, r#""imageName":"../x""#);
        assert!(AciManifest::parse(bad_dep.as_bytes())
            .unwrap()
            .dependency_images()
            .is_err());
        let no_app = r#"{"acKind":"ImageManifest","name":"a"}"#;
        let m = AciManifest::parse(no_app.as_bytes()).unwrap();
        assert_eq!(m.image_config(), ImageConfig::default());
    }

    #[test]
    fn stored_manifests_match_by_name_and_labels() {
        let m = AciManifest::parse(MANIFEST.as_bytes()).unwrap();
        let want = |labels: Vec<Label>| AppcImage::new("example.com/app", labels, None).unwrap();
        assert!(want(vec![label("version", "1.0")]).matches(&m));
        assert!(want(vec![label("version", "1.0"), label("os", "linux")]).matches(&m));
        assert!(!want(vec![label("version", "2.0")]).matches(&m));
        // No version asked: `latest`, which this manifest is not.
        assert!(!want(vec![]).matches(&m));
        assert!(!want(vec![label("version", "1.0"), label("env", "x")]).matches(&m));
        // The manifest has no arch: it runs on any, unless the task names one.
        assert!(!want(vec![label("version", "1.0"), label("arch", "zz")]).matches(&m));
        let other = AppcImage::new("example.com/other", vec![label("version", "1.0")], None);
        assert!(!other.unwrap().matches(&m));
    }

    #[test]
    fn keys_are_stable() {
        let a = AppcImage::new("a", vec![label("version", "1"), label("os", "linux")], None);
        let b = AppcImage::new("a", vec![label("os", "linux"), label("version", "1")], None);
        assert_eq!(a.unwrap().key(), b.unwrap().key());
        assert_eq!(AppcImage::new("a", vec![], None).unwrap().key(), "appc:a");
    }
}
