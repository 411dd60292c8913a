//! `container.mesos.image` (Mesos's Image): a DOCKER or an APPC image.

use serde_json::{Map, Value};

use super::container_info::str_field;
use crate::provisioner::appc::spec::Label;
use crate::provisioner::appc::{AppcImage, ImageId};
use crate::provisioner::ImageReference;

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

/// `mesos.image`: `{"type":"DOCKER","docker":{"name":..},"cached":true}` or
/// `{"type":"APPC","appc":{"name":..,"labels":{"labels":[{"key":..,"value":..}]},"id":..}}`.
pub(super) fn parse_image(v: &Value) -> Result<Image, String> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::spec::container_info::parse;
    use serde_json::json;

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
}
