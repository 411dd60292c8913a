//! Marathon's apps on one node: the app controller answers (see fleet.rs for many nodes).

use serde_json::{json, Value};

use super::common::{
    body_json, deployment_answer, embed, flag, merge_update, message, method_not_allowed,
};
use crate::api::{Ctx, Reply};
use crate::apps::render::{self, Embed};
use crate::apps::{check_node, validate_body, AppError, AppId, Env};
use crate::http::{Method, Request, Response};

fn env<'a>(ctx: &'a mut Ctx<'_>) -> (Env<'a>, &'a mut crate::apps::Apps) {
    let (env, apps, _) = ctx.split();
    (env, apps)
}

/// `/v2/apps[/<id>[/tasks|/restart]]`.
pub(super) fn apps(req: &Request, tail: &str, ctx: &mut Ctx<'_>) -> Reply {
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
