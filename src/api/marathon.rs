//! Marathon's REST API (`/v2/apps`, `/v2/tasks`, `/v2/deployments`, `/v2/info`, `/ping`),
//! served by the app controller on the socket and the TCP listener alike, with Marathon's
//! answers and status codes: 201 for a created app, 409 for an existing id (unless
//! `force=true`), 404 for an unknown one, 422 with Marathon's body for an invalid definition.

use serde_json::{json, Value};

use super::{Ctx, Reply};
use crate::apps::render::{self, Embed};
use crate::apps::{check_node, validate_body, AppError, AppId, Env};
use crate::http::{Method, Request, Response};

/// Whether the request is Marathon's.
pub fn owns(path: &str) -> bool {
    path == "/ping" || path == "/v2" || path.starts_with("/v2/") || path == "/master/slaves"
}

pub(super) fn handle(req: &Request, ctx: &mut Ctx<'_>) -> Reply {
    if req.path == "/ping" {
        return Reply::Now(Response::text(200, "pong"));
    }
    let get = matches!(req.method, Method::Get | Method::Head);
    if req.path == "/master/slaves" {
        return Reply::Now(if !get {
            method_not_allowed(&req.path, "GET")
        } else if let Some(fleet) = ctx.fleet.as_deref() {
            Response::json(200, &fleet.nodes_json())
        } else {
            Response::json(
                200,
                &render::node(ctx.apps, ctx.containerizer, address(ctx)),
            )
        });
    }
    let rest = req.path.trim_start_matches("/v2");
    let rest = rest.trim_start_matches('/');
    let (resource, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match (resource, &req.method) {
        ("leader", Method::Get | Method::Head) => Reply::Now(leader(ctx)),
        ("info", Method::Get | Method::Head) => {
            let mut info = render::info(ctx.apps, ctx.info.version, port(ctx));
            if let Some(fleet) = ctx.fleet.as_deref() {
                info["leader"] = json!(fleet.leader_address());
                info["elected"] = json!(fleet.is_leader());
            }
            Reply::Now(Response::json(200, &info))
        }
        _ if ctx.fleet.is_some() && resource != "leader" => {
            super::marathon_fleet::handle(req, resource, tail, ctx)
        }
        ("queue", Method::Get | Method::Head) => {
            Reply::Now(Response::json(200, &render::queue(ctx.apps)))
        }
        ("tasks", Method::Get | Method::Head) => {
            Reply::Now(Response::json(200, &render::tasks(ctx.apps, None)))
        }
        ("deployments", Method::Get | Method::Head) if tail.is_empty() => {
            Reply::Now(Response::json(200, &render::deployments(ctx.apps)))
        }
        ("apps", _) => apps(req, tail, ctx),
        ("info" | "tasks" | "deployments" | "queue" | "leader", _) => {
            Reply::Now(method_not_allowed(&req.path, "GET"))
        }
        _ => Reply::Now(message(404, format!("No such endpoint '{}'", req.path))),
    }
}

/// `--port`, as the flags were given.
fn port(ctx: &Ctx<'_>) -> Option<u16> {
    ctx.info
        .flags
        .iter()
        .find(|(k, _)| *k == "port")
        .and_then(|(_, v)| v.parse().ok())
}

/// Where this agent is reached: `host:port` as Marathon names its leader.
fn address(ctx: &Ctx<'_>) -> String {
    format!("{}:{}", ctx.apps.hostname(), port(ctx).unwrap_or(0))
}

/// `GET /v2/leader`: the agent that schedules (this one, on a single node).
fn leader(ctx: &Ctx<'_>) -> Response {
    let leader = match ctx.fleet.as_deref() {
        Some(fleet) => fleet.leader_address(),
        None => Some(address(ctx)),
    };
    match leader {
        Some(l) => Response::json(200, &json!({ "leader": l })),
        None => message(404, "There is no leader: no agent schedules now".into()),
    }
}

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

fn env<'a>(ctx: &'a mut Ctx<'_>) -> (Env<'a>, &'a mut crate::apps::Apps) {
    (
        Env {
            containerizer: &mut *ctx.containerizer,
            registry: ctx.registry,
            timers: &mut *ctx.timers,
            notices: &mut ctx.notices,
        },
        &mut *ctx.apps,
    )
}

pub(super) fn body_json(req: &Request) -> Result<Value, Response> {
    serde_json::from_slice(&req.body)
        .map_err(|e| Response::json(400, &json!({ "message": format!("Invalid JSON: {e}") })))
}

/// `/v2/apps[/<id>[/tasks|/restart]]`.
fn apps(req: &Request, tail: &str, ctx: &mut Ctx<'_>) -> Reply {
    let tail = tail.trim_matches('/');
    if tail.is_empty() {
        return Reply::Now(match req.method {
            Method::Get | Method::Head => list(req, ctx),
            Method::Post => return create(req, ctx),
            _ => method_not_allowed(&req.path, "GET, POST"),
        });
    }
    let (id_text, sub) = match tail.rsplit_once('/') {
        Some((id, sub @ ("tasks" | "restart"))) => (id, sub),
        _ => match tail.split_once("/tasks/") {
            Some((id, _task)) => (id, "task"),
            None => (tail, ""),
        },
    };
    let id = match AppId::parse(id_text) {
        Ok(id) => id,
        Err(e) => return Reply::Now(message(404, e)),
    };
    let (mut env, apps) = env(ctx);
    let resp = match (sub, &req.method) {
        ("", Method::Get | Method::Head) => match apps.get(&id) {
            Some(app) => Response::json(
                200,
                &json!({ "app": render::app(apps, app, &embed(req).single()) }),
            ),
            None => AppError::NotFound(id).response(),
        },
        ("", Method::Put) => return update(req, id, ctx),
        ("", Method::Delete) => deployment_answer(apps.delete(&id, &mut env), 200),
        ("restart", Method::Post) => deployment_answer(apps.restart(&id, &mut env), 200),
        ("tasks", Method::Get | Method::Head) => match apps.get(&id) {
            Some(app) => Response::json(200, &render::tasks(apps, Some(app))),
            None => AppError::NotFound(id).response(),
        },
        ("task", Method::Delete) => {
            let task = tail.rsplit('/').next().unwrap_or_default();
            // Marathon answers with the task as it was when the kill went out.
            let shown = apps.get(&id).and_then(|a| {
                a.instances
                    .iter()
                    .find(|i| i.task.as_str() == task)
                    .map(|i| render::task(apps, a, i))
            });
            match apps.kill_task(&id, task, flag(req, "scale"), &mut env) {
                Ok(()) => Response::json(200, &json!({ "task": shown })),
                Err(e) => e.response(),
            }
        }
        ("", _) => method_not_allowed(&req.path, "GET, PUT, DELETE"),
        ("restart", _) => method_not_allowed(&req.path, "POST"),
        ("task", _) => method_not_allowed(&req.path, "DELETE"),
        (_, _) => method_not_allowed(&req.path, "GET"),
    };
    Reply::Now(resp)
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

fn list(req: &Request, ctx: &mut Ctx<'_>) -> Response {
    let embed = embed(req);
    let id_filter = req.query_param("id");
    let cmd_filter = req.query_param("cmd");
    let apps: Vec<Value> = ctx
        .apps
        .all()
        .filter(|a| id_filter.is_none_or(|f| a.id.as_str().contains(f)))
        .filter(|a| cmd_filter.is_none_or(|f| a.def.cmd.as_deref().is_some_and(|c| c.contains(f))))
        .map(|a| render::app(ctx.apps, a, &embed))
        .collect();
    Response::json(200, &json!({ "apps": apps }))
}

fn create(req: &Request, ctx: &mut Ctx<'_>) -> Reply {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(r) => return Reply::Now(r),
    };
    // The hostname constraints are checked against this node: one it cannot meet is refused,
    // not accepted and ignored.
    let def = match validate_body(&body, None)
        .and_then(|d| check_node(&d, ctx.apps.hostname()).map(|()| d))
    {
        Ok(d) => d,
        Err(invalid) => return Reply::Now(AppError::Invalid(invalid).response()),
    };
    let force = flag(req, "force");
    let (mut env, apps) = env(ctx);
    match apps.create(def, force, true, &mut env) {
        Ok(id) if apps.is_creating(&id) => Reply::App(id),
        Ok(id) => match apps.get(&id) {
            Some(app) => Reply::Now(Response::json(
                201,
                &render::app(apps, app, &Embed::default()),
            )),
            None => Reply::Now(AppError::NotFound(id).response()),
        },
        Err(e) => Reply::Now(e.response()),
    }
}

/// `PUT /v2/apps/<id>`: the body's fields replace the app's (Marathon's partial update), or
/// create it when there is none.
fn update(req: &Request, id: AppId, ctx: &mut Ctx<'_>) -> Reply {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(r) => return Reply::Now(r),
    };
    let Some(fields) = body.as_object() else {
        return Reply::Now(
            AppError::Invalid(crate::apps::Invalid::one(
                "/",
                "Expected an app definition (a JSON object)",
            ))
            .response(),
        );
    };
    let merged = merge_update(ctx.apps.get(&id).map(|a| &a.def), &body, fields, &id);
    let def = match validate_body(&merged, Some(id.as_str()))
        .and_then(|d| check_node(&d, ctx.apps.hostname()).map(|()| d))
    {
        Ok(d) => d,
        Err(invalid) => return Reply::Now(AppError::Invalid(invalid).response()),
    };
    let (mut env, apps) = env(ctx);
    if apps.get(&id).is_none() {
        return match apps.create(def, false, false, &mut env) {
            Ok(id) => {
                let d = apps.get(&id).and_then(|a| a.deployment.clone());
                Reply::Now(Response::json(
                    201,
                    &json!({
                        "version": d.as_ref().map(|d| d.version.clone()),
                        "deploymentId": d.map(|d| d.id),
                    }),
                ))
            }
            Err(e) => Reply::Now(e.response()),
        };
    }
    Reply::Now(deployment_answer(apps.update(def, &mut env), 200))
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
