//! `container.rlimit_info` and `container.linux_info` (capabilities, seccomp).

use std::path::{Component, Path};

use serde_json::Value;

use crate::sys::caps::Capability;
use crate::sys::rlimit::{Resource, UNLIMITED};

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

pub(super) fn parse_rlimits(v: &Value) -> Result<Vec<RLimit>, String> {
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

pub(super) fn parse_linux_info(v: &Value) -> Result<LinuxInfo, String> {
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
