//! Marathon's validation of app definitions: every violation found at once, each with the
//! JSON path it concerns (`/instances`, `/container/docker/portMappings(0)/hostPort`), answered
//! as a 422 with Marathon's body (`{"message": ..., "details": [{"path": ..., "errors": [...]}]}`).
//!
//! Three passes, each reporting everything it sees: `shape` walks the posted JSON (types,
//! required fields, fields one node cannot honour) before serde reads it, so `"instances":
//! "two"` is a violation at `/instances` rather than a serde message about `/`; a field that
//! fails it is dropped so the rest still reads, and `rules` and `container` then check the
//! typed definition as Marathon's validators do. Last, a definition that passed everything is
//! turned into the launch its instances will be, and the launch parser's refusal (if any) is
//! reported too: nothing that will not launch is accepted.

mod container;
mod rules;
mod schema;
mod shape;
#[cfg(test)]
mod tests;

use serde_json::{json, Value};

use super::launch::{launch_request, InstanceFacts};
use super::AppDefinition;
use crate::apps::AppId;

pub use rules::check_node;

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
            // Marathon answers play-json's reading errors alone with "Invalid JSON"; one
            // message here, as the answer holds both kinds at once.
            "message": "Object is not valid",
            "details": self.violations.iter().map(|v| json!({
                "path": v.path,
                "errors": v.errors,
            })).collect::<Vec<_>>(),
        })
    }

    /// The errors at `path` (empty if none): for tests and logs.
    pub fn errors_at(&self, path: &str) -> &[String] {
        self.violations
            .iter()
            .find(|v| v.path == path)
            .map_or(&[], |v| v.errors.as_slice())
    }
}

/// The violations found so far, grouped by path in the order first seen (Marathon groups its
/// answer by path). A field the shape pass dropped is not reported again by the later passes,
/// which see only its default.
#[derive(Debug, Default)]
pub(super) struct Found {
    violations: Vec<Violation>,
    dropped: Vec<String>,
}

impl Found {
    pub(super) fn add(&mut self, path: &str, error: impl Into<String>) {
        let error = error.into();
        if path != "/" && self.dropped.iter().any(|d| related(d, path)) {
            return;
        }
        match self.violations.iter_mut().find(|v| v.path == path) {
            Some(v) if v.errors.contains(&error) => {}
            Some(v) => v.errors.push(error),
            None => self.violations.push(Violation {
                path: path.to_string(),
                errors: vec![error],
            }),
        }
    }

    /// Records a violation of a value the shape pass drops from the body.
    fn drop(&mut self, path: &str, error: impl Into<String>) {
        self.add(path, error);
        self.dropped.push(path.to_string());
    }

    fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    fn into_invalid(self) -> Invalid {
        Invalid {
            violations: self.violations,
        }
    }

    fn into_result(self) -> Result<(), Invalid> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(self.into_invalid())
        }
    }
}

/// Whether one path is the other or lies under it.
fn related(a: &str, b: &str) -> bool {
    let under = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('('))
    };
    under(a, b) || under(b, a)
}

/// `/container/docker` + `image` → `/container/docker/image`.
pub(super) fn at(path: &str, field: &str) -> String {
    if path == "/" {
        format!("/{field}")
    } else {
        format!("{path}/{field}")
    }
}

/// `/healthChecks` + 0 → `/healthChecks(0)`, play-json's form.
pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}({i})")
}

/// A double as Scala prints it in Marathon's messages (`-3.0`, `0.5`).
pub(super) fn scala(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Parses and checks a posted definition. `id` is the path's app id for `PUT /v2/apps/<id>`
/// (the body's may then be absent). The id comes back in Marathon's absolute form (`/web`).
pub fn parse(body: &Value, id: Option<&str>) -> Result<AppDefinition, Invalid> {
    let mut body = body.clone();
    let mut found = Found::default();
    let Some(obj) = body.as_object_mut() else {
        return Err(Invalid::one("/", "error.expected.jsobject"));
    };
    if let Some(id) = id {
        if obj.get("id").is_none_or(Value::is_null) {
            obj.insert("id".into(), Value::String(id.into()));
        }
    }
    shape::fold_networks(obj, &mut found);
    shape::walk_app(obj, &mut found);
    // The rules still run on what is left, with a stand-in for an unreadable id.
    let id_readable = obj.get("id").is_some_and(Value::is_string);
    if !id_readable {
        obj.insert("id".into(), Value::String("/unread".into()));
    }
    let mut def: AppDefinition = match serde_json::from_value(body) {
        Ok(def) => def,
        Err(e) => {
            // A gap in the shape pass: still an answer that names the problem.
            found.add("/", format!("Invalid app definition: {e}"));
            return Err(found.into_invalid());
        }
    };
    rules::before_normalise(&def, &mut found);
    let mappings_at = container::mappings_path(&def);
    def.normalise();
    rules::check_into(&def, &mut found);
    container::check_into(&def, mappings_at, &mut found);
    if found.is_empty() {
        probe_launch(&def, &mut found);
    }
    found.into_result()?;
    if let Ok(app) = AppId::parse(&def.id) {
        def.id = app.as_str().to_string();
    }
    Ok(def)
}

/// The checks of a parsed, normalised definition (what `parse` runs after reading it).
pub fn check(def: &AppDefinition) -> Result<(), Invalid> {
    let mut found = Found::default();
    rules::check_into(def, &mut found);
    container::check_into(def, "/container/docker/portMappings", &mut found);
    if found.is_empty() {
        probe_launch(def, &mut found);
    }
    found.into_result()
}

/// Builds the launch of a stand-in instance (ports from the top of the range for the dynamic
/// ones) and reports the launch parser's refusal: anything it would refuse at launch time is a
/// 422 now, never an instance failing over and over.
fn probe_launch(def: &AppDefinition, found: &mut Found) {
    let ports: Vec<u16> = def
        .port_needs()
        .iter()
        .enumerate()
        .map(|(i, need)| match need.host_port {
            0 => 65535u16.saturating_sub(u16::try_from(i).unwrap_or(u16::MAX)),
            fixed => fixed,
        })
        .collect();
    let facts = InstanceFacts {
        task_id: "probe.00000000000000000000000000000000",
        container_id: "probe_00000000000000000000000000000000",
        host_ports: &ports,
        hostname: "localhost",
    };
    if let Err(e) = launch_request(def, &facts) {
        found.add("/", e);
    }
}
