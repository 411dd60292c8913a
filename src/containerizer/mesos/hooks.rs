//! `--hooks_dir`: executables the administrator puts at points of a container's life, run as
//! children (never in the loop), each killed at `--hooks_timeout`. `prelaunch` runs between
//! START and PREPARE: the launch request as JSON on its stdin (a file in the runtime
//! directory, so no pipe is written from the loop), the container's ID and sandbox in
//! `MESOS_CONTAINER_ID` and `MESOS_SANDBOX`; its JSON answer on stdout may add environment
//! variables (and labels, logged) in Mesos's shapes. `postfetch` runs once the command's URIs
//! are in the sandbox (so only for a launch that has URIs), before the task is released; its
//! stdout is not read as an answer. A failure of either fails the launch with its stderr.
//! `remove` runs at REMOVE_CONTAINER, left to end on its own; its failure is only logged.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mio::Registry;
use serde_json::{json, Value};

use super::error::LaunchError;
use super::steps::Next;
use super::{slot_container, ContainerId, MesosContainerizer, Notice};
use crate::children::{ChildEvent, ChildId, Children, Owner, Program};
use crate::spec::LaunchRequest;
use crate::sys::user::User;
use crate::timer::Timers;

/// The most of a hook's stdout read as its answer, and of its stderr put in a message.
const ANSWER_LIMIT: usize = 64 * 1024;
const STDERR_LIMIT: u64 = 4096;

/// `--hooks_dir` and `--hooks_timeout`.
#[derive(Debug, Clone, Default)]
pub struct HookSettings {
    pub dir: Option<PathBuf>,
    pub timeout: Duration,
}

impl HookSettings {
    /// The hook `name`, if the directory has it.
    pub fn hook(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.as_ref()?.join(name);
        path.is_file().then_some(path)
    }
}

/// What follows a hook that succeeded.
// Held in the boxed `Hooking`, one per launch: the size is paid once, on the heap.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Then {
    /// `prelaunch`: the launch's next step, with the answer's environment added.
    Stage {
        req: LaunchRequest,
        user: Option<User>,
        next: Next,
    },
    /// `postfetch`: the task's release.
    Release,
}

/// A launch waiting for its `prelaunch` or `postfetch` hook.
#[derive(Debug)]
pub(super) struct Hooking {
    then: Then,
    child: ChildId,
    hook: PathBuf,
    stderr: PathBuf,
    stdout: String,
}

/// What a hook's answer adds.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub environment: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
}

/// Reads `{"environment": {"variables": [..]}, "labels": {"labels": [..]}}`; empty output is
/// an empty answer.
pub fn parse_answer(text: &str) -> Result<Answer, String> {
    if text.trim().is_empty() {
        return Ok(Answer::default());
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("unreadable answer: {e}"))?;
    let pairs =
        |list: Option<&Value>, k: &str, val: &str| -> Result<Vec<(String, String)>, String> {
            let Some(list) = list else {
                return Ok(Vec::new());
            };
            let items = list
                .as_array()
                .ok_or("a list in the answer is not an array")?;
            items
                .iter()
                .map(|i| {
                    match (
                        i.get(k).and_then(Value::as_str),
                        i.get(val).and_then(Value::as_str),
                    ) {
                        (Some(a), Some(b)) => Ok((a.to_string(), b.to_string())),
                        _ => Err(format!("an entry without string '{k}' and '{val}': {i}")),
                    }
                })
                .collect()
        };
    Ok(Answer {
        environment: pairs(v.pointer("/environment/variables"), "name", "value")?,
        labels: pairs(v.pointer("/labels/labels"), "key", "value")?,
    })
}

/// The launch request in its Mesos shape, for the hook's stdin.
pub fn request_json(req: &LaunchRequest) -> Value {
    let variables: Vec<Value> = req
        .command
        .environment
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    json!({
        "container_id": {"value": req.id.as_str()},
        "command": {
            "value": req.command.value,
            "shell": req.command.shell,
            "arguments": req.command.arguments,
            "environment": {"variables": variables},
            "user": req.command.user,
        },
        "resources": req.resources.to_json(),
    })
}

/// The hook as a child: in a process group of its own (so that what it starts is killed with
/// it at its timeout), the container's ID and sandbox in its environment.
pub fn hook_command(
    hook: &Path,
    id: &ContainerId,
    sandbox: &Path,
    stdin: Stdio,
    stderr: Stdio,
) -> Program {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(hook);
    cmd.env("MESOS_CONTAINER_ID", id.as_str())
        .env("MESOS_SANDBOX", sandbox)
        .stdin(stdin)
        .stderr(stderr)
        .process_group(0);
    Program::Exec(cmd)
}

impl MesosContainerizer {
    /// Starts the `prelaunch` hook before `next` (PREPARE) if there is one still to run;
    /// gives the launch back when there is none.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn begin_prelaunch(
        &mut self,
        id: &ContainerId,
        req: LaunchRequest,
        user: Option<User>,
        next: Next,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Option<(LaunchRequest, Option<User>, Next)>, LaunchError> {
        // (Some: no hook to run, the launch goes on at once.)
        let hook = match self.settings.hooks.hook("prelaunch") {
            Some(h) if self.containers.get(id).is_some_and(|c| !c.hooked) => h,
            _ => return Ok(Some((req, user, next))),
        };
        let Some(c) = self.containers.get_mut(id) else {
            return Err(LaunchError::Vanished(id.clone()));
        };
        c.hooked = true;
        let input = c.ckpt.runtime.join("prelaunch.json");
        let body = serde_json::to_vec(&request_json(&req)).unwrap_or_default();
        let fail = |e: std::io::Error| LaunchError::Hook {
            hook: hook.clone(),
            why: format!("{}: {e}", input.display()),
        };
        std::fs::write(&input, body).map_err(fail)?;
        let stdin = File::open(&input).map_err(fail)?;
        let then = Then::Stage { req, user, next };
        self.spawn_hook(id, hook, "prelaunch", stdin.into(), then, registry, timers)?;
        Ok(None)
    }

    /// Starts the `postfetch` hook, if there is one: the task is released once it succeeds.
    pub(super) fn begin_postfetch(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<bool, LaunchError> {
        let Some(hook) = self.settings.hooks.hook("postfetch") else {
            return Ok(false);
        };
        self.spawn_hook(
            id,
            hook,
            "postfetch",
            Stdio::null(),
            Then::Release,
            registry,
            timers,
        )?;
        Ok(true)
    }

    /// Runs `hook` (named `name`) for the launch of `id`, its stderr kept in the runtime
    /// directory; `then` follows its success.
    #[allow(clippy::too_many_arguments)]
    fn spawn_hook(
        &mut self,
        id: &ContainerId,
        hook: PathBuf,
        name: &str,
        stdin: Stdio,
        then: Then,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), LaunchError> {
        let Some(c) = self.containers.get(id) else {
            return Err(LaunchError::Vanished(id.clone()));
        };
        let (slot, sandbox) = (c.slot, c.sandbox.clone());
        let stderr = c.ckpt.runtime.join(format!("{name}.stderr"));
        let fail = |why: String| LaunchError::Hook {
            hook: hook.clone(),
            why,
        };
        let err = File::create(&stderr).map_err(|e| fail(format!("{}: {e}", stderr.display())))?;
        let program = hook_command(&hook, id, &sandbox, stdin, err.into());
        let child = self
            .children
            .spawn(Owner::Hook(slot), program, registry)
            .map_err(|e| fail(e.to_string()))?;
        self.children
            .set_deadline(child, self.settings.hooks.timeout, timers);
        log::debug!(
            "Container {id}: running the {name} hook {} ({child})",
            hook.display()
        );
        if let Some(c) = self.containers.get_mut(id) {
            c.hook = Some(Box::new(Hooking {
                then,
                child,
                hook,
                stderr,
                stdout: String::new(),
            }));
        }
        Ok(())
    }

    /// A hook wrote or ended: the launch goes on (with what a prelaunch hook added), or fails.
    pub(super) fn on_hook_event(
        &mut self,
        slot: u32,
        event: ChildEvent,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        let Some(h) = c.hook.as_mut() else {
            return Vec::new();
        };
        let (status, timed_out) = match event {
            ChildEvent::Lines { lines, .. } => {
                keep_answer(&mut h.stdout, lines);
                return Vec::new();
            }
            ChildEvent::Finished {
                status, timed_out, ..
            } => (status, timed_out),
        };
        let Some(h) = c.hook.take() else {
            return Vec::new();
        };
        let Hooking {
            mut then,
            hook,
            stderr,
            stdout,
            ..
        } = *h;
        let why = if let Some(why) =
            hook_failure(status, timed_out, self.settings.hooks.timeout, &stderr)
        {
            Some(why)
        } else if let Then::Stage { req, .. } = &mut then {
            match parse_answer(&stdout) {
                Ok(answer) => {
                    if !answer.labels.is_empty() {
                        log::info!(
                            "Container {id}: the prelaunch hook labels it {:?}",
                            answer.labels
                        );
                    }
                    req.command.environment.extend(answer.environment);
                    None
                }
                Err(e) => Some(e),
            }
        } else {
            None
        };
        match (why, then) {
            (None, Then::Stage { req, user, next }) => {
                self.stage(&id, req, user, next, timers);
                Vec::new()
            }
            (None, Then::Release) => self.release_fetched(&id, registry, timers),
            (Some(why), _) => {
                self.step_failed(&id, LaunchError::Hook { hook, why }, registry, timers)
            }
        }
    }

    /// DESTROYING while a hook runs: it is killed and the LAUNCH answered.
    pub(super) fn abort_hook(&mut self, id: &ContainerId, registry: &Registry) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        let Some(h) = c.hook.take() else {
            return Vec::new();
        };
        self.children.kill(h.child, registry);
        let msg = "Failed to launch container: the container was destroyed while a hook ran";
        if c.launch_failure.is_none() && !c.killed {
            c.launch_failure = Some(msg.to_string());
        }
        vec![Notice::LaunchFailed(id.clone(), msg.to_string())]
    }

    /// REMOVE_CONTAINER: the `remove` hook, left to run on its own (its end is only logged).
    pub(super) fn run_remove_hook(
        &mut self,
        id: &ContainerId,
        sandbox: &Path,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        run_remove_hook(
            &self.settings.hooks,
            &mut self.children,
            id,
            sandbox,
            registry,
            timers,
        );
    }
}

/// Starts the `remove` hook of `id`, if there is one, left to end on its own.
pub fn run_remove_hook(
    hooks: &HookSettings,
    children: &mut Children,
    id: &ContainerId,
    sandbox: &Path,
    registry: &Registry,
    timers: &mut Timers,
) {
    let Some(hook) = hooks.hook("remove") else {
        return;
    };
    let program = hook_command(&hook, id, sandbox, Stdio::null(), Stdio::null());
    match children.spawn(Owner::RemoveHook, program, registry) {
        Ok(child) => children.set_deadline(child, hooks.timeout, timers),
        Err(e) => log::warn!(
            "Container {id}: the remove hook {} did not start: {e}",
            hook.display()
        ),
    }
}

/// Appends a hook's stdout lines to its answer, up to `ANSWER_LIMIT`.
pub fn keep_answer(answer: &mut String, lines: Vec<String>) {
    for line in lines {
        if answer.len() + line.len() < ANSWER_LIMIT {
            answer.push_str(&line);
            answer.push('\n');
        }
    }
}

/// Why a hook that ended failed (its timeout, or its status with the end of its stderr).
pub fn hook_failure(
    status: i32,
    timed_out: bool,
    timeout: Duration,
    stderr: &Path,
) -> Option<String> {
    if timed_out {
        return Some(format!("it timed out after {timeout:?} and was killed"));
    }
    if status == 0 {
        return None;
    }
    let text = crate::sys::bounded::read_file(stderr, STDERR_LIMIT * 16)
        .map(|b| tail(&b))
        .unwrap_or_else(|e| format!("(its stderr is not read: {e})"));
    Some(format!(
        "it exited with wait status {status}: {}",
        text.trim()
    ))
}

/// A remove hook's end.
pub fn on_remove_hook_event(event: ChildEvent) {
    if let ChildEvent::Finished {
        status, timed_out, ..
    } = event
    {
        if timed_out {
            log::warn!("A remove hook timed out and was killed");
        } else if status != 0 {
            log::warn!("A remove hook failed with wait status {status}");
        }
    }
}

/// The last `STDERR_LIMIT` bytes, as text.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_LIMIT as usize);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_mesos_shapes_are_read_and_others_refused() {
        let a = parse_answer(
            r#"{"environment": {"variables": [{"name": "K", "value": "V"}]},
                "labels": {"labels": [{"key": "k", "value": "v"}]}}"#,
        )
        .unwrap();
        assert_eq!(a.environment, vec![("K".into(), "V".into())]);
        assert_eq!(a.labels, vec![("k".into(), "v".into())]);
        assert_eq!(parse_answer("  \n").unwrap(), Answer::default());
        assert!(parse_answer("K=V").is_err());
        assert!(parse_answer(r#"{"environment": {"variables": [{"name": "K"}]}}"#).is_err());
        assert!(parse_answer(r#"{"labels": {"labels": {}}}"#).is_err());
    }

    #[test]
    fn a_long_stderr_keeps_its_end() {
        let mut text = vec![b'a'; 10_000];
        text.extend_from_slice(b"the end");
        let t = tail(&text);
        assert_eq!(t.len(), STDERR_LIMIT as usize);
        assert!(t.ends_with("the end"));
    }
}
