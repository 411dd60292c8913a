//! `container.volumes` (Mesos's Volume): legacy `host_path`, HOST_PATH and SANDBOX_PATH sources.

use std::path::{Component, PathBuf};

use serde_json::Value;

use super::container_info::str_field;

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

pub(super) fn parse_volume(v: &Value) -> Result<Volume, String> {
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
