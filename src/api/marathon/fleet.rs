//! Marathon's API in a fleet: the same paths and answers as on one node (single.rs), but
//! reads show every node's apps and tasks and writes go to etcd through the fleet, whose
//! scheduler places them. A task is killed by the node that runs it: here, if it is this
//! node's (another node's is named in a 404, to be asked there).

use serde_json::json;

use super::common::{
    body_json, deployment_answer, embed, flag, merge_update, message, method_not_allowed,
};
use crate::api::{Ctx, Reply};
use crate::apps::render::Embed;
use crate::apps::{validate_body, AppError, AppId, Invalid};
use crate::fleet::placement::{parse_constraints, ConstraintError};
use crate::fleet::Fleet;
use crate::http::{Method, Request, Response};

pub(super) fn handle(req: &Request, resource: &str, tail: &str, ctx: &mut Ctx<'_>) -> Reply {
    let Some(fleet) = ctx.fleet.as_deref_mut() else {
        return Reply::Now(message(500, "no fleet".into()));
    };
    let get = matches!(req.method, Method::Get | Method::Head);
    Reply::Now(match resource {
        "tasks" if get => Response::json(200, &fleet.tasks_json(None)),
        "queue" if get => Response::json(200, &fleet.queue_json()),
        "deployments" if get && tail.is_empty() => Response::json(200, &fleet.deployments_json()),
        "apps" => return apps(req, tail, ctx),
        "tasks" | "queue" | "deployments" | "info" | "leader" => {
            method_not_allowed(&req.path, "GET")
        }
        _ => message(404, format!("No such endpoint '{}'", req.path)),
    })
}

/// `/v2/apps[/<id>[/tasks|/restart|/tasks/<task>]]`.
fn apps(req: &Request, tail: &str, ctx: &mut Ctx<'_>) -> Reply {
    let Some(fleet) = ctx.fleet.as_deref_mut() else {
        return Reply::Now(message(500, "no fleet".into()));
    };
    let (registry, timers) = (ctx.registry, &mut *ctx.timers);
    let tail = tail.trim_matches('/');
    if tail.is_empty() {
        return Reply::Now(match req.method {
            Method::Get | Method::Head => list(req, fleet),
            Method::Post => create(req, fleet, registry, timers),
            _ => method_not_allowed(&req.path, "GET, POST"),
        });
    }
    let (id_text, sub, task) = match tail.rsplit_once('/') {
        Some((id, sub @ ("tasks" | "restart"))) => (id, sub, ""),
        _ => match tail.split_once("/tasks/") {
            Some((id, task)) => (id, "task", task),
            None => (tail, "", ""),
        },
    };
    let id = match AppId::parse(id_text) {
        Ok(id) => id,
        Err(e) => return Reply::Now(message(404, e)),
    };
    let resp = match (sub, &req.method) {
        ("", Method::Get | Method::Head) => match fleet.app(&id) {
            Some(app) => Response::json(200, &json!({ "app": app.to_json(&embed(req).single()) })),
            None => AppError::NotFound(id).response(),
        },
        ("", Method::Put) => update(req, id, fleet, registry, timers),
        ("", Method::Delete) => deployment_answer(fleet.delete(&id, registry, timers), 200),
        ("restart", Method::Post) => deployment_answer(fleet.restart(&id, registry, timers), 200),
        ("tasks", Method::Get | Method::Head) => match fleet.app(&id) {
            Some(app) => Response::json(200, &fleet.tasks_json(Some(&app))),
            None => AppError::NotFound(id).response(),
        },
        ("task", Method::Delete) => return kill_task(req, &id, task, ctx),
        ("", _) => method_not_allowed(&req.path, "GET, PUT, DELETE"),
        ("restart", _) => method_not_allowed(&req.path, "POST"),
        ("task", _) => method_not_allowed(&req.path, "DELETE"),
        (_, _) => method_not_allowed(&req.path, "GET"),
    };
    Reply::Now(resp)
}

fn list(req: &Request, fleet: &Fleet) -> Response {
    let embed = embed(req);
    let id_filter = req.query_param("id");
    let cmd_filter = req.query_param("cmd");
    let apps: Vec<serde_json::Value> = fleet
        .apps()
        .iter()
        .filter(|a| id_filter.is_none_or(|f| a.id().contains(f)))
        .filter(|a| {
            cmd_filter.is_none_or(|f| a.stored.app.cmd.as_deref().is_some_and(|c| c.contains(f)))
        })
        .map(|a| a.to_json(&embed))
        .collect();
    Response::json(200, &json!({ "apps": apps }))
}

/// A definition as the fleet takes it: Marathon's checks, and constraints the scheduler can
/// place by (any node's hostname or attributes, where one node's checks allow only its own
/// hostname): those are checked by the placement's own parser.
fn validate(
    body: &serde_json::Value,
    id: Option<&str>,
) -> Result<crate::apps::AppDefinition, Response> {
    let refuse = |invalid: Invalid| AppError::Invalid(invalid).response();
    let mut body = body.clone();
    let constraints = body
        .as_object_mut()
        .and_then(|o| o.remove("constraints"))
        .filter(|c| !c.is_null());
    let mut def = validate_body(&body, id).map_err(refuse)?;
    if let Some(c) = constraints {
        let arrays: Vec<Vec<String>> = serde_json::from_value(c).map_err(|_| {
            refuse(Invalid::one(
                "/constraints",
                "error.expected.jsarray of arrays of strings",
            ))
        })?;
        parse_constraints(&arrays).map_err(|e| refuse(ConstraintError::to_invalid(&e)))?;
        def.constraints = arrays;
    }
    Ok(def)
}

fn create(
    req: &Request,
    fleet: &mut Fleet,
    registry: &mio::Registry,
    timers: &mut crate::timer::Timers,
) -> Response {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let def = match validate(&body, None) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let id = def.id.clone();
    match fleet.create(def, flag(req, "force"), registry, timers) {
        Ok(_) => match AppId::parse(&id).ok().and_then(|id| fleet.app(&id)) {
            Some(app) => Response::json(201, &app.to_json(&Embed::default())),
            None => message(500, format!("App '{id}' was queued but cannot be shown")),
        },
        Err(e) => e.response(),
    }
}

fn update(
    req: &Request,
    id: AppId,
    fleet: &mut Fleet,
    registry: &mio::Registry,
    timers: &mut crate::timer::Timers,
) -> Response {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(fields) = body.as_object() else {
        return AppError::Invalid(Invalid::one(
            "/",
            "Expected an app definition (a JSON object)",
        ))
        .response();
    };
    let base = fleet.definition(&id);
    let merged = merge_update(base.as_ref(), &body, fields, &id);
    let def = match validate(&merged, Some(id.as_str())) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let status = if base.is_some() { 200 } else { 201 };
    deployment_answer(fleet.update(def, registry, timers), status)
}

/// `DELETE /v2/apps/<id>/tasks/<task>`: by the node that runs the task. `scale=true` lowers
/// the app's `instances` in the fleet by one.
fn kill_task(req: &Request, id: &AppId, task: &str, ctx: &mut Ctx<'_>) -> Reply {
    let Some(fleet) = ctx.fleet.as_deref_mut() else {
        return Reply::Now(message(500, "no fleet".into()));
    };
    let Some(app) = fleet.app(id) else {
        return Reply::Now(AppError::NotFound(id.clone()).response());
    };
    let Some(shown) = app.tasks.iter().find(|t| t["id"] == task).cloned() else {
        return Reply::Now(AppError::TaskNotFound(task.to_string()).response());
    };
    let host = shown["host"].as_str().unwrap_or_default().to_string();
    if host != fleet.hostname() {
        return Reply::Now(message(
            404,
            format!("Task '{task}' runs on node {host}: ask that node to kill it"),
        ));
    }
    if flag(req, "scale") {
        let mut def = app.stored.app.clone();
        def.instances = (def.instances - 1).max(0);
        if let Err(e) = fleet.update(def, ctx.registry, ctx.timers) {
            return Reply::Now(e.response());
        }
    }
    let (mut env, apps, _) = ctx.split();
    Reply::Now(match apps.kill_task(id, task, false, &mut env) {
        Ok(()) => Response::json(200, &json!({ "task": shown })),
        Err(e) => e.response(),
    })
}
