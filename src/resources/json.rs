//! Mesos JSON resources: an array of `Resource` objects, e.g.
//! `{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}`.

use serde_json::{json, Map, Value};

use super::ranges::PortRange;
use super::{checked_scalar, Name, Partial, Resources, ResourcesError};

pub(super) fn parse_json(value: &Value) -> Result<Partial, ResourcesError> {
    let items = value.as_array().ok_or(ResourcesError::NotAnArray)?;
    let mut partial = Partial::default();
    for item in items {
        let object = item.as_object().ok_or_else(|| ResourcesError::Json {
            reason: format!("expected a Resource object, got {item}"),
        })?;
        let name =
            object
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| ResourcesError::Json {
                    reason: format!("Resource without a string 'name': {item}"),
                })?;
        let name = Name::parse(name)?;
        check_unreserved(name, object)?;
        let expected = if name == Name::Ports {
            "RANGES"
        } else {
            "SCALAR"
        };
        match object.get("type").and_then(Value::as_str) {
            Some(found) if found == expected => {}
            found => {
                return Err(ResourcesError::WrongType {
                    name: name.as_str(),
                    expected,
                    found: found.unwrap_or("(none)").to_string(),
                })
            }
        }
        if name == Name::Ports {
            partial.add_ranges(&parse_ranges(name, object)?);
        } else {
            partial.add_scalar(name, parse_scalar(name, object)?);
        }
    }
    Ok(partial)
}

/// Standalone resources are unreserved, non-revocable and not persistent volumes.
fn check_unreserved(name: Name, object: &Map<String, Value>) -> Result<(), ResourcesError> {
    if let Some(role) = object.get("role") {
        if role.as_str() != Some("*") {
            return Err(ResourcesError::Role {
                name: name.as_str().to_string(),
                role: role
                    .as_str()
                    .map_or_else(|| role.to_string(), str::to_string),
            });
        }
    }
    let reserved = |key: &str| match object.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Array(entries)) => !entries.is_empty(),
        Some(_) => true,
    };
    if reserved("reservations") || reserved("reservation") {
        return Err(ResourcesError::Reserved {
            name: name.as_str(),
        });
    }
    if object.contains_key("revocable") {
        return Err(ResourcesError::Revocable {
            name: name.as_str(),
        });
    }
    if object
        .get("disk")
        .and_then(Value::as_object)
        .is_some_and(|disk| disk.contains_key("persistence"))
    {
        return Err(ResourcesError::Persistent {
            name: name.as_str(),
        });
    }
    Ok(())
}

fn parse_scalar(name: Name, object: &Map<String, Value>) -> Result<f64, ResourcesError> {
    let value = object
        .get("scalar")
        .and_then(|scalar| scalar.get("value"))
        .ok_or_else(|| ResourcesError::Json {
            reason: format!("SCALAR resource '{}' without scalar.value", name.as_str()),
        })?;
    let number = value.as_f64().ok_or_else(|| ResourcesError::BadScalar {
        name: name.as_str(),
        value: value.to_string(),
    })?;
    checked_scalar(name, number)
}

fn parse_ranges(name: Name, object: &Map<String, Value>) -> Result<Vec<PortRange>, ResourcesError> {
    let list = match object.get("ranges").and_then(|ranges| ranges.get("range")) {
        None => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(ResourcesError::Json {
                reason: format!(
                    "ranges.range of '{}' is not an array: {other}",
                    name.as_str()
                ),
            })
        }
    };
    let mut result = Vec::new();
    for range in list {
        let bad = || ResourcesError::BadRange {
            name: name.as_str(),
            range: range.to_string(),
        };
        let bound = |key: &str| {
            range
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|v| u16::try_from(v).ok())
        };
        let (Some(begin), Some(end)) = (bound("begin"), bound("end")) else {
            return Err(bad());
        };
        if begin > end {
            return Err(bad());
        }
        result.push(PortRange::new(begin, end));
    }
    Ok(result)
}

pub(super) fn to_json(resources: &Resources) -> Value {
    let mut items = Vec::new();
    for (name, value) in [
        (Name::Cpus, resources.cpus),
        (Name::Mem, resources.mem_mb),
        (Name::Disk, resources.disk_mb),
    ] {
        if super::millis(value) != 0 {
            items.push(json!({
                "name": name.as_str(),
                "type": "SCALAR",
                "scalar": {"value": super::round3(value)},
            }));
        }
    }
    if !resources.ports.is_empty() {
        let ranges: Vec<Value> = resources
            .ports
            .iter()
            .map(|r| json!({"begin": r.begin, "end": r.end}))
            .collect();
        items.push(json!({
            "name": "ports",
            "type": "RANGES",
            "ranges": {"range": ranges},
        }));
    }
    Value::Array(items)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Resources, ResourcesError> {
        Resources::from_json(&serde_json::from_str(text).unwrap())
    }

    const CPUS: &str = r#"{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}"#;

    #[test]
    fn test_parse_scalars_and_ranges() {
        let text = format!(
            r#"[{CPUS},{CPUS},{{"name":"mem","type":"SCALAR","scalar":{{"value":64}},"role":"*"}},
                {{"name":"ports","type":"RANGES","ranges":{{"range":[{{"begin":31000,"end":31000}},
                  {{"begin":31001,"end":31005}}]}}}}]"#
        );
        let parsed = parse(&text).unwrap();
        assert_eq!(
            parsed,
            Resources {
                cpus: 1.0,
                mem_mb: 64.0,
                disk_mb: 0.0,
                ports: vec![PortRange::new(31000, 31005)],
            }
        );
    }

    #[test]
    fn test_round_trip() {
        let resources = Resources::parse_text("cpus:0.5;mem:64;ports:[80-80,443-444]").unwrap();
        let json = resources.to_json();
        assert_eq!(json.as_array().map(Vec::len), Some(3));
        assert_eq!(json[0], serde_json::from_str::<Value>(CPUS).unwrap());
        assert_eq!(Resources::from_json(&json).unwrap(), resources);
        assert_eq!(Resources::default().to_json(), json!([]));
    }

    #[test]
    fn test_errors() {
        let err = |text: &str| parse(text).unwrap_err();
        assert!(matches!(
            err(r#"{"name":"cpus"}"#),
            ResourcesError::NotAnArray
        ));
        assert!(matches!(err(r#"[1]"#), ResourcesError::Json { .. }));
        assert!(matches!(
            err(r#"[{"type":"SCALAR"}]"#),
            ResourcesError::Json { .. }
        ));
        assert!(matches!(
            err(r#"[{"name":"gpus","type":"SCALAR","scalar":{"value":1}}]"#),
            ResourcesError::UnknownName(n) if n == "gpus"
        ));
        assert!(matches!(
            err(r#"[{"name":"cpus","type":"RANGES","ranges":{"range":[]}}]"#),
            ResourcesError::WrongType { .. }
        ));
        assert!(matches!(
            err(r#"[{"name":"ports","type":"SCALAR","scalar":{"value":1}}]"#),
            ResourcesError::WrongType { .. }
        ));
        assert!(matches!(
            err(r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":-1}}]"#),
            ResourcesError::BadScalar { .. }
        ));
        assert!(matches!(
            err(r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":"1"}}]"#),
            ResourcesError::BadScalar { .. }
        ));
        assert!(matches!(
            err(r#"[{"name":"cpus","type":"SCALAR"}]"#),
            ResourcesError::Json { .. }
        ));
        assert!(matches!(
            err(r#"[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":5,"end":1}]}}]"#),
            ResourcesError::BadRange { .. }
        ));
        assert!(matches!(
            err(
                r#"[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":70000}]}}]"#
            ),
            ResourcesError::BadRange { .. }
        ));
    }

    #[test]
    fn test_reserved_revocable_persistent_refused() {
        let with = |extra: &str| {
            parse(&format!(
                r#"[{{"name":"disk","type":"SCALAR","scalar":{{"value":1}},{extra}}}]"#
            ))
        };
        assert!(matches!(
            with(r#""role":"web""#),
            Err(ResourcesError::Role { .. })
        ));
        assert!(matches!(
            with(r#""reservations":[{"type":"STATIC","role":"web"}]"#),
            Err(ResourcesError::Reserved { .. })
        ));
        assert!(matches!(
            with(r#""reservation":{"principal":"p"}"#),
            Err(ResourcesError::Reserved { .. })
        ));
        assert!(matches!(
            with(r#""revocable":{}"#),
            Err(ResourcesError::Revocable { .. })
        ));
        assert!(matches!(
            with(r#""disk":{"persistence":{"id":"v1"}}"#),
            Err(ResourcesError::Persistent { .. })
        ));
        // Protobuf-style JSON may spell "unreserved" as an empty list.
        assert!(with(r#""reservations":[]"#).is_ok());
    }
}
