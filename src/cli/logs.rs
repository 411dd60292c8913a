//! `mesolite logs`: a task's stdout/stderr through the agent's files API.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::agent::{answer_json, call, check, CliError, Common};
use super::args::{parse, ArgError, OptSpec};
use super::containers::{containers, ps_request};
use crate::http::percent_encode;

pub const HELP: &str = "\
mesolite logs [-f|--follow] [--socket=PATH] ID [stdout|stderr]
    Print the task's stdout (or stderr) from its sandbox. With -f, keep printing what is
    appended until the container has terminated and the file is drained (Ctrl-C stops).
";

/// Bytes asked for per files/read call.
const CHUNK: u64 = 64 * 1024;

/// How often `-f` polls for new output.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// The agent's `work_dir` from `GET /flags` (`{"flags": {"work_dir": ...}}`), also accepting the
/// v1 GET_FLAGS shape (`[{"name": "work_dir", "value": ...}]`).
pub fn work_dir(flags: &Value) -> Option<&str> {
    let v0 = flags["flags"]["work_dir"].as_str();
    v0.or_else(|| {
        let list = flags["flags"]
            .as_array()
            .or_else(|| flags["get_flags"]["flags"].as_array())?;
        list.iter()
            .find(|f| f["name"] == "work_dir")
            .and_then(|f| f["value"].as_str())
    })
}

/// `<work_dir>/containers/<ID>/<file>`.
pub fn sandbox_file(work_dir: &str, id: &str, file: &str) -> String {
    format!("{}/containers/{id}/{file}", work_dir.trim_end_matches('/'))
}

/// `GET /files/read?path=...&offset=...&length=...`.
pub fn read_target(path: &str, offset: u64, length: u64) -> String {
    format!(
        "/files/read?path={}&offset={offset}&length={length}",
        percent_encode(path)
    )
}

/// What one files/read call found.
#[derive(Debug, PartialEq, Eq)]
enum Chunk {
    Data(String),
    /// Nothing past the offset yet.
    Empty,
    /// The file (or its sandbox) does not exist.
    Missing,
}

fn read_chunk(common: &Common, path: &str, offset: u64) -> Result<Chunk, CliError> {
    let resp = common.client().get(&read_target(path, offset, CHUNK))?;
    if resp.status == 404 {
        return Ok(Chunk::Missing);
    }
    let answer = answer_json(&check(resp, None)?, "file data")?;
    match answer["data"].as_str() {
        Some("") => Ok(Chunk::Empty),
        Some(data) => Ok(Chunk::Data(data.to_string())),
        None => Err(CliError::UnexpectedAnswer {
            what: "\"data\" field",
            body: answer.to_string(),
        }),
    }
}

/// The container's state from GET_CONTAINERS; `None` when it is not listed.
fn container_state(common: &Common, id: &str) -> Result<Option<String>, CliError> {
    let resp = call(common, &ps_request(), None)?;
    let answer = answer_json(&resp, "container list")?;
    Ok(containers(&answer)
        .iter()
        .find(|c| c["container_id"]["value"] == id)
        .map(|c| c["state"].as_str().unwrap_or_default().to_string()))
}

/// Copies the file to `out`; with `follow`, polls at that interval until the container has
/// terminated (or gone) and everything written before that has been printed.
pub fn copy_log(
    common: &Common,
    id: &str,
    file: &str,
    follow: Option<Duration>,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let flags = answer_json(&check(common.client().get("/flags")?, None)?, "flags")?;
    let dir = work_dir(&flags).ok_or_else(|| CliError::UnexpectedAnswer {
        what: "work_dir flag",
        body: flags.to_string(),
    })?;
    let path = sandbox_file(dir, id, file);
    let mut offset = 0u64;
    // Set once the container is over: the next empty read is the end.
    let mut draining = false;
    loop {
        let chunk = read_chunk(common, &path, offset)?;
        if let Chunk::Data(data) = &chunk {
            out.write_all(data.as_bytes())?;
            out.flush()?;
            offset += data.len() as u64;
            continue;
        }
        let missing = chunk == Chunk::Missing;
        let Some(interval) = follow else {
            return if missing && offset == 0 {
                Err(CliError::NoSuchContainer(id.to_string()))
            } else {
                Ok(0)
            };
        };
        if draining {
            return Ok(0);
        }
        match container_state(common, id)? {
            None if missing && offset == 0 => {
                return Err(CliError::NoSuchContainer(id.to_string()))
            }
            None => draining = true,
            Some(state) if state == "TERMINATED" => draining = true,
            Some(_) => std::thread::sleep(interval),
        }
    }
}

pub fn run(args: &[String], env: Option<&str>, out: &mut dyn Write) -> Result<i32, CliError> {
    let parsed = parse(args, &[OptSpec::flag("follow").short('f')], false)?;
    parsed.expect_positional(&["ID"], 1)?;
    let common = Common::from_parsed(&parsed, env);
    let file = parsed.positional.get(1).map_or("stdout", String::as_str);
    if file != "stdout" && file != "stderr" {
        return Err(ArgError::BadValue {
            option: "the file".to_string(),
            value: file.to_string(),
            expected: "stdout or stderr",
        }
        .into());
    }
    let follow = parsed.flag("follow").then_some(FOLLOW_INTERVAL);
    copy_log(&common, &parsed.positional[0], file, follow, out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn work_dir_from_v0_and_v1_flags() {
        let v0 = json!({"flags": {"work_dir": "/var/lib/mesolite", "port": "5051"}});
        assert_eq!(work_dir(&v0), Some("/var/lib/mesolite"));
        let v1 = json!({"type": "GET_FLAGS", "get_flags": {"flags": [
            {"name": "isolation", "value": "cgroups/cpu"},
            {"name": "work_dir", "value": "/tmp/w"}]}});
        assert_eq!(work_dir(&v1), Some("/tmp/w"));
        assert_eq!(work_dir(&json!({"flags": {}})), None);
    }

    #[test]
    fn builds_file_paths_and_targets() {
        let path = sandbox_file("/var/lib/mesolite/", "web-1", "stdout");
        assert_eq!(path, "/var/lib/mesolite/containers/web-1/stdout");
        assert_eq!(
            read_target(&path, 10, 65536),
            "/files/read?path=/var/lib/mesolite/containers/web-1/stdout&offset=10&length=65536"
        );
        assert_eq!(
            read_target("/w/containers/a b&c/stdout", 0, 1),
            "/files/read?path=/w/containers/a%20b%26c/stdout&offset=0&length=1"
        );
    }
}
