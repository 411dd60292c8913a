//! The app controller's health checks: an instance is watched once its task runs (again after
//! an agent restart), its health is what `healthCheckResults`, `tasksHealthy` and rolling
//! changes go by, and one that fails `maxConsecutiveFailures` checks in a row is killed and
//! replaced, as a failure (backoff, `lastTaskFailure`).

use std::net::{IpAddr, Ipv4Addr};

use super::controller::Apps;
use super::definition::launch::{environment, InstanceFacts};
use super::env::{kill_container, Env};
use super::health::{Change, Target};
use super::instance::InstanceState;
use super::AppId;
use crate::containerizer::ContainerId;
use crate::event::Source;
use crate::timer::TimerKind;

impl Apps {
    /// Starts the checks of the instance running in `c`, if its app has any. Host ports are
    /// probed on loopback: every instance's ports are the node's.
    pub(super) fn watch_health(&mut self, id: &AppId, c: &ContainerId, env: &mut Env<'_>) {
        let Some(app) = self.apps.get(id) else { return };
        if !app.has_checks() {
            return;
        }
        let Some(inst) = app.instances.iter().find(|i| &i.container == c) else {
            return;
        };
        let facts = InstanceFacts {
            task_id: inst.task.as_str(),
            container_id: inst.container.as_str(),
            host_ports: &inst.ports,
            hostname: &self.hostname,
        };
        let target = Target {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: inst.ports.clone(),
            pid: env.containerizer.status(c).and_then(|s| s.executor_pid),
            env: environment(&app.def, &facts),
        };
        let task = inst.task.as_str().to_string();
        let checks = app.def.health_checks.clone();
        self.health.watch(&task, &checks, target, env.timers);
    }

    /// The results of an instance's checks, one per check of its app.
    pub fn health_results(&self, task: &str) -> Vec<super::health::CheckResult> {
        self.health.results(task)
    }

    /// Whether a loop source is the health checker's (a probe, a COMMAND check's child).
    pub fn owns(&self, source: Source) -> bool {
        self.health.owns(source)
    }

    /// A source of the health checker became ready.
    pub fn on_event(&mut self, source: Source, env: &mut Env<'_>) {
        let changes = self.health.on_event(source, env.registry, env.timers);
        self.on_health(changes, env);
    }

    /// SIGCHLD: a COMMAND check may have ended.
    pub fn on_sigchld(&mut self, env: &mut Env<'_>) {
        let changes = self.health.on_sigchld(env.registry, env.timers);
        self.on_health(changes, env);
    }

    pub(super) fn on_health_timer(&mut self, kind: &TimerKind, env: &mut Env<'_>) {
        let changes = self.health.on_timer(kind, env.registry, env.timers);
        self.on_health(changes, env);
    }

    fn on_health(&mut self, changes: Vec<Change>, env: &mut Env<'_>) {
        for change in changes {
            let found = self.apps.iter_mut().find_map(|(id, app)| {
                app.instances
                    .iter()
                    .position(|i| i.task.as_str() == change.task)
                    .map(|pos| (id.clone(), pos))
            });
            let Some((id, pos)) = found else { continue };
            let Some(app) = self.apps.get_mut(&id) else {
                continue;
            };
            let inst = &mut app.instances[pos];
            inst.alive = Some(change.alive);
            if !change.failed_out || inst.state != InstanceState::Running {
                self.reconcile_now(env);
                continue;
            }
            inst.state = InstanceState::Killing;
            let container = inst.container.clone();
            let task = inst.task.as_str().to_string();
            let version = inst.version.clone();
            log::warn!(
                "App {id}: task {task} failed {} health checks in a row: killing it",
                change.consecutive_failures
            );
            let delay = app.failed(
                &self.hostname,
                &task,
                "TASK_KILLED".into(),
                format!(
                    "Unhealthy: {} consecutive health check failures",
                    change.consecutive_failures
                ),
                version,
            );
            env.timers.add(delay, TimerKind::AppsBackoff);
            self.health.unwatch(&task, env.registry);
            kill_container(&container, env);
            self.save(&id);
            self.reconcile_now(env);
        }
    }
}
