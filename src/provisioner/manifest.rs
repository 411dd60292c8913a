//! Docker schema 2 manifests, OCI image manifests, manifest lists / OCI indexes (Mesos never
//! supported these last two), and the image config that `docker/runtime` applies.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::provisioner::digest::Digest;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// The `Accept` header of a manifest request: every kind we can read.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A pointer to a blob or manifest, as manifests and indexes carry them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// One image for one platform: a config blob and layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    /// A manifest list or OCI index: one manifest per platform.
    Index(Vec<Descriptor>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// Not JSON of any manifest shape we read.
    Parse { detail: String },
    /// Schema 1 and other kinds we do not read.
    Unsupported { media_type: String },
    /// An index without an entry for this platform.
    NoPlatform {
        architecture: String,
        available: Vec<String>,
    },
    /// A layer compressed in a way we cannot unpack (zstd).
    UnsupportedLayer { media_type: String },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Parse { detail } => write!(f, "Failed to parse the manifest: {detail}"),
            ManifestError::Unsupported { media_type } => {
                write!(f, "Unsupported manifest type '{media_type}'")
            }
            ManifestError::NoPlatform {
                architecture,
                available,
            } => write!(
                f,
                "The image has no manifest for linux/{architecture} (it has: {})",
                available.join(", ")
            ),
            ManifestError::UnsupportedLayer { media_type } => {
                write!(f, "Unsupported layer media type '{media_type}'")
            }
        }
    }
}

impl std::error::Error for ManifestError {}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// Parses a manifest body; `content_type` is the HTTP `Content-Type` when there is one (the
/// body's own `mediaType` decides otherwise, and the shape when neither says).
pub fn parse_manifest(content_type: Option<&str>, body: &[u8]) -> Result<Manifest, ManifestError> {
    let raw: RawManifest = serde_json::from_slice(body).map_err(|e| ManifestError::Parse {
        detail: e.to_string(),
    })?;
    let declared = raw
        .media_type
        .clone()
        .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    if raw.schema_version == Some(1)
        || declared.starts_with("application/vnd.docker.distribution.manifest.v1")
    {
        return Err(ManifestError::Unsupported {
            media_type: if declared.is_empty() {
                "schema 1".to_string()
            } else {
                declared
            },
        });
    }
    match (raw.manifests, raw.config, raw.layers) {
        (Some(manifests), _, _) => Ok(Manifest::Index(manifests)),
        (None, Some(config), Some(layers)) => {
            if let Some(layer) = layers.iter().find(|l| l.media_type.contains("zstd")) {
                return Err(ManifestError::UnsupportedLayer {
                    media_type: layer.media_type.clone(),
                });
            }
            Ok(Manifest::Image(ImageManifest { config, layers }))
        }
        _ => Err(ManifestError::Unsupported {
            media_type: if declared.is_empty() {
                "unknown".to_string()
            } else {
                declared
            },
        }),
    }
}

/// Docker's name for this machine's architecture.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The index entry for `linux/<architecture>` (attestation entries, `unknown/unknown`, never
/// match). With several variants (arm64 v8...), the first listed wins, as Docker does.
pub fn pick_platform<'a>(
    entries: &'a [Descriptor],
    architecture: &str,
) -> Result<&'a Descriptor, ManifestError> {
    entries
        .iter()
        .find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == architecture)
        })
        .ok_or_else(|| ManifestError::NoPlatform {
            architecture: architecture.to_string(),
            available: entries
                .iter()
                .filter_map(|e| e.platform.as_ref())
                .map(|p| format!("{}/{}", p.os, p.architecture))
                .collect(),
        })
}

/// What `docker/runtime` takes from the image config (`config` in the config blob).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Deserialize)]
struct RawConfigBlob {
    #[serde(default)]
    config: Option<RawConfig>,
}

/// Docker writes `null` for absent lists; these are read leniently, then normalised.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

/// Parses an image config blob (Docker's or OCI's, the same shape for these fields).
pub fn parse_config(body: &[u8]) -> Result<ImageConfig, ManifestError> {
    let raw: RawConfigBlob = serde_json::from_slice(body).map_err(|e| ManifestError::Parse {
        detail: format!("image config: {e}"),
    })?;
    let Some(config) = raw.config else {
        return Ok(ImageConfig::default());
    };
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(ImageConfig {
        entrypoint: config.entrypoint,
        cmd: config.cmd,
        env: config.env.unwrap_or_default(),
        working_dir: non_empty(config.working_dir),
        user: non_empty(config.user),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn docker_schema2_and_oci_manifests() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"{DOCKER_CONFIG}","size":7,"digest":"{A}"}},
            "layers":[{{"mediaType":"{DOCKER_LAYER}","size":10,"digest":"{B}"}},
                      {{"mediaType":"{DOCKER_LAYER}","size":11,"digest":"{C}"}}]}}"#
        );
        let Manifest::Image(m) = parse_manifest(None, body.as_bytes()).unwrap() else {
            panic!("not an image manifest");
        };
        assert_eq!(m.config.digest.to_string(), A);
        let layers: Vec<String> = m.layers.iter().map(|l| l.digest.to_string()).collect();
        assert_eq!(layers, [B, C]);
        assert_eq!(m.layers[1].size, 11);
        // OCI manifests may omit mediaType; the Content-Type and the shape suffice.
        let oci = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_CONFIG}","size":1,"digest":"{A}"}},
            "layers":[{{"mediaType":"{OCI_LAYER}","size":2,"digest":"{B}"}}]}}"#
        );
        let parsed = parse_manifest(Some(OCI_MANIFEST), oci.as_bytes());
        assert!(matches!(parsed, Ok(Manifest::Image(_))), "{parsed:?}");
    }

    #[test]
    fn index_picks_this_platform() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{A}","size":1,
              "platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{C}","size":1,
              "platform":{{"architecture":"unknown","os":"unknown"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{B}","size":1,
              "platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let Manifest::Index(entries) = parse_manifest(None, body.as_bytes()).unwrap() else {
            panic!("not an index");
        };
        assert_eq!(
            pick_platform(&entries, "amd64").unwrap().digest.to_string(),
            B
        );
        assert_eq!(
            pick_platform(&entries, "arm64").unwrap().digest.to_string(),
            A
        );
        let err = pick_platform(&entries, "s390x").unwrap_err().to_string();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/amd64"),
            "{err}"
        );
    }

    #[test]
    fn refused_kinds_say_what_they_are() {
        let v1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(parse_manifest(None, v1)
            .unwrap_err()
            .to_string()
            .contains("schema 1"));
        let zstd = format!(
            r#"{{"config":{{"digest":"{A}"}},"layers":[{{"mediaType":"{OCI_LAYER}+zstd","digest":"{B}"}}]}}"#
        );
        assert!(parse_manifest(None, zstd.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("zstd"));
        assert!(matches!(
            parse_manifest(None, b"[1"),
            Err(ManifestError::Parse { .. })
        ));
    }

    #[test]
    fn config_fields_for_docker_runtime() {
        let body = br#"{"architecture":"amd64","config":{"Cmd":["/bin/sh","-c","echo hi"],
            "Entrypoint":null,"Env":["PATH=/bin","A=b"],"WorkingDir":"","User":"nobody"},
            "rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config = parse_config(body).unwrap();
        assert_eq!(
            config.cmd.as_deref(),
            Some(&["/bin/sh".to_string(), "-c".into(), "echo hi".into()][..])
        );
        assert_eq!(config.entrypoint, None);
        assert_eq!(config.env, ["PATH=/bin", "A=b"]);
        assert_eq!(config.working_dir, None);
        assert_eq!(config.user.as_deref(), Some("nobody"));
        assert_eq!(parse_config(b"{}").unwrap(), ImageConfig::default());
    }
}
