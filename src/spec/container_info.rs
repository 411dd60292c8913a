//! `container` (Mesos's ContainerInfo): what isolators need beyond the command.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use crate::provisioner::appc::spec::Label;
use crate::provisioner::appc::{AppcImage, ImageId};
use crate::provisioner::ImageReference;
use crate::sys::caps::Capability;
use crate::sys::rlimit::{Resource, UNLIMITED};

/// The parts of ContainerInfo mesolite acts on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerInfo {
    /// False for the default value (the request gave no `container`): then the agent's
    /// `--default_container_info` applies.
    pub given: bool,
    pub hostname: Option<String>,
    pub volumes: Vec<Volume>,
    pub rlimits: Vec<RLimit>,
    pub linux: LinuxInfo,
    /// `mesos.image`: the container's root filesystem comes from this image.
    pub image: Option<Image>,
    /// `network_infos`: the networks it joins (none: the host's network).
    pub network_infos: Vec<super::NetworkInfo>,
}

/// `mesos.image`.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub spec: ImageSpec,
    /// False forces a pull even when the store has the image (Mesos's `cached`).
    pub cached: bool,
}

/// What `mesos.image` names, by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSpec {
    Docker {
        /// `docker.name` as given (a local registry's archives are named after it).
        name: String,
        /// `docker.name`, parsed.
        reference: ImageReference,
    },
    /// `appc`: `name`, `labels`, `id`.
    Appc(AppcImage),
}

impl Image {
    /// Names the image among pulls in flight: launches of one key share one pull.
    pub fn key(&self) -> String {
        match &self.spec {
            ImageSpec::Docker { reference, .. } => reference.to_string(),
            ImageSpec::Appc(appc) => appc.key(),
        }
    }
}

/// Mesos's Volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Absolute, or relative to the sandbox; never with `..`.
    pub container_path: PathBuf,
    pub mode: VolumeMode,
    pub source: VolumeSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeMode {
    Rw,
    Ro,
}

/// Where a volume's contents come from.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeSource {
    /// The legacy `host_path` field (filesystem/shared): absolute, or relative to the sandbox.
    Legacy(PathBuf),
    /// `source.host_path.path` (volume/host_path): absolute.
    HostPath(PathBuf),
    /// `source.sandbox_path` of type SELF (volume/sandbox_path): relative to the sandbox.
    SandboxPath(PathBuf),
}

/// One of `rlimit_info.rlimits`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RLimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

/// The parts of LinuxInfo mesolite acts on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinuxInfo {
    pub effective_capabilities: Option<Vec<Capability>>,
    pub bounding_capabilities: Option<Vec<Capability>>,
    pub seccomp: Option<Seccomp>,
}

/// `linux_info.seccomp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    Profile(String),
    Unconfined,
}

impl ContainerInfo {
    /// Parses a ContainerInfo object (of a request, or of `--default_container_info`).
    pub fn from_json(v: &Value) -> Result<ContainerInfo, String> {
        parse(v)
    }
}

/// ContainerInfo: MESOS containers, with or without a DOCKER image.
pub fn parse(v: &Value) -> Result<ContainerInfo, String> {
    let obj = v.as_object().ok_or("'container' must be an object")?;
    match obj.get("type").and_then(Value::as_str).unwrap_or("MESOS") {
        "MESOS" => {}
        other => {
            return Err(format!(
                "Unsupported container type {other}: only MESOS is enabled"
            ))
        }
    }
    let image = match obj.get("mesos").and_then(|m| m.get("image")) {
        None | Some(Value::Null) => None,
        Some(i) => Some(parse_image(i)?),
    };
    let network_infos = match obj.get("network_infos") {
        None | Some(Value::Null) => Vec::new(),
        Some(n) => super::network::parse_network_infos(n)?,
    };
    for unsupported in ["docker"] {
        if obj
            .get(unsupported)
            .is_some_and(|x| !x.is_null() && x != &Value::Array(vec![]))
        {
            return Err(format!("'container.{unsupported}' is not supported yet"));
        }
    }
    let hostname = match obj.get("hostname") {
        None | Some(Value::Null) => None,
        Some(h) => {
            let h = h.as_str().ok_or("'container.hostname' must be a string")?;
            if h.is_empty() || h.len() > 64 || h.contains('\0') {
                return Err(format!("invalid hostname '{}'", h.escape_debug()));
            }
            Some(h.to_string())
        }
    };
    let volumes = match obj.get("volumes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_volume(v).map_err(|e| format!("'container.volumes[{i}]': {e}")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("'container.volumes' must be an array".into()),
    };
    let rlimits = match obj.get("rlimit_info") {
        None | Some(Value::Null) => Vec::new(),
        Some(r) => parse_rlimits(r)?,
    };
    let linux = match obj.get("linux_info") {
        None | Some(Value::Null) => LinuxInfo::default(),
        Some(l) => parse_linux_info(l)?,
    };
    Ok(ContainerInfo {
        given: true,
        hostname,
        volumes,
        rlimits,
        linux,
        image,
        network_infos,
    })
}

/// `mesos.image`: `{"type":"DOCKER","docker":{"name":..},"cached":true}` or
/// `{"type":"APPC","appc":{"name":..,"labels":{"labels":[{"key":..,"value":..}]},"id":..}}`.
fn parse_image(v: &Value) -> Result<Image, String> {
    let obj = v
        .as_object()
        .ok_or("'container.mesos.image' must be an object")?;
    let spec = match obj.get("type").and_then(Value::as_str) {
        Some("DOCKER") => parse_docker(obj)?,
        Some("APPC") => ImageSpec::Appc(parse_appc(obj)?),
        Some(other) => return Err(format!("Unsupported image type '{other}'")),
        None => return Err("'container.mesos.image.type' is required".into()),
    };
    let cached = match obj.get("cached") {
        None | Some(Value::Null) => true,
        Some(c) => c
            .as_bool()
            .ok_or("'container.mesos.image.cached' must be a boolean")?,
    };
    Ok(Image { spec, cached })
}

fn parse_docker(obj: &Map<String, Value>) -> Result<ImageSpec, String> {
    let name = obj
        .get("docker")
        .and_then(|d| d.get("name"))
        .and_then(Value::as_str)
        .ok_or("'container.mesos.image.docker.name' is required and must be a string")?;
    let reference = ImageReference::parse(name).map_err(|e| e.to_string())?;
    Ok(ImageSpec::Docker {
        name: name.to_string(),
        reference,
    })
}

/// `Image.Appc`: `name` (required), `labels` (a Mesos `Labels`), `id`.
fn parse_appc(obj: &Map<String, Value>) -> Result<AppcImage, String> {
    const WHAT: &str = "container.mesos.image.appc";
    let appc = obj
        .get("appc")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("'{WHAT}' is required for an APPC image and must be an object"))?;
    let name = str_field(appc, "name", &format!("{WHAT}.name"))?;
    let id = match appc.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(ImageId::parse(id).map_err(|e| e.to_string())?),
        Some(_) => return Err(format!("'{WHAT}.id' must be a string")),
    };
    let labels = match appc.get("labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(l)) => match l.get("labels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let item = item.as_object().ok_or_else(|| {
                        format!("'{WHAT}.labels.labels' must hold {{\"key\",\"value\"}} objects")
                    })?;
                    Ok(Label {
                        name: str_field(item, "key", &format!("{WHAT}.labels.labels[].key"))?
                            .to_string(),
                        value: str_field(item, "value", &format!("{WHAT}.labels.labels[].value"))?
                            .to_string(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
            Some(_) => return Err(format!("'{WHAT}.labels.labels' must be an array")),
        },
        Some(_) => {
            return Err(format!(
                "'{WHAT}.labels' must be an object: {{\"labels\":[{{\"key\":..,\"value\":..}}]}}"
            ))
        }
    };
    AppcImage::new(name, labels, id).map_err(|e| e.to_string())
}

/// A path without `..` (and without NUL): what a volume may name.
fn clean_path(text: &str, what: &str) -> Result<PathBuf, String> {
    if text.is_empty() || text.contains('\0') {
        return Err(format!("'{what}' must be a non-empty path"));
    }
    let path = PathBuf::from(text);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("'{what}' must not contain '..': '{text}'"));
    }
    Ok(path)
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str, String> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("'{what}' is required and must be a string"))
}

fn parse_volume(v: &Value) -> Result<Volume, String> {
    let obj = v.as_object().ok_or("must be an object")?;
    let container_path = clean_path(
        str_field(obj, "container_path", "container_path")?,
        "container_path",
    )?;
    let mode = match obj.get("mode").and_then(Value::as_str) {
        Some("RW") => VolumeMode::Rw,
        Some("RO") => VolumeMode::Ro,
        _ => return Err("'mode' is required: RW or RO".into()),
    };
    if obj.get("image").is_some_and(|i| !i.is_null()) {
        return Err("image volumes are not supported yet".into());
    }
    let source = match (obj.get("host_path"), obj.get("source")) {
        (Some(h), None) => {
            let h = h.as_str().ok_or("'host_path' must be a string")?;
            VolumeSource::Legacy(clean_path(h, "host_path")?)
        }
        (None, Some(s)) => parse_source(s)?,
        (Some(_), Some(_)) => return Err("give 'host_path' or 'source', not both".into()),
        (None, None) => return Err("'host_path' or 'source' is required".into()),
    };
    Ok(Volume {
        container_path,
        mode,
        source,
    })
}

fn parse_source(v: &Value) -> Result<VolumeSource, String> {
    let obj = v.as_object().ok_or("'source' must be an object")?;
    match obj.get("type").and_then(Value::as_str) {
        Some("HOST_PATH") => {
            let hp = obj
                .get("host_path")
                .and_then(Value::as_object)
                .ok_or("'source.host_path' is required for HOST_PATH")?;
            let path = clean_path(
                str_field(hp, "path", "source.host_path.path")?,
                "source.host_path.path",
            )?;
            if !path.is_absolute() {
                return Err("'source.host_path.path' must be absolute".into());
            }
            if hp.get("mount_propagation").is_some_and(|m| !m.is_null()) {
                return Err("'source.host_path.mount_propagation' is not supported".into());
            }
            Ok(VolumeSource::HostPath(path))
        }
        Some("SANDBOX_PATH") => {
            let sp = obj
                .get("sandbox_path")
                .and_then(Value::as_object)
                .ok_or("'source.sandbox_path' is required for SANDBOX_PATH")?;
            match sp.get("type").and_then(Value::as_str).unwrap_or("SELF") {
                "SELF" => {}
                other => {
                    return Err(format!(
                        "'source.sandbox_path.type' {other} is not supported (only SELF)"
                    ))
                }
            }
            let path = clean_path(
                str_field(sp, "path", "source.sandbox_path.path")?,
                "source.sandbox_path.path",
            )?;
            if path.is_absolute() {
                return Err("'source.sandbox_path.path' must be relative to the sandbox".into());
            }
            Ok(VolumeSource::SandboxPath(path))
        }
        Some(other) => Err(format!("volume source type {other} is not supported")),
        None => Err("'source.type' is required".into()),
    }
}

fn parse_rlimits(v: &Value) -> Result<Vec<RLimit>, String> {
    let items = match v.get("rlimits") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("'container.rlimit_info.rlimits' must be an array".into()),
    };
    let mut out: Vec<RLimit> = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .get("type")
            .and_then(Value::as_str)
            .ok_or("every rlimit needs a string 'type'")?;
        let resource =
            Resource::parse(name).ok_or_else(|| format!("unknown rlimit type '{name}'"))?;
        if out.iter().any(|r| r.resource == resource) {
            return Err(format!("rlimit {name} is given twice"));
        }
        let bound = |key: &str| -> Result<Option<u64>, String> {
            match item.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(n) => n
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| format!("rlimit {name}: '{key}' must be a whole number")),
            }
        };
        // As Mesos: both bounds, or neither (unlimited).
        let (soft, hard) = match (bound("soft")?, bound("hard")?) {
            (Some(s), Some(h)) if s <= h => (s, h),
            (Some(s), Some(h)) => {
                return Err(format!(
                    "rlimit {name}: soft limit {s} is above the hard limit {h}"
                ))
            }
            (None, None) => (UNLIMITED, UNLIMITED),
            _ => {
                return Err(format!(
                    "rlimit {name}: give both 'soft' and 'hard', or neither for unlimited"
                ))
            }
        };
        out.push(RLimit {
            resource,
            soft,
            hard,
        });
    }
    Ok(out)
}

fn parse_caps(v: Option<&Value>, what: &str) -> Result<Option<Vec<Capability>>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let list = match v.get("capabilities") {
        None | Some(Value::Null) => return Ok(Some(Vec::new())),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(format!("'{what}.capabilities' must be an array")),
    };
    list.iter()
        .map(|c| {
            c.as_str()
                .ok_or_else(|| format!("'{what}.capabilities' must hold names"))
                .and_then(|name| Capability::parse(name).map_err(|e| format!("'{what}': {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_linux_info(v: &Value) -> Result<LinuxInfo, String> {
    let obj = v
        .as_object()
        .ok_or("'container.linux_info' must be an object")?;
    let effective_capabilities = parse_caps(
        obj.get("effective_capabilities"),
        "linux_info.effective_capabilities",
    )?;
    let bounding_capabilities = parse_caps(
        obj.get("bounding_capabilities"),
        "linux_info.bounding_capabilities",
    )?;
    let seccomp = match obj.get("seccomp") {
        None | Some(Value::Null) => None,
        Some(s) => {
            let unconfined = s.get("unconfined").and_then(Value::as_bool) == Some(true);
            let profile = s.get("profile_name").and_then(Value::as_str);
            match (unconfined, profile) {
                (true, None) => Some(Seccomp::Unconfined),
                (false, Some(p)) if valid_profile_name(p) => Some(Seccomp::Profile(p.to_string())),
                (false, Some(p)) => {
                    return Err(format!(
                        "'linux_info.seccomp.profile_name' '{}' must be a plain file name",
                        p.escape_debug()
                    ))
                }
                (true, Some(_)) => {
                    return Err(
                        "'linux_info.seccomp': 'unconfined' and 'profile_name' exclude each other"
                            .into(),
                    )
                }
                (false, None) => {
                    return Err(
                        "'linux_info.seccomp' needs 'profile_name' or 'unconfined': true".into(),
                    )
                }
            }
        }
    };
    Ok(LinuxInfo {
        effective_capabilities,
        bounding_capabilities,
        seccomp,
    })
}

/// A profile is a file in `--seccomp_config_dir`: no directories, no `..`.
fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\0')
        && Path::new(name).components().count() == 1
        && matches!(
            Path::new(name).components().next(),
            Some(Component::Normal(_))
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_documented_example() {
        let v = json!({"type": "MESOS", "hostname": "web-1",
        "volumes": [
            {"host_path": "tmp", "container_path": "/tmp", "mode": "RW"},
            {"host_path": "/srv/data", "container_path": "/data", "mode": "RO"},
            {"container_path": "/scratch", "mode": "RW",
             "source": {"type": "SANDBOX_PATH", "sandbox_path": {"type": "SELF", "path": "scratch"}}},
            {"container_path": "/etc/x", "mode": "RO",
             "source": {"type": "HOST_PATH", "host_path": {"path": "/etc/hostname"}}}
        ],
        "rlimit_info": {"rlimits": [{"type": "RLMT_NOFILE", "soft": 1024, "hard": 4096},
                                    {"type": "RLMT_CORE"}]},
        "linux_info": {
            "effective_capabilities": {"capabilities": ["NET_BIND_SERVICE"]},
            "bounding_capabilities": {"capabilities": ["NET_BIND_SERVICE", "CAP_CHOWN"]},
            "seccomp": {"profile_name": "default"}
        }});
        let c = parse(&v).unwrap();
        assert!(c.given);
        assert_eq!(c.volumes.len(), 4);
        assert_eq!(c.volumes[0].source, VolumeSource::Legacy("tmp".into()));
        assert_eq!(c.volumes[1].mode, VolumeMode::Ro);
        assert_eq!(
            c.volumes[2].source,
            VolumeSource::SandboxPath("scratch".into())
        );
        assert_eq!(
            c.volumes[3].source,
            VolumeSource::HostPath("/etc/hostname".into())
        );
        assert_eq!(c.rlimits[0].soft, 1024);
        assert_eq!(c.rlimits[1].hard, UNLIMITED);
        assert_eq!(
            c.linux.bounding_capabilities.as_ref().map(Vec::len),
            Some(2)
        );
        assert_eq!(c.linux.seccomp, Some(Seccomp::Profile("default".into())));
        assert!(!ContainerInfo::default().given);
    }

    #[test]
    fn test_refusals() {
        let cases = [
            json!({"volumes": [{"host_path": "tmp", "container_path": "/a/../etc", "mode": "RW"}]}),
            json!({"volumes": [{"host_path": "../x", "container_path": "/x", "mode": "RW"}]}),
            json!({"volumes": [{"host_path": "x", "container_path": "/x"}]}),
            json!({"volumes": [{"container_path": "/x", "mode": "RW",
                "source": {"type": "HOST_PATH", "host_path": {"path": "rel"}}}]}),
            json!({"volumes": [{"container_path": "/x", "mode": "RW",
                "source": {"type": "SANDBOX_PATH", "sandbox_path": {"type": "PARENT", "path": "a"}}}]}),
            json!({"volumes": [{"container_path": "/x", "mode": "RW",
                "source": {"type": "SANDBOX_PATH", "sandbox_path": {"path": "/abs"}}}]}),
            json!({"rlimit_info": {"rlimits": [{"type": "RLMT_NOFILE", "soft": 10}]}}),
            json!({"rlimit_info": {"rlimits": [{"type": "RLMT_NOFILE", "soft": 10, "hard": 5}]}}),
            json!({"rlimit_info": {"rlimits": [{"type": "NOFILE", "soft": 1, "hard": 1}]}}),
            json!({"linux_info": {"effective_capabilities": {"capabilities": ["FLY"]}}}),
            json!({"linux_info": {"seccomp": {"profile_name": "../x"}}}),
            json!({"linux_info": {"seccomp": {}}}),
        ];
        for c in cases {
            assert!(parse(&c).is_err(), "{c}");
        }
        let err = parse(
            &json!({"volumes": [{"host_path": "t", "container_path": "/a/../b", "mode": "RW"}]}),
        )
        .unwrap_err();
        assert!(err.contains(".."), "{err}");
    }

    #[test]
    fn test_images() {
        let image = |i: Value| parse(&json!({"mesos": {"image": i}})).map(|c| c.image.unwrap());
        let docker = image(json!({"type": "DOCKER", "docker": {"name": "busybox"}})).unwrap();
        assert!(docker.cached);
        assert_eq!(docker.key(), "library/busybox:latest");
        let id = format!("sha512-{}", "0f".repeat(64));
        let appc = image(json!({"type": "APPC", "cached": false, "appc": {
            "name": "example.com/busybox", "id": id,
            "labels": {"labels": [{"key": "version", "value": "1.0"}]}}}))
        .unwrap();
        assert!(!appc.cached);
        let ImageSpec::Appc(a) = &appc.spec else {
            panic!("{appc:?}")
        };
        assert_eq!(a.name, "example.com/busybox");
        assert_eq!(a.label("version"), Some("1.0"));
        assert_eq!(a.id.as_ref().unwrap().to_string(), id);
        let plain = image(json!({"type": "APPC", "appc": {"name": "a"}})).unwrap();
        assert_eq!(plain.key(), "appc:a");
        for (bad, want) in [
            (
                json!({"type": "APPC"}),
                "'container.mesos.image.appc' is required",
            ),
            (
                json!({"type": "APPC", "appc": {}}),
                "'container.mesos.image.appc.name' is required",
            ),
            (
                json!({"type": "APPC", "appc": {"name": "Bad Name"}}),
                "Invalid AppC image name",
            ),
            (
                json!({"type": "APPC", "appc": {"name": "../x"}}),
                "Invalid AppC image name",
            ),
            (
                json!({"type": "APPC", "appc": {"name": "a", "id": "sha512-12"}}),
                "Invalid AppC image id",
            ),
            (
                json!({"type": "APPC", "appc": {"name": "a", "labels": [{"key": "v"}]}}),
                "must be an object",
            ),
            (
                json!({"type": "APPC", "appc": {"name": "a", "labels": {"labels": [{"key": "v"}]}}}),
                "labels.labels[].value",
            ),
            (
                json!({"type": "APPC", "appc": {"name": "a", "labels": {"labels": [
                {"key": "version", "value": "1"}, {"key": "version", "value": "2"}]}}}),
                "given twice",
            ),
            (
                json!({"type": "APPC", "appc": {"name": "a", "labels": {"labels": [
                {"key": "version", "value": "../../x"}]}}}),
                "Invalid AppC label 'version'",
            ),
            (json!({"type": "OCI"}), "Unsupported image type"),
        ] {
            let err = image(bad.clone()).unwrap_err();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }

    #[test]
    fn test_unconfined() {
        let c = parse(&json!({"linux_info": {"seccomp": {"unconfined": true}}})).unwrap();
        assert_eq!(c.linux.seccomp, Some(Seccomp::Unconfined));
    }
}
