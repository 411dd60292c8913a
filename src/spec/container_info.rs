//! `container` (Mesos's ContainerInfo): what isolators need beyond the command.

use serde_json::{Map, Value};

use super::image::{parse_image, Image};
use super::linux::{parse_linux_info, parse_rlimits, LinuxInfo, RLimit};
use super::volumes::{parse_volume, Volume};

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
    /// `type` DOCKER: `docker`, for the Docker containerizer.
    pub docker: Option<super::DockerInfo>,
}

impl ContainerInfo {
    /// Parses a ContainerInfo object (of a request, or of `--default_container_info`).
    pub fn from_json(v: &Value) -> Result<ContainerInfo, String> {
        parse(v)
    }
}

/// ContainerInfo: MESOS containers (with or without an image), and DOCKER ones.
pub fn parse(v: &Value) -> Result<ContainerInfo, String> {
    let obj = v.as_object().ok_or("'container' must be an object")?;
    let is_docker = match obj.get("type").and_then(Value::as_str).unwrap_or("MESOS") {
        "MESOS" => false,
        "DOCKER" => true,
        other => {
            return Err(format!(
                "Unsupported container type {other}: MESOS and DOCKER are"
            ))
        }
    };
    let image = match obj.get("mesos").and_then(|m| m.get("image")) {
        None | Some(Value::Null) => None,
        Some(i) => Some(parse_image(i)?),
    };
    let network_infos = match obj.get("network_infos") {
        None | Some(Value::Null) => Vec::new(),
        Some(n) => super::network::parse_network_infos(n)?,
    };
    let docker_given = obj.get("docker").is_some_and(|x| !x.is_null());
    let docker = match (is_docker, obj.get("docker")) {
        (true, Some(d)) if docker_given => Some(super::docker::parse_docker(
            d,
            network_infos.first().and_then(|n| n.name.as_deref()),
        )?),
        (true, _) => return Err("'container.docker' is required for type DOCKER".into()),
        (false, _) if docker_given => {
            return Err("'container.docker' is only for type DOCKER".into())
        }
        (false, _) => None,
    };
    if docker.is_some() && image.is_some() {
        return Err("'container.mesos.image' is for type MESOS; DOCKER uses 'docker.image'".into());
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
        docker,
    })
}

pub(super) fn str_field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<&'a str, String> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("'{what}' is required and must be a string"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::spec::{Seccomp, VolumeMode, VolumeSource};
    use crate::sys::rlimit::UNLIMITED;
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
    fn test_unconfined() {
        let c = parse(&json!({"linux_info": {"seccomp": {"unconfined": true}}})).unwrap();
        assert_eq!(c.linux.seccomp, Some(Seccomp::Unconfined));
    }
}
