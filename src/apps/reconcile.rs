//! Convergence: each app's instances are brought to its definition by the plan (plan.rs):
//! launches (within the backoff, with host ports from the node's range) and kills. Runs on a
//! deferred timer after every change and once a second while apps exist (for backoffs ending
//! and launches that waited for resources).

use std::time::{Duration, Instant};

use super::controller::Apps;
use super::definition::launch::{launch_request, InstanceFacts};
use super::env::{kill_container, remove_container, Env};
use super::instance::{Instance, InstanceState};
use super::plan::{plan, Seen};
use super::{ports, time, AppId, TaskId};
use crate::containerizer::LaunchOutcome;
use crate::resources::PortRange;
use crate::timer::{TimerKind, Timers};

/// How often convergence is looked at without a change.
const TICK: Duration = Duration::from_secs(1);

/// Launches started per loop iteration: each is a few hundred microseconds of the loop, so a
/// scale to hundreds is spread over iterations that requests get between.
const LAUNCHES_PER_ITERATION: usize = 4;

/// The backoff's count restarts once an instance ran this long.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);

impl Apps {
    /// A reconcile in the next loop iteration.
    pub(super) fn reconcile_now(&mut self, env: &mut Env<'_>) {
        if !self.deferred {
            self.deferred = true;
            env.timers.defer(TimerKind::AppsReconcile);
        }
    }

    pub(super) fn schedule(&mut self, timers: &mut Timers) {
        if !self.ticking && !self.apps.is_empty() {
            self.ticking = true;
            timers.add(TICK, TimerKind::AppsTick);
        }
    }

    /// A timer of the controller's.
    pub fn on_timer(&mut self, kind: &TimerKind, env: &mut Env<'_>) {
        match kind {
            TimerKind::AppsReconcile => self.deferred = false,
            TimerKind::AppsTick => self.ticking = false,
            TimerKind::AppsBackoff => {}
            TimerKind::Health(_) => return self.on_health_timer(kind, env),
            _ => return,
        }
        self.reconcile(env);
        self.schedule(env.timers);
    }

    fn reconcile(&mut self, env: &mut Env<'_>) {
        let ids: Vec<AppId> = self.apps.keys().cloned().collect();
        let mut budget = LAUNCHES_PER_ITERATION;
        for id in ids {
            self.reconcile_app(&id, &mut budget, env);
        }
        if budget == 0 {
            // More to launch: go on in the next iteration.
            self.reconcile_now(env);
        }
        self.flush();
    }

    fn reconcile_app(&mut self, id: &AppId, budget: &mut usize, env: &mut Env<'_>) {
        let held = self.held;
        let Some(app) = self.apps.get_mut(id) else {
            return;
        };
        if app.deleting && app.instances.is_empty() {
            if let Some(kept) = app.kept_failure.take() {
                remove_container(&kept, env);
            }
            log::info!("App {id} is gone");
            self.apps.remove(id);
            self.generation += 1;
            return;
        }
        let now = Instant::now();
        if app.backoff.failures() > 0
            && app.instances.iter().any(|i| {
                i.running_since
                    .is_some_and(|t| now.duration_since(t) >= BACKOFF_RESET_AFTER)
            })
        {
            app.backoff.reset();
        }
        let version = app.def.version.clone().unwrap_or_default();
        let has_checks = app.has_checks();
        let seen: Vec<Seen> = app
            .instances
            .iter()
            .enumerate()
            .map(|(key, i)| Seen {
                key,
                current: i.version == version,
                staging: i.state == InstanceState::Staging,
                killing: i.state == InstanceState::Killing,
                healthy: i.healthy(has_checks),
                seq: i.seq,
            })
            .collect();
        let p = plan(
            app.target(),
            app.def.upgrade_strategy,
            app.def.kill_selection,
            &seen,
        );
        let mut changed = false;
        for key in &p.kill {
            let inst = &mut app.instances[*key];
            inst.state = InstanceState::Killing;
            log::info!("App {id}: killing task {}", inst.task);
            self.health.unwatch(inst.task.as_str(), env.registry);
            kill_container(&inst.container.clone(), env);
            changed = true;
        }
        let wait = app.backoff.wait(now);
        let mut launched = 0;
        if p.launch > 0 && !wait.is_zero() {
            log::debug!("App {id}: next launch in {wait:?} (backoff)");
        }
        while launched < p.launch && *budget > 0 && wait.is_zero() && !held {
            *budget -= 1;
            match self.launch_one(id, env) {
                Ok(()) => {
                    launched += 1;
                    changed = true;
                }
                Err(()) => break,
            }
        }
        let Some(app) = self.apps.get_mut(id) else {
            return;
        };
        // Converged: no old version, no surplus, every instance healthy, nothing killing.
        let target = app.target();
        let converged = app.instances.len() == target
            && app
                .instances
                .iter()
                .all(|i| i.version == version && i.healthy(has_checks));
        if converged && !app.deleting {
            if let Some(d) = app.deployment.take() {
                log::info!("App {id}: deployment {} finished", d.id);
            }
        }
        if changed {
            self.save(id);
        }
    }

    /// Launches one instance of `id`; Err when no launch can go now (the reason is logged once
    /// and kept in `waiting`).
    fn launch_one(&mut self, id: &AppId, env: &mut Env<'_>) -> Result<(), ()> {
        let nonce = self.nonces.fresh();
        self.seq += 1;
        let seq = self.seq;
        let hostname = self.hostname.clone();
        let total = env.containerizer.total().ports.clone();
        let mut taken: Vec<PortRange> = env.containerizer.allocated().ports;
        for app in self.apps.values() {
            for i in &app.instances {
                taken.extend(i.ports.iter().map(|p| PortRange::new(*p, *p)));
            }
        }
        let Some(app) = self.apps.get_mut(id) else {
            return Err(());
        };
        let ports = match ports::choose(&app.def.port_needs(), &total, &taken) {
            Ok(p) => p,
            Err(why) => {
                note_waiting(app, why);
                self.answer_created(id);
                return Err(());
            }
        };
        let task = TaskId::new(id, nonce);
        let container = match task.container_id() {
            Ok(c) => c,
            Err(e) => {
                note_waiting(app, e);
                return Err(());
            }
        };
        let facts = InstanceFacts {
            task_id: task.as_str(),
            container_id: container.as_str(),
            host_ports: &ports,
            hostname: &hostname,
        };
        let req = match launch_request(&app.def, &facts) {
            Ok(r) => r,
            Err(e) => {
                // The definition itself cannot launch (validation let it through): a failure.
                let msg = format!("Invalid launch: {e}");
                self.launch_failed(id, &task, &msg, env);
                return Err(());
            }
        };
        let version = app.def.version.clone().unwrap_or_default();
        match env.containerizer.launch(req, env.registry, env.timers) {
            LaunchOutcome::Pending => {
                log::info!("App {id}: launching task {task} on ports {ports:?}");
                app.waiting = None;
                self.by_container.insert(container.clone(), id.clone());
                app.instances.push(Instance {
                    task,
                    container,
                    version,
                    ports,
                    staged_at: time::now(),
                    started_at: None,
                    state: InstanceState::Staging,
                    running_since: None,
                    alive: None,
                    seq,
                });
                Ok(())
            }
            LaunchOutcome::AlreadyExists => {
                note_waiting(app, format!("container {container} exists already"));
                Err(())
            }
            LaunchOutcome::Refused(why) if why.contains("nsufficient") => {
                note_waiting(app, why);
                self.answer_created(id);
                Err(())
            }
            LaunchOutcome::Refused(why) => {
                self.launch_failed(id, &task, &why, env);
                Err(())
            }
            LaunchOutcome::Failed(why) => {
                remove_container(&container, env);
                self.launch_failed(id, &task, &why, env);
                Err(())
            }
        }
    }
}

fn note_waiting(app: &mut super::controller::App, why: String) {
    if app.waiting.as_deref() != Some(why.as_str()) {
        log::warn!("App {}: waiting to launch: {why}", app.id);
        app.waiting = Some(why);
    }
}
