//! What Marathon's handlers share: its error bodies, query flags, a PUT's merge.

use serde_json::{json, Value};

use crate::apps::render::Embed;
use crate::apps::{AppError, AppId};
use crate::http::{Request, Response};

pub(super) fn message(status: u16, msg: String) -> Response {
    Response::json(status, &json!({ "message": msg }))
}

pub(super) fn method_not_allowed(path: &str, allow: &str) -> Response {
    message(405, format!("Expecting '{allow}' for {path}")).with_header("Allow", allow)
}

pub(super) fn flag(req: &Request, name: &str) -> bool {
    req.query_param(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

pub(super) fn embed(req: &Request) -> Embed {
    Embed::parse(
        req.query
            .iter()
            .filter(|(k, _)| k == "embed")
            .flat_map(|(_, v)| v.split(',')),
    )
}

pub(super) fn body_json(req: &Request) -> Result<Value, Response> {
    serde_json::from_slice(&req.body)
        .map_err(|e| Response::json(400, &json!({ "message": format!("Invalid JSON: {e}") })))
}

pub(super) fn deployment_answer(
    r: Result<crate::apps::Deployment, AppError>,
    status: u16,
) -> Response {
    match r {
        Ok(d) => Response::json(
            status,
            &json!({ "version": d.version, "deploymentId": d.id }),
        ),
        Err(e) => e.response(),
    }
}

/// A PUT's body laid over the app's definition (Marathon's partial update), or the body
/// alone for a new app; `id` is the path's.
pub(super) fn merge_update(
    base: Option<&crate::apps::AppDefinition>,
    body: &Value,
    fields: &serde_json::Map<String, Value>,
    id: &AppId,
) -> Value {
    match base {
        Some(def) => {
            let mut base = def.to_json();
            if let Some(obj) = base.as_object_mut() {
                // A field replaces its older or exclusive twin, as in Marathon's update.
                for (given, dropped) in [
                    ("cmd", "args"),
                    ("args", "cmd"),
                    ("ports", "portDefinitions"),
                    ("portDefinitions", "ports"),
                    ("uris", "fetch"),
                    ("fetch", "uris"),
                ] {
                    if fields.contains_key(given) {
                        obj.remove(dropped);
                    }
                }
                for (k, v) in fields {
                    // Answers' fields a client may send back are not the definition's.
                    if matches!(
                        k.as_str(),
                        "version"
                            | "versionInfo"
                            | "tasks"
                            | "deployments"
                            | "tasksStaged"
                            | "tasksRunning"
                            | "tasksHealthy"
                            | "tasksUnhealthy"
                            | "lastTaskFailure"
                            | "taskStats"
                    ) {
                        continue;
                    }
                    obj.insert(k.clone(), v.clone());
                }
                obj.insert("id".into(), Value::String(id.as_str().to_string()));
            }
            base
        }
        None => {
            let mut b = body.clone();
            if let Some(obj) = b.as_object_mut() {
                obj.insert("id".into(), Value::String(id.as_str().to_string()));
            }
            b
        }
    }
}
