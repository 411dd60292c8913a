//! What the containerizer tells the controller: an instance's task exec'd (it runs), its
//! launch failed, or it ended. An end the controller did not cause is a failure: it is
//! recorded as `lastTaskFailure`, counted as a restart, and the replacement waits for the
//! backoff.

use std::time::Instant;

use super::controller::Apps;
use super::definition::validate::Invalid;
use super::env::{remove_container, Env};
use super::instance::InstanceState;
use super::{render, time, AppId, TaskId};
use crate::containerizer::{ContainerId, Notice};
use crate::http::Response;

impl Apps {
    /// A notice of the containerizer's (every notice goes here; others' are ignored).
    pub fn on_notice(&mut self, notice: &Notice, env: &mut Env<'_>) {
        let (Notice::Launched(c) | Notice::LaunchFailed(c, _) | Notice::Terminated(c)) = notice;
        if self.discard.contains(c) {
            if !matches!(notice, Notice::Launched(_)) {
                self.discard.remove(c);
                remove_container(c, env);
            }
            return;
        }
        let Some(id) = self.by_container.get(c).cloned() else {
            return;
        };
        match notice {
            Notice::Launched(c) => {
                self.launched(&id, c);
                self.watch_health(&id, c, env);
            }
            Notice::LaunchFailed(c, msg) => {
                let task = self.forget_instance(&id, c);
                remove_container(c, env);
                if let Some(task) = task {
                    self.launch_failed(&id, &task, msg, env);
                }
            }
            Notice::Terminated(c) => self.terminated(&id, c, env),
        }
        self.save(&id);
        self.reconcile_now(env);
    }

    fn launched(&mut self, id: &AppId, c: &ContainerId) {
        let Some(app) = self.apps.get_mut(id) else {
            return;
        };
        if let Some(inst) = app.instances.iter_mut().find(|i| &i.container == c) {
            if inst.state == InstanceState::Staging {
                inst.state = InstanceState::Running;
            }
            inst.started_at = Some(time::now());
            inst.running_since = Some(Instant::now());
            log::info!("App {id}: task {} is running", inst.task);
        }
        self.answer_created(id);
    }

    fn terminated(&mut self, id: &AppId, c: &ContainerId, env: &mut Env<'_>) {
        let status = env.containerizer.status(c);
        let Some(app) = self.apps.get_mut(id) else {
            return;
        };
        let Some(pos) = app.instances.iter().position(|i| &i.container == c) else {
            return;
        };
        let inst = app.instances.remove(pos);
        self.by_container.remove(c);
        self.health.unwatch(inst.task.as_str(), env.registry);
        if inst.state == InstanceState::Killing {
            log::info!("App {id}: task {} ended (killed)", inst.task);
            remove_container(c, env);
            return;
        }
        let term = status.and_then(|s| s.termination);
        let state = term
            .as_ref()
            .map_or("TASK_FAILED", |t| t.state.name())
            .to_string();
        let message = term
            .as_ref()
            .and_then(|t| t.message.clone().or_else(|| t.status.map(describe_status)))
            .unwrap_or_else(|| "The task ended".into());
        log::warn!("App {id}: task {} ended ({state}): {message}", inst.task);
        let version = inst.version.clone();
        let delay = app.failed(&self.hostname, inst.task.as_str(), state, message, version);
        log::info!("App {id}: relaunching in {delay:?}");
        // Its sandbox stays for its logs until the next failure replaces it.
        if let Some(old) = app.kept_failure.replace(c.clone()) {
            remove_container(&old, env);
        }
        // A replacement may be due before the next tick.
        env.timers.add(delay, crate::timer::TimerKind::AppsBackoff);
    }

    /// Drops an instance whose container is gone; its task ID.
    fn forget_instance(&mut self, id: &AppId, c: &ContainerId) -> Option<TaskId> {
        self.by_container.remove(c);
        let app = self.apps.get_mut(id)?;
        let pos = app.instances.iter().position(|i| &i.container == c)?;
        Some(app.instances.remove(pos).task)
    }

    /// A launch that did not get to exec. The first launch of an app just POSTed fails the
    /// POST (422: an unknown image, say) and the app is dropped; later ones are failures.
    pub(super) fn launch_failed(
        &mut self,
        id: &AppId,
        task: &TaskId,
        msg: &str,
        env: &mut Env<'_>,
    ) {
        if self.creating.contains(id) {
            let path = if msg.contains("image") || msg.contains("pull") {
                "/container/docker/image"
            } else {
                "/"
            };
            let invalid = Invalid::one(
                path,
                format!("The app's first instance could not launch: {msg}"),
            );
            self.answers
                .push((id.clone(), Response::json(422, &invalid.to_json())));
            self.creating.retain(|c| c != id);
            log::warn!("App {id} refused: its first instance could not launch: {msg}");
            if let Some(app) = self.apps.remove(id) {
                self.generation += 1;
                self.discard_instances(app.instances, env);
            }
            let _ = self.store.remove(&id.stem());
            return;
        }
        let Some(app) = self.apps.get_mut(id) else {
            return;
        };
        log::warn!("App {id}: task {task} failed to launch: {msg}");
        let version = app.def.version.clone().unwrap_or_default();
        let delay = app.failed(
            &self.hostname,
            task.as_str(),
            "TASK_FAILED".into(),
            msg.to_string(),
            version,
        );
        env.timers.add(delay, crate::timer::TimerKind::AppsBackoff);
    }

    /// Answers a POST waiting on `id`'s first instance: 201 with the app.
    pub(super) fn answer_created(&mut self, id: &AppId) {
        if !self.creating.contains(id) {
            return;
        }
        self.creating.retain(|c| c != id);
        if let Some(app) = self.apps.get(id) {
            let body = render::app(self, app, &render::Embed::default());
            self.answers.push((id.clone(), Response::json(201, &body)));
        }
    }
}

/// A raw wait status as Mesos's executors word it.
fn describe_status(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("Command terminated with signal {}", libc::WTERMSIG(status))
    } else {
        format!("Command exited with status {}", libc::WEXITSTATUS(status))
    }
}
