//! The fleet's way in. In a fleet, which apps run on this node and how many of their
//! instances is the scheduler's assignment (kept in etcd), not the API's: the fleet hands each
//! assignment here and the controller converges to it as it does to a definition posted
//! locally (backoff, health checks, rolling changes within the node's share).
//!
//! Fencing: an assignment is known by the revision that created it. A node that lost its
//! lease had its assignments deleted and maybe created anew once it came back; instances kept
//! from the older assignment are stale copies (their replacements may run elsewhere since),
//! so they are killed and the new assignment starts afresh.

use serde_json::{json, Value};

use super::controller::{App, Apps};
use super::definition::AppDefinition;
use super::deployment::{self, Action, Deployment};
use super::env::Env;
use super::{render, time, AppId};

impl Apps {
    /// Holds launches (kills go on) until the fleet knows this node's assignments: after a
    /// restart, checkpointed apps may have been placed elsewhere meanwhile.
    pub fn hold(&mut self, held: bool, env: &mut Env<'_>) {
        if self.held && !held {
            self.reconcile_now(env);
        }
        self.held = held;
    }

    /// Runs `def` (its `instances` are this node's share) under the assignment created at
    /// `revision`. The definition's version is the fleet's, kept as given.
    pub fn assign(&mut self, def: AppDefinition, revision: i64, env: &mut Env<'_>) {
        let Ok(id) = AppId::parse(&def.id) else {
            log::error!("Ignoring an assignment of the invalid app id '{}'", def.id);
            return;
        };
        let stale = self
            .apps
            .get(&id)
            .is_some_and(|a| a.deleting || a.assignment != Some(revision));
        if stale {
            log::info!("App {id}: assignment {revision} replaces an older one: its instances here are stale");
            self.forget(&id, env);
        }
        let Some(app) = self.apps.get_mut(&id) else {
            log::info!(
                "App {id}: assigned {} instance(s) here (assignment {revision})",
                def.instances
            );
            let app = App::new(
                id.clone(),
                def,
                time::now(),
                self.nonces.fresh(),
                Some(revision),
            );
            self.apps.insert(id.clone(), app);
            self.save(&id);
            self.reconcile_now(env);
            self.schedule(env.timers);
            return;
        };
        // Called on every look at the assignments: nothing to do is the common answer.
        let action = if app.def.version != def.version {
            Action::Restart
        } else if app.def.instances != def.instances {
            Action::Scale
        } else if app.def != def {
            Action::Restart
        } else {
            return;
        };
        let now = time::now();
        if action == Action::Restart {
            app.last_config_change_at = now.clone();
            app.backoff.reset();
        }
        log::info!(
            "App {id}: assignment {revision} changed ({action:?}): {} instance(s) here",
            def.instances
        );
        app.last_scaling_at = now.clone();
        app.def = def;
        app.deployment = Some(Deployment {
            id: deployment::new_id(self.nonces.fresh()),
            version: now,
            app: id.as_str().to_string(),
            action,
        });
        self.save(&id);
        self.reconcile_now(env);
    }

    /// The app no longer runs here: its instances are killed, then it is forgotten.
    pub fn unassign(&mut self, id: &AppId, env: &mut Env<'_>) {
        match self.apps.get(id) {
            Some(app) if !app.deleting => {}
            _ => return,
        }
        log::info!("App {id}: no longer assigned here");
        if let Err(e) = self.delete(id, env) {
            log::warn!("App {id}: {e:?}");
        }
    }

    /// The assignment an app runs under here.
    pub fn assignment_of(&self, id: &AppId) -> Option<i64> {
        self.apps.get(id).and_then(|a| a.assignment)
    }

    /// What the fleet publishes of an app here: its tasks as Marathon's, its restarts and
    /// last failure, and whether a change is still rolling.
    pub fn status_of(&self, id: &AppId) -> Option<Value> {
        let app = self.apps.get(id)?;
        let tasks: Vec<Value> = app
            .instances
            .iter()
            .map(|i| render::task(self, app, i))
            .collect();
        Some(json!({
            "tasks": tasks,
            "restarts": app.restarts,
            "lastTaskFailure": app.last_failure,
            "deploying": app.deployment.is_some(),
            "waiting": app.waiting,
        }))
    }
}
