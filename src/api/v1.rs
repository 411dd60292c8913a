//! `POST /api/v1`: the Mesos v1 agent operator API in JSON, with Mesos's status codes
//! (reference §5): 405 other methods, 400 no Content-Type, 415 not JSON, 406 unacceptable
//! Accept, 400 bad JSON or call, 404 unknown container.

use serde_json::{json, Value};

use super::{render, Ctx, Reply};
use crate::containerizer::{
    parse_container_id, parse_launch, ContainerId, Containerizer, ControlError, LaunchOutcome,
};
use crate::http::{Method, Request, Response};

/// `who` names the client in the log lines of calls that change state.
pub(super) fn handle(req: &Request, who: &str, ctx: &mut Ctx<'_>) -> Reply {
    match check_headers(req) {
        Ok(()) => {}
        Err(resp) => return Reply::Now(resp),
    }
    let call: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            return Reply::Now(Response::text(
                400,
                format!("Failed to parse body into JSON: {e}"),
            ))
        }
    };
    let Some(kind) = call.get("type").and_then(Value::as_str) else {
        return Reply::Now(Response::text(
            400,
            "Failed to validate agent::Call: Expecting 'type' to be present",
        ));
    };
    match kind {
        "GET_HEALTH" => ok(json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})),
        "GET_VERSION" => ok(
            json!({"type": "GET_VERSION", "get_version": {"version_info": render::version(ctx.info)}}),
        ),
        "GET_FLAGS" => {
            ok(json!({"type": "GET_FLAGS", "get_flags": {"flags": render::flags_v1(ctx.info)}}))
        }
        "GET_METRICS" => {
            ok(json!({"type": "GET_METRICS", "get_metrics": {"metrics": render::metrics_v1(ctx)}}))
        }
        "GET_CONTAINERS" => ok(json!({"type": "GET_CONTAINERS",
            "get_containers": {"containers": render::containers_v1(ctx.containerizer)}})),
        "LAUNCH_CONTAINER" => launch(&call, who, ctx),
        "WAIT_CONTAINER" => with_id(&call, "wait_container", |id| wait(id, ctx)),
        "KILL_CONTAINER" => with_id(&call, "kill_container", |id| kill(id, &call, who, ctx)),
        "REMOVE_CONTAINER" => with_id(&call, "remove_container", |id| remove(id, who, ctx)),
        "PRUNE_IMAGES" => prune_images(who, ctx),
        other => Reply::Now(Response::text(
            400,
            format!(
                "Failed to validate agent::Call: unknown or unsupported call type '{}'",
                other.escape_debug()
            ),
        )),
    }
}

fn check_headers(req: &Request) -> Result<(), Response> {
    if req.method != Method::Post {
        return Err(
            Response::text(405, "Expecting 'POST' for /api/v1").with_header("Allow", "POST")
        );
    }
    let Some(ct) = req.header("content-type") else {
        return Err(Response::text(
            400,
            "Expecting 'Content-Type' to be present",
        ));
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" {
        return Err(Response::text(
            415,
            format!("Unsupported Content-Type '{ct}': expecting 'application/json'"),
        ));
    }
    if let Some(accept) = req.header("accept") {
        let ok = accept.split(',').any(|a| {
            let m = a
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            matches!(
                m.as_str(),
                "application/json" | "*/*" | "application/*" | ""
            )
        });
        if !ok {
            return Err(Response::text(
                406,
                format!("Unacceptable Accept '{accept}': only 'application/json' is served"),
            ));
        }
    }
    Ok(())
}

fn ok(v: Value) -> Reply {
    Reply::Now(Response::json(200, &v))
}

fn with_id(call: &Value, field: &str, f: impl FnOnce(ContainerId) -> Reply) -> Reply {
    let Some(obj) = call.get(field) else {
        return Reply::Now(Response::text(
            400,
            format!("Failed to validate agent::Call: Expecting '{field}' to be present"),
        ));
    };
    match parse_container_id(obj.get("container_id")) {
        Ok(id) => f(id),
        Err(e) => Reply::Now(Response::text(400, e)),
    }
}

fn launch(call: &Value, who: &str, ctx: &mut Ctx<'_>) -> Reply {
    let Some(body) = call.get("launch_container") else {
        return Reply::Now(Response::text(
            400,
            "Failed to validate agent::Call: Expecting 'launch_container' to be present",
        ));
    };
    let req = match parse_launch(body) {
        Ok(r) => r,
        Err(e) => return Reply::Now(Response::text(400, e)),
    };
    let id = req.id.clone();
    log::info!("LAUNCH_CONTAINER {id} from {who}");
    match ctx.containerizer.launch(req, ctx.registry, ctx.timers) {
        LaunchOutcome::Pending => Reply::Launch(id),
        LaunchOutcome::AlreadyExists => Reply::Now(Response::new(202)),
        LaunchOutcome::Refused(msg) | LaunchOutcome::Failed(msg) => {
            Reply::Now(Response::text(400, msg))
        }
    }
}

fn wait(id: ContainerId, ctx: &mut Ctx<'_>) -> Reply {
    match ctx.containerizer.status(&id) {
        None => Reply::Now(Response::text(404, format!("Container {id} not found"))),
        Some(c) if c.termination.is_some() => Reply::Now(wait_response(ctx.containerizer, &id)),
        Some(_) => Reply::Wait(id),
    }
}

/// The WAIT_CONTAINER answer of a terminated container.
pub(super) fn wait_response(containerizer: &dyn Containerizer, id: &ContainerId) -> Response {
    let Some(t) = containerizer.status(id).and_then(|c| c.termination) else {
        return Response::text(404, format!("Container {id} not found"));
    };
    let mut w = serde_json::Map::new();
    if let Some(s) = t.status {
        w.insert("exit_status".into(), json!(s));
    }
    w.insert("state".into(), json!(t.state.name()));
    if let Some(r) = t.reason {
        w.insert("reason".into(), json!(r.name()));
    }
    if let Some(m) = &t.message {
        w.insert("message".into(), json!(m));
    }
    // Mesos's TaskResourceLimitation has `resources` only; the reason is `reason` above.
    if let Some(resources) = &t.limited {
        w.insert("limitation".into(), json!({ "resources": resources }));
    }
    Response::json(
        200,
        &json!({"type": "WAIT_CONTAINER", "wait_container": Value::Object(w)}),
    )
}

fn kill(id: ContainerId, call: &Value, who: &str, ctx: &mut Ctx<'_>) -> Reply {
    let signal = match call.get("kill_container").and_then(|k| k.get("signal")) {
        None | Some(Value::Null) => libc::SIGKILL,
        Some(v) => match v
            .as_i64()
            .and_then(|s| i32::try_from(s).ok())
            .filter(|s| (1..=64).contains(s))
        {
            Some(s) => s,
            None => {
                return Reply::Now(Response::text(
                    400,
                    format!("Invalid signal {v}: expecting 1-64"),
                ))
            }
        },
    };
    log::info!("KILL_CONTAINER {id} signal {signal} from {who}");
    match ctx
        .containerizer
        .kill(&id, signal, ctx.registry, ctx.timers)
    {
        Ok(notices) => {
            ctx.notices.extend(notices);
            Reply::Now(Response::new(200))
        }
        Err(e) => Reply::Now(control_error(e)),
    }
}

fn remove(id: ContainerId, who: &str, ctx: &mut Ctx<'_>) -> Reply {
    log::info!("REMOVE_CONTAINER {id} from {who}");
    match ctx.containerizer.remove(&id, ctx.registry, ctx.timers) {
        Ok(()) => Reply::Now(Response::new(200)),
        Err(e) => Reply::Now(control_error(e)),
    }
}

/// PRUNE_IMAGES: images no container uses are forgotten and their layers removed.
fn prune_images(who: &str, ctx: &mut Ctx<'_>) -> Reply {
    log::info!("PRUNE_IMAGES from {who}");
    match ctx.containerizer.prune_images() {
        Ok(_) => Reply::Now(Response::new(200)),
        Err(e) => Reply::Now(control_error(e)),
    }
}

fn control_error(e: ControlError) -> Response {
    let status = match e {
        ControlError::NotFound(_) => 404,
        ControlError::StillRunning(_) | ControlError::Failed(..) => 500,
        ControlError::Refused(_) => 400,
    };
    Response::text(status, e.to_string())
}
