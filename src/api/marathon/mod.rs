//! Marathon's REST API (`/v2/apps`, `/v2/tasks`, `/v2/deployments`, `/v2/queue`,
//! `/v2/leader`, `/v2/info`, `/ping`) and the Mesos master's `/master/slaves`, served on the
//! socket and the TCP listener alike, with Marathon's answers and status codes: 201 for a
//! created app, 409 for an existing id (unless `force=true`), 404 for an unknown one, 422 with
//! Marathon's body for an invalid definition. One node's apps are the app controller's
//! (single.rs); in a fleet, the fleet's (fleet.rs).

use serde_json::json;

mod common;
mod fleet;
mod single;

use super::{Ctx, Reply};
use crate::apps::render;
use crate::http::{Method, Request, Response};
use common::{message, method_not_allowed};

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
            let ports = &ctx.containerizer.total().ports;
            let mut info = render::info(ctx.apps, ctx.info.version, port(ctx), ports);
            if let Some(fleet) = ctx.fleet.as_deref() {
                info["leader"] = json!(fleet.leader_address());
                info["elected"] = json!(fleet.is_leader());
            }
            Reply::Now(Response::json(200, &info))
        }
        _ if ctx.fleet.is_some() => fleet::handle(req, resource, tail, ctx),
        ("queue", Method::Get | Method::Head) => {
            Reply::Now(Response::json(200, &render::queue(ctx.apps)))
        }
        ("tasks", Method::Get | Method::Head) => {
            Reply::Now(Response::json(200, &render::tasks(ctx.apps, None)))
        }
        ("deployments", Method::Get | Method::Head) if tail.is_empty() => {
            Reply::Now(Response::json(200, &render::deployments(ctx.apps)))
        }
        ("apps", _) => single::apps(req, tail, ctx),
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
