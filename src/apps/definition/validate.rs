//! Marathon's validation of app definitions: every violation found, each with the JSON path
//! it concerns, answered as a 422 with Marathon's body
//! (`{"message": "Object is not valid", "details": [{"path": ..., "errors": [...]}]}`).

use serde_json::{json, Value};

use super::AppDefinition;

/// One field's errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub errors: Vec<String>,
}

/// Why a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub violations: Vec<Violation>,
}

impl Invalid {
    pub fn one(path: &str, error: impl Into<String>) -> Invalid {
        Invalid {
            violations: vec![Violation {
                path: path.into(),
                errors: vec![error.into()],
            }],
        }
    }

    /// Marathon's 422 body.
    pub fn to_json(&self) -> Value {
        json!({
            "message": "Object is not valid",
            "details": self.violations.iter().map(|v| json!({
                "path": v.path,
                "errors": v.errors,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Parses and checks a posted definition. `id` is the path's app id for `PUT /v2/apps/<id>`
/// (the body's may then be absent).
pub fn parse(body: &Value, id: Option<&str>) -> Result<AppDefinition, Invalid> {
    let mut body = body.clone();
    let Some(obj) = body.as_object_mut() else {
        return Err(Invalid::one(
            "/",
            "Expected an app definition (a JSON object)",
        ));
    };
    if let Some(id) = id {
        obj.entry("id").or_insert_with(|| Value::String(id.into()));
    }
    if !obj.contains_key("id") {
        return Err(Invalid::one("/id", "error.path.missing"));
    }
    let mut def: AppDefinition = serde_json::from_value(body)
        .map_err(|e| Invalid::one("/", format!("Invalid JSON: {e}")))?;
    def.normalise();
    check(&def)?;
    Ok(def)
}

/// The checks of a parsed definition.
pub fn check(def: &AppDefinition) -> Result<(), Invalid> {
    let mut v = Vec::new();
    let mut add = |path: &str, error: String| v.push((path.to_string(), error));
    if let Err(e) = crate::apps::AppId::parse(&def.id) {
        add("/id", e);
    }
    if def.instances < 0 {
        add(
            "/instances",
            "got -1, expected 0 or more".replace("-1", &def.instances.to_string()),
        );
    }
    for (name, value) in [("cpus", def.cpus), ("mem", def.mem), ("disk", def.disk)] {
        if !value.is_finite() || value < 0.0 {
            add(
                &format!("/{name}"),
                format!("got {value}, expected 0.0 or more"),
            );
        }
    }
    let image = def
        .container
        .as_ref()
        .and_then(|c| c.docker.as_ref())
        .map(|d| d.image.as_str());
    if def.cmd.is_none() && def.args.is_none() && image.is_none() {
        add(
            "/",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
                .into(),
        );
    }
    if def.cmd.is_some() && def.args.is_some() {
        add(
            "/",
            "AppDefinition must not contain both 'cmd' and 'args'.".into(),
        );
    }
    if image == Some("") {
        add("/container/docker/image", "must not be empty".into());
    }
    for (i, m) in def.port_mappings().iter().enumerate() {
        let path = format!("/container/docker/portMappings({i})");
        if !(0..=65535).contains(&m.container_port) {
            add(
                &format!("{path}/containerPort"),
                format!("got {}, expected between 0 and 65535", m.container_port),
            );
        }
        if !(0..=65535).contains(&m.host_port) {
            add(
                &format!("{path}/hostPort"),
                format!("got {}, expected between 0 and 65535", m.host_port),
            );
        }
        if !matches!(m.protocol.as_str(), "tcp" | "udp") {
            add(
                &format!("{path}/protocol"),
                format!("'{}' is not one of tcp, udp", m.protocol),
            );
        }
    }
    let mut violations: Vec<Violation> = Vec::new();
    for (path, error) in v {
        match violations.iter_mut().find(|x| x.path == path) {
            Some(x) => x.errors.push(error),
            None => violations.push(Violation {
                path,
                errors: vec![error],
            }),
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Invalid { violations })
    }
}
