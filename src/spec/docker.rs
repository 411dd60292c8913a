//! `container.docker` (Mesos's DockerInfo): what the Docker containerizer runs.

use serde_json::Value;

use super::network::{array, parse_port_mapping, PortMapping};

/// `docker.network`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerNetwork {
    Host,
    Bridge,
    None,
    /// USER: the Docker network named by `network_infos[0].name`.
    User(String),
}

/// Mesos's DockerInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerInfo {
    pub image: String,
    pub network: DockerNetwork,
    pub port_mappings: Vec<PortMapping>,
    pub privileged: bool,
    /// `parameters`: `docker run` options as (key, value), in order.
    pub parameters: Vec<(String, String)>,
    pub force_pull_image: bool,
}

/// Parses `container.docker`; `user_network` is `network_infos[0].name` (for USER).
pub(super) fn parse_docker(v: &Value, user_network: Option<&str>) -> Result<DockerInfo, String> {
    let obj = v
        .as_object()
        .ok_or("'container.docker' must be an object")?;
    let image = obj
        .get("image")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && !s.contains(['\0', ' ']))
        .ok_or("'container.docker.image' is required and must be an image name")?
        .to_string();
    let network = match obj.get("network").and_then(Value::as_str) {
        None | Some("HOST") => DockerNetwork::Host,
        Some("BRIDGE") => DockerNetwork::Bridge,
        Some("NONE") => DockerNetwork::None,
        Some("USER") => DockerNetwork::User(
            user_network
                .ok_or("'container.docker.network' USER needs 'container.network_infos[0].name'")?
                .to_string(),
        ),
        Some(other) => {
            return Err(format!(
                "'container.docker.network' must be HOST, BRIDGE, NONE or USER, not '{other}'"
            ))
        }
    };
    let port_mappings: Vec<PortMapping> =
        array(obj.get("port_mappings"), "container.docker.port_mappings")?
            .iter()
            .enumerate()
            .map(|(i, p)| parse_port_mapping(p, &format!("container.docker.port_mappings[{i}]")))
            .collect::<Result<_, _>>()?;
    if !port_mappings.is_empty()
        && !matches!(network, DockerNetwork::Bridge | DockerNetwork::User(_))
    {
        return Err("'container.docker.port_mappings' need network BRIDGE or USER".into());
    }
    let parameters = array(obj.get("parameters"), "container.docker.parameters")?
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let key = p
                .get("key")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty());
            let value = p.get("value").and_then(Value::as_str).unwrap_or("");
            key.map(|k| (k.to_string(), value.to_string()))
                .ok_or_else(|| {
                    format!("'container.docker.parameters[{i}].key' must be a non-empty string")
                })
        })
        .collect::<Result<_, _>>()?;
    let flag = |name: &str| -> Result<bool, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(b) => b
                .as_bool()
                .ok_or_else(|| format!("'container.docker.{name}' must be a boolean")),
        }
    };
    Ok(DockerInfo {
        image,
        network,
        port_mappings,
        privileged: flag("privileged")?,
        parameters,
        force_pull_image: flag("force_pull_image")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spec::PortProtocol;
    use serde_json::json;

    #[test]
    fn parses_the_documented_example() {
        let d = parse_docker(
            &json!({"image": "busybox:1.36", "network": "BRIDGE",
                "port_mappings": [{"host_port": 31001, "container_port": 80}],
                "force_pull_image": false, "privileged": true,
                "parameters": [{"key": "env", "value": "A=1"}]}),
            None,
        )
        .unwrap();
        assert_eq!(d.image, "busybox:1.36");
        assert_eq!(d.network, DockerNetwork::Bridge);
        assert_eq!(d.port_mappings[0].host_port, 31001);
        assert_eq!(d.port_mappings[0].protocol, PortProtocol::Tcp);
        assert!(d.privileged && !d.force_pull_image);
        assert_eq!(d.parameters, [("env".to_string(), "A=1".to_string())]);
        let user = parse_docker(&json!({"image": "x", "network": "USER"}), Some("net1")).unwrap();
        assert_eq!(user.network, DockerNetwork::User("net1".into()));
        assert_eq!(
            parse_docker(&json!({"image": "x"}), None).unwrap().network,
            DockerNetwork::Host
        );
    }

    #[test]
    fn refusals_name_the_field() {
        for (v, field) in [
            (json!({}), "docker.image"),
            (json!({"image": "x", "network": "WIFI"}), "docker.network"),
            (
                json!({"image": "x", "network": "USER"}),
                "network_infos[0].name",
            ),
            (
                json!({"image": "x", "port_mappings": [{"host_port": 1, "container_port": 2}]}),
                "BRIDGE",
            ),
            (
                json!({"image": "x", "parameters": [{"value": "v"}]}),
                "parameters[0].key",
            ),
            (json!({"image": "x", "privileged": "yes"}), "privileged"),
        ] {
            let err = parse_docker(&v, None).unwrap_err();
            assert!(err.contains(field), "{v}: {err}");
        }
    }
}
