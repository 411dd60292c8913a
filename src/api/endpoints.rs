//! The GET endpoints: `/monitor/statistics`, `/containers`, `/files/read`, `/metrics`,
//! `/metrics/snapshot`, `/health`, `/flags`, `/version`.

use super::prometheus::{MetricsBody, Spec};
use super::statistics::StatisticsBody;
use super::{files, render, Ctx, Reply};
use crate::http::{Method, Request, Response};

pub(super) fn handle(req: &Request, ctx: &mut Ctx<'_>) -> Reply {
    if matches!(
        req.path.as_str(),
        "/monitor/statistics" | "/monitor/statistics.json"
    ) && matches!(req.method, Method::Get | Method::Head)
    {
        let head = Response::new(200).with_header("Content-Type", "application/json");
        return Reply::Stream(head, Box::new(StatisticsBody::new(ctx.containerizer)));
    }
    if req.path == "/metrics" && matches!(req.method, Method::Get | Method::Head) {
        let head = Response::new(200)
            .with_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        let spec = Spec { cfs: ctx.info.cfs };
        let agent = render::prometheus(ctx);
        return Reply::Stream(
            head,
            Box::new(MetricsBody::new(ctx.containerizer, agent, spec)),
        );
    }
    Reply::Now(respond(req, ctx))
}

fn respond(req: &Request, ctx: &mut Ctx<'_>) -> Response {
    let path = req.path.as_str();
    let known = matches!(
        path,
        "/monitor/statistics"
            | "/monitor/statistics.json"
            | "/containers"
            | "/files/read"
            | "/files/read.json"
            | "/metrics"
            | "/metrics/snapshot"
            | "/health"
            | "/flags"
            | "/version"
    );
    if !known {
        return Response::text(404, format!("No such endpoint '{path}'"));
    }
    if !matches!(req.method, Method::Get | Method::Head) {
        return Response::text(405, format!("Expecting 'GET' for {path}"))
            .with_header("Allow", "GET");
    }
    // The API socket is bound only once recovery is done: every answer is a recovered one.
    if path == "/health" {
        return Response::new(200);
    }
    match path {
        "/containers" => Response::json(
            200,
            &render::containers_v0(ctx.containerizer, req.query_param("container_id")),
        ),
        "/files/read" | "/files/read.json" => files::read_file(req, ctx.containerizer.work_dir()),
        "/metrics/snapshot" => {
            crate::loop_stats::test_stall(req.query_param("test_stall_ms"));
            let resp = Response::json(200, &render::metrics_snapshot(ctx));
            // After rendering: the answer holds the closing window's maximum.
            if req.query_param("reset_loop_max") == Some("1") {
                ctx.info.loop_stats.reset_max();
            }
            resp
        }
        "/flags" => Response::json(200, &render::flags_v0(ctx.info)),
        _ => Response::json(200, &render::version(ctx.info)),
    }
}
