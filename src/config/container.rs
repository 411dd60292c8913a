//! Flag types for what containers get by default: a JSON ContainerInfo, capability lists.

use serde_json::Value;

use super::spec::FlagValue;
use crate::sys::caps::Capability;

/// A JSON object flag (`--default_container_info`), checked to be an object; its meaning is
/// the containerizer's.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonObject(pub Value);

impl FlagValue for JsonObject {
    fn parse_flag(text: &str) -> Result<Self, String> {
        match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => Ok(JsonObject(v)),
            Ok(_) => Err("expected a JSON object".to_string()),
            Err(e) => Err(format!("invalid JSON: {e}")),
        }
    }

    fn render_flag(&self) -> String {
        self.0.to_string()
    }
}

/// A capability list: `NET_RAW,CHOWN` (also `CAP_`-prefixed) or Mesos's JSON
/// `{"capabilities": ["NET_RAW"]}` (which alone can say "none").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityList(pub Vec<Capability>);

impl FlagValue for CapabilityList {
    fn parse_flag(text: &str) -> Result<Self, String> {
        let names: Vec<String> = if text.trim_start().starts_with('{') {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
            match v.get("capabilities") {
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|n| n.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or("'capabilities' must hold names")?,
                None => Vec::new(),
                Some(_) => return Err("'capabilities' must be an array".to_string()),
            }
        } else {
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut caps = Vec::with_capacity(names.len());
        for name in names {
            let cap = Capability::parse(&name)?;
            if !caps.contains(&cap) {
                caps.push(cap);
            }
        }
        Ok(CapabilityList(caps))
    }

    fn render_flag(&self) -> String {
        if self.0.is_empty() {
            return r#"{"capabilities":[]}"#.to_string();
        }
        let names: Vec<&str> = self.0.iter().map(Capability::name).collect();
        names.join(",")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_capability_lists() {
        let l = CapabilityList::parse_flag("NET_RAW, cap_chown").unwrap();
        assert_eq!(l.render_flag(), "NET_RAW,CHOWN");
        let j = CapabilityList::parse_flag(r#"{"capabilities": ["NET_RAW", "CHOWN"]}"#).unwrap();
        assert_eq!(j, l);
        let none = CapabilityList::parse_flag(r#"{"capabilities": []}"#).unwrap();
        assert!(none.0.is_empty());
        assert_eq!(CapabilityList::parse_flag(&none.render_flag()), Ok(none));
        assert!(CapabilityList::parse_flag("NET_RAW,FLY").is_err());
    }

    #[test]
    fn test_json_object() {
        let j = JsonObject::parse_flag(r#"{"type":"MESOS"}"#).unwrap();
        assert_eq!(JsonObject::parse_flag(&j.render_flag()), Ok(j));
        assert!(JsonObject::parse_flag("[1]").is_err());
        assert!(JsonObject::parse_flag("{").is_err());
    }
}
