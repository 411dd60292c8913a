//! The container request as typed values, parsed and validated once from the API's JSON
//! (LAUNCH_CONTAINER's `launch_container`, `--default_container_info`): below everything that
//! uses it (the containerizers, the isolators, the launcher, the provisioner). Everything wrong
//! with a request is a 400 with a message that names the field.

use serde_json::Value;

mod container_info;
mod docker;
mod id;
mod image;
mod linux;
mod network;
mod uris;
mod volumes;

pub use container_info::ContainerInfo;
pub use docker::{DockerInfo, DockerNetwork};
pub use image::{Image, ImageSpec};
pub use linux::{LinuxInfo, RLimit, Seccomp};
pub use volumes::{Volume, VolumeMode, VolumeSource};

use crate::resources::Resources;
pub use id::ContainerId;
pub use network::{
    parse_network_infos, IpProtocol, IpRequest, NetworkInfo, PortMapping, PortProtocol,
};

/// The task's command (Mesos's CommandInfo).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub value: String,
    pub shell: bool,
    pub arguments: Vec<String>,
    pub environment: Vec<(String, String)>,
    pub user: Option<String>,
    /// What the fetcher puts into the sandbox before the task starts.
    pub uris: Vec<crate::fetcher::protocol::Uri>,
}

/// A validated LAUNCH_CONTAINER.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRequest {
    pub id: ContainerId,
    pub command: Command,
    pub resources: Resources,
    pub container: ContainerInfo,
}

/// Parses the `launch_container` object of a LAUNCH_CONTAINER call.
pub fn parse_launch(v: &Value) -> Result<LaunchRequest, String> {
    let obj = v
        .as_object()
        .ok_or("'launch_container' must be an object")?;
    let id = parse_container_id(obj.get("container_id"))?;
    if obj
        .get("container_id")
        .and_then(|c| c.get("parent"))
        .is_some()
    {
        return Err("Nested containers (container_id.parent) are not supported".into());
    }
    let command = parse_command(obj.get("command").ok_or("'command' is required")?)?;
    let resources = match obj.get("resources") {
        None | Some(Value::Null) => Resources::default(),
        Some(r) => Resources::from_json(r).map_err(|e| format!("Invalid resources: {e}"))?,
    };
    if obj.get("limits").is_some_and(|l| !l.is_null()) {
        return Err("'limits' is not supported: the requested resources are the limits".into());
    }
    let container = match obj.get("container") {
        None | Some(Value::Null) => ContainerInfo::default(),
        Some(c) => container_info::parse(c)?,
    };
    if command.value.is_empty() && container.image.is_none() && container.docker.is_none() {
        return Err(
            "'command.value' is required (there is no image to take a command from)".into(),
        );
    }
    Ok(LaunchRequest {
        id,
        command,
        resources,
        container,
    })
}

/// `{"value": "..."}` → a validated ID.
pub fn parse_container_id(v: Option<&Value>) -> Result<ContainerId, String> {
    let value = v
        .and_then(|c| c.get("value"))
        .and_then(Value::as_str)
        .ok_or("'container_id.value' is required and must be a string")?;
    ContainerId::parse(value)
}

fn parse_command(v: &Value) -> Result<Command, String> {
    let obj = v.as_object().ok_or("'command' must be an object")?;
    let shell = match obj.get("shell") {
        None => true,
        Some(s) => s.as_bool().ok_or("'command.shell' must be a boolean")?,
    };
    let value = match obj.get("value") {
        None => None,
        Some(s) => Some(
            s.as_str()
                .ok_or("'command.value' must be a string")?
                .to_string(),
        ),
    };
    let arguments = match obj.get("arguments") {
        None => Vec::new(),
        Some(a) => string_array(a, "command.arguments")?,
    };
    // Absent is allowed here: an image may give the command (checked in parse_launch).
    let value = value.unwrap_or_default();
    let uris = match obj.get("uris") {
        None | Some(Value::Null) => Vec::new(),
        Some(u) => uris::parse(u)?,
    };
    let user = match obj.get("user") {
        None => None,
        Some(u) => Some(
            u.as_str()
                .ok_or("'command.user' must be a string")?
                .to_string(),
        ),
    };
    let environment = match obj.get("environment") {
        None => Vec::new(),
        Some(e) => parse_environment(e)?,
    };
    Ok(Command {
        value,
        shell,
        arguments,
        environment,
        user,
        uris,
    })
}

fn parse_environment(v: &Value) -> Result<Vec<(String, String)>, String> {
    let vars = match v.get("variables") {
        None => return Ok(Vec::new()),
        Some(vars) => vars
            .as_array()
            .ok_or("'command.environment.variables' must be an array")?,
    };
    let mut out = Vec::with_capacity(vars.len());
    for var in vars {
        let name = var
            .get("name")
            .and_then(Value::as_str)
            .ok_or("every environment variable needs a string 'name'")?;
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(format!(
                "invalid environment variable name '{}'",
                name.escape_debug()
            ));
        }
        match var.get("type").and_then(Value::as_str).unwrap_or("VALUE") {
            "VALUE" => {}
            other => {
                return Err(format!(
                    "environment variable '{name}': type {other} is not supported"
                ))
            }
        }
        let value = var.get("value").and_then(Value::as_str).unwrap_or("");
        if value.contains('\0') {
            return Err(format!("environment variable '{name}' contains a NUL byte"));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

pub(super) fn string_array(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| format!("'{what}' must be an array of strings"))?;
    items
        .iter()
        .map(|s| {
            s.as_str()
                .filter(|s| !s.contains('\0'))
                .map(str::to_string)
                .ok_or_else(|| format!("'{what}' must be an array of strings without NUL"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_example() {
        let v = json!({"container_id": {"value": "web-1"},
            "command": {"value": "exit 42", "environment": {"variables": [{"name": "A", "type": "VALUE", "value": "b"}]}},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}],
            "container": {"type": "MESOS", "hostname": "h"}});
        let r = parse_launch(&v).expect("valid");
        assert_eq!(r.id.as_str(), "web-1");
        assert!(r.command.shell);
        assert_eq!(
            r.command.environment,
            vec![("A".to_string(), "b".to_string())]
        );
        assert_eq!(r.container.hostname.as_deref(), Some("h"));
    }

    #[test]
    fn rejects_bad_input_with_a_message() {
        let cases = [
            json!({"command": {"value": "x"}}),
            json!({"container_id": {"value": "a.b"}, "command": {"value": "x"}}),
            json!({"container_id": {"value": "a"}}),
            json!({"container_id": {"value": "a"}, "command": {"value": 3}}),
            json!({"container_id": {"value": "a"}, "command": {"value": "x", "shell": "yes"}}),
            json!({"container_id": {"value": "a"}, "command": {"value": "x"}, "container": {"type": "DOCKER"}}),
            json!({"container_id": {"value": "a"}, "command": {"value": "x"},
                   "resources": [{"name": "gpus", "type": "SCALAR", "scalar": {"value": 1}}]}),
        ];
        for c in cases {
            assert!(parse_launch(&c).is_err(), "{c}");
        }
    }
}
