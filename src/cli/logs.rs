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

/// Bytes asked for per files/read call (the agent's most per call): a follower must keep up
/// with a chatty task, or rotation deletes what it has not read.
const CHUNK: u64 = 1024 * 1024;

/// How often `-f` polls for new output.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// The first pause of `-f` after output stopped coming.
const MIN_PAUSE: Duration = Duration::from_millis(5);

/// Rotated files looked at past the current one (`<file>.1` … ), at most.
const MAX_ROTATED: u32 = 10_000;

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

/// `<path>` for `n == 0`, else the logrotate logger's `<path>.<n>`.
fn rotated(path: &str, n: u32) -> String {
    if n == 0 {
        path.to_string()
    } else {
        format!("{path}.{n}")
    }
}

/// `GET /files/read?path=...&offset=...&length=...`.
pub fn read_target(path: &str, offset: u64, length: u64) -> String {
    format!(
        "/files/read?path={}&offset={offset}&length={length}",
        percent_encode(path)
    )
}

/// What one files/read call found; `file_id` (which file the name means: inode and birth
/// time) is `None` from an agent that does not say it.
#[derive(Debug, PartialEq, Eq)]
enum Chunk {
    Data {
        data: String,
        file_id: Option<String>,
    },
    /// Nothing past the offset yet.
    Empty { file_id: Option<String> },
    /// The file (or its sandbox) does not exist.
    Missing,
}

impl Chunk {
    fn file_id(&self) -> Option<String> {
        match self {
            Chunk::Data { file_id, .. } | Chunk::Empty { file_id } => file_id.clone(),
            Chunk::Missing => None,
        }
    }
}

fn read_chunk(common: &Common, path: &str, offset: Option<u64>) -> Result<Chunk, CliError> {
    let target = match offset {
        Some(o) => read_target(path, o, CHUNK),
        None => format!("/files/read?path={}&offset=-1", percent_encode(path)),
    };
    let resp = common.client().get(&target)?;
    if resp.status == 404 {
        return Ok(Chunk::Missing);
    }
    let answer = answer_json(&check(resp, None)?, "file data")?;
    let file_id = answer["file_id"].as_str().map(str::to_string);
    match answer["data"].as_str() {
        Some("") => Ok(Chunk::Empty { file_id }),
        Some(data) => Ok(Chunk::Data {
            data: data.to_string(),
            file_id,
        }),
        None => Err(CliError::UnexpectedAnswer {
            what: "\"data\" field",
            body: answer.to_string(),
        }),
    }
}

/// Which file `path` means now (`None`: no such file).
fn file_id_of(common: &Common, path: &str) -> Result<Option<String>, CliError> {
    Ok(read_chunk(common, path, None)?.file_id())
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

/// Where a follower is: the file it reads (by its `file_id`, once known), the name that file has
/// now (0: the current file, n: `<file>.n`), and how far into it.
#[derive(Debug, Default)]
struct Cursor {
    name: u32,
    file_id: Option<String>,
    offset: u64,
}

/// What one step of copying did.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Printed something, or moved on to another file: step again.
    Moved,
    /// The current file is printed to its end.
    CaughtUp,
    /// There is no file (yet, or any more).
    Missing,
}

/// One read of the file under the cursor. Names only move up (`<f>` → `<f>.1` → `<f>.2`,
/// each a rename by the logger, the last one deleted), and a renamed file is complete, so:
/// a file found under another name is looked for further up; a renamed file read to its end
/// is followed by the one a name below it.
fn step(
    common: &Common,
    base: &str,
    cur: &mut Cursor,
    out: &mut dyn Write,
) -> Result<Step, CliError> {
    let chunk = read_chunk(common, &rotated(base, cur.name), Some(cur.offset))?;
    let ours = chunk != Chunk::Missing && (cur.file_id.is_none() || chunk.file_id() == cur.file_id);
    if !ours {
        if cur.file_id.is_none() {
            return Ok(Step::Missing);
        }
        return locate(common, base, cur);
    }
    if cur.file_id.is_none() {
        cur.file_id = chunk.file_id();
    }
    match chunk {
        Chunk::Data { data, .. } => {
            out.write_all(data.as_bytes())?;
            out.flush()?;
            cur.offset += data.len() as u64;
            Ok(Step::Moved)
        }
        _ if cur.name == 0 => Ok(Step::CaughtUp),
        _ => {
            // The next file is the one a name below, if this one has not moved meanwhile
            // (a rename of the next one to this name would have moved this one first).
            let next = file_id_of(common, &rotated(base, cur.name - 1))?;
            if next.is_some() && file_id_of(common, &rotated(base, cur.name))? == cur.file_id {
                *cur = Cursor {
                    name: cur.name - 1,
                    file_id: next,
                    offset: 0,
                };
            }
            Ok(Step::Moved)
        }
    }
}

/// The cursor's file is no longer under its name: finds it further up. If it is gone
/// (rotated away unread), says so and goes on with the oldest file there is.
fn locate(common: &Common, base: &str, cur: &mut Cursor) -> Result<Step, CliError> {
    let mut oldest = None;
    // A rotation in progress leaves a name free for a moment: look again before giving up.
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        for n in cur.name + 1..=MAX_ROTATED {
            match file_id_of(common, &rotated(base, n))? {
                None => break,
                Some(i) if Some(&i) == cur.file_id.as_ref() => {
                    cur.name = n;
                    return Ok(Step::Moved);
                }
                Some(i) => oldest = Some((n, i)),
            }
        }
    }
    let (name, file_id) = match oldest {
        Some(o) => o,
        None => match file_id_of(common, base)? {
            Some(i) => (0, i),
            None => return Ok(Step::Missing),
        },
    };
    eprintln!("mesolite logs: output was rotated away before it was read");
    *cur = Cursor {
        name,
        file_id: Some(file_id),
        offset: 0,
    };
    Ok(Step::Moved)
}

/// Copies the file to `out`; with `follow`, polls at that interval until the container has
/// terminated (or gone) and everything written before that has been printed, following the
/// file across the logrotate logger's rotations.
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
    let mut cur = Cursor::default();
    let mut printed = false;
    // Polls come quickly while the task writes (a follower that falls behind by more than the
    // rotated files loses output), slowing down to `interval` when it is quiet.
    let mut pause = Duration::ZERO;
    // Set once the container is over: the next time the file is caught up is the end.
    let mut draining = false;
    loop {
        let step = step(common, &path, &mut cur, out)?;
        if step == Step::Moved {
            printed |= cur.offset > 0;
            pause = Duration::ZERO;
            continue;
        }
        let missing = step == Step::Missing;
        let Some(interval) = follow else {
            return if missing && !printed {
                Err(CliError::NoSuchContainer(id.to_string()))
            } else {
                Ok(0)
            };
        };
        if draining {
            return Ok(0);
        }
        match container_state(common, id)? {
            None if missing && !printed => return Err(CliError::NoSuchContainer(id.to_string())),
            None => draining = true,
            // A logger may still be writing what the task wrote last: one more look after
            // an interval.
            Some(state) if state == "TERMINATED" => {
                std::thread::sleep(interval);
                draining = true;
            }
            Some(_) => {
                pause = (pause * 2).clamp(MIN_PAUSE, interval);
                std::thread::sleep(pause);
            }
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
