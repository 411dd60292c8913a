//! `--hooks_dir` for Docker containers, as for Mesos ones: `prelaunch` first (the launch
//! request on stdin; the environment variables of its answer go into the create body's `Env`),
//! `postfetch` once the URIs are in the sandbox (before the pull), `remove` at
//! REMOVE_CONTAINER. Each is a child with `--hooks_timeout`; a failing one fails the launch.

use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;

use mio::Registry;

use super::{checkpoint, DockerContainerizer};
use crate::children::{ChildEvent, ChildId, Owner};
use crate::containerizer::mesos::{
    hook_command, hook_failure, keep_answer, parse_answer, request_json,
};
use crate::containerizer::{Notice, State};
use crate::spec::{ContainerId, LaunchRequest};
use crate::timer::Timers;

/// Which hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Point {
    Prelaunch,
    Postfetch,
}

impl Point {
    fn name(self) -> &'static str {
        match self {
            Point::Prelaunch => "prelaunch",
            Point::Postfetch => "postfetch",
        }
    }
}

/// A launch's hook while it runs.
#[derive(Debug)]
pub(super) struct Hook {
    point: Point,
    slot: u32,
    child: ChildId,
    path: PathBuf,
    stderr: PathBuf,
    stdout: String,
}

impl DockerContainerizer {
    /// Starts hook `point` of the launch of `id` if `--hooks_dir` has one (true: it runs).
    pub(super) fn begin_hook(
        &mut self,
        id: &ContainerId,
        point: Point,
        req: Option<&LaunchRequest>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<bool, String> {
        let Some(path) = self.settings.hooks.hook(point.name()) else {
            return Ok(false);
        };
        let Some(c) = self.containers.get(id) else {
            return Ok(false);
        };
        let sandbox = c.sandbox.clone();
        let dir = checkpoint::dir(&self.settings.work_dir, id.as_str());
        let fail = |e: std::io::Error| {
            format!(
                "Failed to launch container: the {} hook {}: {e}",
                point.name(),
                path.display()
            )
        };
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let stdin = match req {
            Some(req) => {
                let input = dir.join("prelaunch.json");
                let body = serde_json::to_vec(&request_json(req)).unwrap_or_default();
                std::fs::write(&input, body).map_err(fail)?;
                Stdio::from(File::open(&input).map_err(fail)?)
            }
            None => Stdio::null(),
        };
        let stderr = dir.join(format!("{}.stderr", point.name()));
        let err = File::create(&stderr).map_err(fail)?;
        let program = hook_command(&path, id, &sandbox, stdin, err.into());
        self.next_slot = self.next_slot.wrapping_add(1);
        let slot = self.next_slot;
        let child = self
            .children
            .spawn(Owner::Hook(slot), program, registry)
            .map_err(|e| fail(std::io::Error::other(e.to_string())))?;
        self.children
            .set_deadline(child, self.settings.hooks.timeout, timers);
        self.slots.insert(slot, id.clone());
        if let Some(c) = self.containers.get_mut(id) {
            if point == Point::Prelaunch {
                c.state = State::Preparing;
            }
            c.hook = Some(Hook {
                point,
                slot,
                child,
                path,
                stderr,
                stdout: String::new(),
            });
        }
        Ok(true)
    }

    /// A hook wrote or ended: the launch goes on (with the prelaunch answer's environment), or
    /// fails with the hook's stderr.
    pub(super) fn on_hook_event(
        &mut self,
        slot: u32,
        event: ChildEvent,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(id) = self.slots.get(&slot).cloned() else {
            return Vec::new();
        };
        let Some(c) = self.containers.get_mut(&id) else {
            return Vec::new();
        };
        let (status, timed_out) = match event {
            ChildEvent::Lines { lines, .. } => {
                if let Some(h) = c.hook.as_mut() {
                    keep_answer(&mut h.stdout, lines);
                }
                return Vec::new();
            }
            ChildEvent::Finished {
                status, timed_out, ..
            } => (status, timed_out),
        };
        self.slots.remove(&slot);
        let Some(h) = c.hook.take() else {
            return Vec::new();
        };
        let mut why = hook_failure(status, timed_out, self.settings.hooks.timeout, &h.stderr);
        if why.is_none() && h.point == Point::Prelaunch {
            match parse_answer(&h.stdout) {
                Ok(answer) => {
                    if !answer.labels.is_empty() {
                        log::info!(
                            "Container {id}: the prelaunch hook labels it {:?}",
                            answer.labels
                        );
                    }
                    add_env(c.body.as_mut(), &answer.environment);
                }
                Err(e) => why = Some(e),
            }
        }
        if let Some(why) = why {
            let msg = format!(
                "Failed to launch container: the {} hook {} failed: {why}",
                h.point.name(),
                h.path.display()
            );
            return self.fail(&id, msg, registry, timers);
        }
        match h.point {
            Point::Prelaunch => self.after_prelaunch(&id, registry, timers),
            Point::Postfetch => self.obtain_image(&id, registry, timers),
        }
    }

    /// A destroyed or failed launch's hook is killed at once.
    pub(super) fn abort_hook(&mut self, id: &ContainerId, registry: &Registry) {
        if let Some(h) = self.containers.get_mut(id).and_then(|c| c.hook.take()) {
            self.slots.remove(&h.slot);
            self.children.kill(h.child, registry);
        }
    }
}

/// `K=V` entries after the body's own (dockerd keeps the last of a name).
fn add_env(body: Option<&mut serde_json::Value>, vars: &[(String, String)]) {
    let Some(env) = body
        .and_then(|b| b.get_mut("Env"))
        .and_then(|e| e.as_array_mut())
    else {
        return;
    };
    env.extend(
        vars.iter()
            .map(|(k, v)| serde_json::json!(format!("{k}={v}"))),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hook_variables_follow_the_bodys_own() {
        let mut body = serde_json::json!({"Env": ["A=1"]});
        add_env(Some(&mut body), &[("B".into(), "2".into())]);
        assert_eq!(body["Env"], serde_json::json!(["A=1", "B=2"]));
    }
}
