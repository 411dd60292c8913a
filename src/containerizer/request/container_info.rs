//! `container` (Mesos's ContainerInfo): what isolators need beyond the command.

use serde_json::Value;

/// The parts of ContainerInfo mesolite acts on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerInfo {
    pub hostname: Option<String>,
}

/// ContainerInfo: only MESOS containers without images or volumes for now.
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
    if obj.get("mesos").and_then(|m| m.get("image")).is_some() {
        return Err("Container images are not supported yet".into());
    }
    for unsupported in [
        "volumes",
        "network_infos",
        "rlimit_info",
        "linux_info",
        "docker",
    ] {
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
    Ok(ContainerInfo { hostname })
}
