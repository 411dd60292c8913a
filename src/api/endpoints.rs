//! The GET endpoints: `/monitor/statistics`, `/containers`, `/files/read`, `/metrics`,
//! `/metrics/snapshot`, `/health`, `/flags`, `/version`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use serde_json::json;

use super::{render, Ctx};
use crate::http::{Method, Request, Response};

/// Most bytes one `/files/read` returns, so a huge file never stalls the loop.
const MAX_READ: u64 = 1024 * 1024;

pub(super) fn handle(req: &Request, ctx: &mut Ctx<'_>) -> Response {
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
        "/monitor/statistics" | "/monitor/statistics.json" => {
            Response::json(200, &render::statistics(ctx.containerizer))
        }
        "/containers" => Response::json(
            200,
            &render::containers_v0(ctx.containerizer, req.query_param("container_id")),
        ),
        "/files/read" | "/files/read.json" => read_file(req, ctx.containerizer.work_dir()),
        "/metrics" => {
            let mut r = Response::new(200)
                .with_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            r.body = render::prometheus(ctx).into_bytes();
            r
        }
        "/metrics/snapshot" => Response::json(200, &render::metrics_snapshot(ctx)),
        "/flags" => Response::json(200, &render::flags_v0(ctx.info)),
        _ => Response::json(200, &render::version(ctx.info)),
    }
}

/// Mesos's files API, on sandbox paths only: `{"data": "...", "offset": N}`; `offset=-1`
/// answers the file's size; `length` absent or -1 reads to the end (at most 1 MiB a call).
fn read_file(req: &Request, work_dir: &Path) -> Response {
    let Some(p) = req.query_param("path") else {
        return Response::text(400, "Expecting 'path' to be present");
    };
    let offset: i64 = match req.query_param("offset").map(str::parse).transpose() {
        Ok(o) => o.unwrap_or(0),
        Err(_) => return Response::text(400, "Failed to parse 'offset': expecting an integer"),
    };
    let length: i64 = match req.query_param("length").map(str::parse).transpose() {
        Ok(l) => l.unwrap_or(-1),
        Err(_) => return Response::text(400, "Failed to parse 'length': expecting an integer"),
    };
    let Some(path) = sandbox_path(p, work_dir) else {
        return Response::text(404, format!("No such sandbox file '{p}'"));
    };
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(_) => return Response::text(404, format!("No such sandbox file '{p}'")),
    };
    let size = match file.metadata() {
        Ok(m) if m.is_file() => m.len(),
        _ => return Response::text(400, format!("'{p}' is not a regular file")),
    };
    if offset == -1 {
        return Response::json(200, &json!({"data": "", "offset": size}));
    }
    let Ok(start) = u64::try_from(offset) else {
        return Response::text(400, "Negative 'offset'");
    };
    let want = if length < 0 {
        MAX_READ
    } else {
        (length as u64).min(MAX_READ)
    };
    let n = want.min(size.saturating_sub(start));
    let mut data = vec![0u8; usize::try_from(n).unwrap_or(0)];
    if n > 0 && (file.seek(SeekFrom::Start(start)).is_err() || file.read_exact(&mut data).is_err())
    {
        return Response::text(500, format!("Failed to read '{p}'"));
    }
    Response::json(
        200,
        &json!({"data": String::from_utf8_lossy(&data), "offset": start}),
    )
}

/// Resolves a requested path to a file inside `<work_dir>/containers`, refusing `..` and
/// symlinks that lead out of it.
fn sandbox_path(requested: &str, work_dir: &Path) -> Option<PathBuf> {
    let root = work_dir.join("containers");
    let p = Path::new(requested);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    };
    let real = joined.canonicalize().ok()?;
    let real_root = root.canonicalize().ok()?;
    real.starts_with(&real_root).then_some(real)
}
