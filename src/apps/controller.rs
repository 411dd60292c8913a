//! The app controller: the apps, their instances and deployments, and the changes the API
//! asks for. Convergence (launching, killing) is in reconcile.rs; the containerizer's notices
//! in events.rs; the JSON answers in render.rs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::backoff::Backoff;
use super::definition::validate::Invalid;
use super::definition::AppDefinition;
use super::deployment::{self, Action, Deployment};
use super::env::{kill_container, Env};
use super::instance::{Instance, InstanceState, TaskFailure};
use super::store::{AppRecord, Store, VERSION};
use super::{time, AppId, Nonces, TaskId};
use crate::containerizer::{ContainerId, Notice, State};
use crate::http::Response;
use crate::timer::TimerKind;

/// One app.
#[derive(Debug)]
pub struct App {
    pub id: AppId,
    pub def: AppDefinition,
    pub last_scaling_at: String,
    pub last_config_change_at: String,
    pub restarts: u64,
    pub last_failure: Option<TaskFailure>,
    pub instances: Vec<Instance>,
    pub backoff: Backoff,
    /// The last failed instance's container, kept for its logs until the next failure.
    pub kept_failure: Option<ContainerId>,
    /// DELETE: every instance is killed, then the app is forgotten.
    pub deleting: bool,
    pub deployment: Option<Deployment>,
    /// Why the last launch could not go (resources, ports), logged once per reason.
    pub waiting: Option<String>,
    /// In a fleet: the create revision of the scheduler's assignment this app runs under
    /// here; instances of another assignment are stale copies (see assigned.rs).
    pub assignment: Option<i64>,
}

impl App {
    /// A new app of `def` (its version as given), its first deployment under way.
    pub(super) fn new(
        id: AppId,
        def: AppDefinition,
        now: String,
        nonce: u128,
        assignment: Option<i64>,
    ) -> App {
        let deployment = Deployment {
            id: deployment::new_id(nonce),
            version: now.clone(),
            app: id.as_str().to_string(),
            action: Action::Start,
        };
        App {
            id,
            def,
            last_scaling_at: now.clone(),
            last_config_change_at: now,
            restarts: 0,
            last_failure: None,
            instances: Vec::new(),
            backoff: Backoff::default(),
            kept_failure: None,
            deleting: false,
            deployment: Some(deployment),
            waiting: None,
            assignment,
        }
    }

    pub fn has_checks(&self) -> bool {
        !self.def.health_checks.is_empty()
    }

    pub fn record(&self) -> AppRecord {
        AppRecord {
            format: VERSION,
            app: self.def.clone(),
            last_scaling_at: self.last_scaling_at.clone(),
            last_config_change_at: self.last_config_change_at.clone(),
            restarts: self.restarts,
            last_task_failure: self.last_failure.clone(),
            instances: self.instances.iter().map(Instance::record).collect(),
            kept_failure: self.kept_failure.as_ref().map(|c| c.as_str().to_string()),
            assignment: self.assignment,
        }
    }

    /// An instance failed: it is the app's `lastTaskFailure`, a restart, and the next launch
    /// waits for the backoff, which this returns.
    pub fn failed(
        &mut self,
        host: &str,
        task: &str,
        state: String,
        message: String,
        version: String,
    ) -> std::time::Duration {
        self.last_failure = Some(TaskFailure {
            app_id: self.id.as_str().to_string(),
            host: host.to_string(),
            message,
            state,
            task_id: task.to_string(),
            timestamp: time::now(),
            version,
            slave_id: host.to_string(),
        });
        self.restarts += 1;
        let d = &self.def;
        self.backoff.failed(
            d.backoff_seconds,
            d.backoff_factor,
            d.max_launch_delay_seconds,
            std::time::Instant::now(),
        )
    }

    pub fn target(&self) -> usize {
        if self.deleting {
            0
        } else {
            usize::try_from(self.def.instances).unwrap_or(0)
        }
    }
}

/// Why an API change was refused.
#[derive(Debug)]
pub enum AppError {
    NotFound(AppId),
    TaskNotFound(String),
    Exists(AppId),
    Invalid(Invalid),
    /// The checkpoint could not be written: nothing changed.
    Store(String),
}

impl AppError {
    /// Marathon's answer.
    pub fn response(&self) -> Response {
        let msg = |s: String| serde_json::json!({ "message": s });
        match self {
            AppError::NotFound(id) => {
                Response::json(404, &msg(format!("App '{id}' does not exist")))
            }
            AppError::TaskNotFound(t) => {
                Response::json(404, &msg(format!("Task '{t}' does not exist")))
            }
            AppError::Exists(id) => {
                Response::json(409, &msg(format!("An app with id [{id}] already exists.")))
            }
            AppError::Invalid(i) => Response::json(422, &i.to_json()),
            AppError::Store(e) => {
                Response::json(500, &msg(format!("Failed to store the app: {e}")))
            }
        }
    }
}

/// The health checker's children are numbered apart from the containerizers' (the Mesos
/// containerizer's from 0, the Docker one's from 2^30), so the loop can tell whose a child is.
const FIRST_CHILD_ID: u32 = 1 << 29;

/// The controller.
#[derive(Debug)]
pub struct Apps {
    pub(super) store: Store,
    pub(super) hostname: String,
    pub(super) apps: BTreeMap<AppId, App>,
    pub(super) by_container: HashMap<ContainerId, AppId>,
    /// Containers of instances dropped with their app (a forced re-POST, a refused first
    /// launch): removed once they ended.
    pub(super) discard: std::collections::HashSet<ContainerId>,
    pub(super) nonces: Nonces,
    pub(super) seq: u64,
    /// A reconcile is deferred to the next iteration already.
    pub(super) deferred: bool,
    /// The periodic reconcile (backoffs, retries) is scheduled.
    pub(super) ticking: bool,
    /// POSTs waiting for their app's first instance (answered 201, or 422 if it could not
    /// launch: an unknown image), for the server to answer.
    pub(super) creating: Vec<AppId>,
    pub(super) answers: Vec<(AppId, Response)>,
    /// Apps whose checkpoints are stale (see `save`).
    pub(super) dirty: std::collections::BTreeSet<AppId>,
    pub(super) health: super::health::Checker,
    /// No launches: in a fleet, until this node's assignments are known (see assigned.rs).
    pub(super) held: bool,
    /// Counts changes of the apps or their instances (see `generation`).
    pub(super) generation: u64,
}

impl Apps {
    /// Opens the checkpoints in `dir`; `recover` then matches their instances to containers.
    /// `binary` is the agent's own, whose `health-exec` verb runs COMMAND checks.
    pub fn open(dir: PathBuf, hostname: String, binary: PathBuf) -> std::io::Result<Apps> {
        let store = Store::open(dir)?;
        let mut apps = Apps {
            store,
            hostname,
            apps: BTreeMap::new(),
            by_container: HashMap::new(),
            discard: std::collections::HashSet::new(),
            nonces: Nonces::default(),
            seq: 0,
            deferred: false,
            ticking: false,
            creating: Vec::new(),
            answers: Vec::new(),
            dirty: std::collections::BTreeSet::new(),
            health: super::health::Checker::new(FIRST_CHILD_ID, binary),
            held: false,
            generation: 0,
        };
        for record in apps.store.load() {
            apps.adopt(record);
        }
        Ok(apps)
    }

    fn adopt(&mut self, r: AppRecord) {
        let Ok(id) = AppId::parse(&r.app.id) else {
            log::error!("Skipping the checkpointed app '{}': invalid id", r.app.id);
            return;
        };
        let mut instances = Vec::new();
        for i in r.instances {
            let Ok(container) = ContainerId::parse(&i.container_id) else {
                continue;
            };
            self.seq += 1;
            self.by_container.insert(container.clone(), id.clone());
            instances.push(Instance {
                task: TaskId::from_string(i.task_id),
                container,
                version: i.version,
                ports: i.ports,
                staged_at: i.staged_at,
                started_at: i.started_at,
                state: if i.killing {
                    InstanceState::Killing
                } else {
                    InstanceState::Staging
                },
                running_since: None,
                alive: None,
                seq: self.seq,
            });
        }
        let kept_failure = r.kept_failure.and_then(|c| ContainerId::parse(&c).ok());
        self.apps.insert(
            id.clone(),
            App {
                id,
                def: r.app,
                last_scaling_at: r.last_scaling_at,
                last_config_change_at: r.last_config_change_at,
                restarts: r.restarts,
                last_failure: r.last_task_failure,
                instances,
                backoff: Backoff::default(),
                kept_failure,
                deleting: false,
                deployment: None,
                waiting: None,
                assignment: r.assignment,
            },
        );
    }

    /// After the containerizer's recovery: instances whose containers run go on as they are;
    /// those that ended meanwhile are failures (relaunched after the backoff); those whose
    /// containers are gone are relaunched.
    pub fn recover(&mut self, env: &mut Env<'_>) {
        let ids: Vec<AppId> = self.apps.keys().cloned().collect();
        let mut ended = Vec::new();
        for id in &ids {
            let Some(app) = self.apps.get_mut(id) else {
                continue;
            };
            let mut kept = Vec::new();
            for mut inst in std::mem::take(&mut app.instances) {
                match env.containerizer.status(&inst.container) {
                    Some(s) if s.state == State::Running => {
                        if inst.state != InstanceState::Killing {
                            inst.state = InstanceState::Running;
                            inst.running_since = Some(std::time::Instant::now());
                        }
                        kept.push(inst);
                    }
                    Some(s) if s.state == State::Terminated => {
                        ended.push(inst.container.clone());
                        kept.push(inst);
                    }
                    Some(_) => kept.push(inst),
                    None => {
                        log::warn!(
                            "App {id}: the container of task {} is gone; it will be relaunched",
                            inst.task
                        );
                        self.by_container.remove(&inst.container);
                    }
                }
            }
            app.instances = kept;
            let n = app.instances.len();
            log::info!("Recovered app {id} with {n} instance(s)");
        }
        for c in ended {
            self.on_notice(&Notice::Terminated(c), env);
        }
        let running: Vec<(AppId, ContainerId)> = self
            .apps
            .iter()
            .flat_map(|(id, a)| {
                a.instances
                    .iter()
                    .filter(|i| i.state == InstanceState::Running)
                    .map(move |i| (id.clone(), i.container.clone()))
            })
            .collect();
        for (id, c) in running {
            self.watch_health(&id, &c, env);
        }
        for id in &ids {
            self.save(id);
        }
        self.flush();
        self.schedule(env.timers);
    }

    /// `POST /v2/apps`. The answer comes once the first instance launched (so an unknown
    /// image is a 422, not a crash loop) or at once without instances.
    pub fn create(
        &mut self,
        mut def: AppDefinition,
        force: bool,
        wait_first: bool,
        env: &mut Env<'_>,
    ) -> Result<AppId, AppError> {
        let id = AppId::parse(&def.id).map_err(|e| AppError::Invalid(Invalid::one("/id", e)))?;
        if self.apps.contains_key(&id) {
            if !force {
                return Err(AppError::Exists(id));
            }
            self.forget(&id, env);
        }
        let now = time::now();
        def.id = id.as_str().to_string();
        def.version = Some(now.clone());
        let app = App::new(id.clone(), def, now, self.nonces.fresh(), None);
        self.store
            .save(&id.stem(), &app.record())
            .map_err(|e| AppError::Store(e.to_string()))?;
        log::info!("App {id} created with {} instance(s)", app.def.instances);
        let first = wait_first && app.target() > 0;
        self.apps.insert(id.clone(), app);
        if first {
            self.creating.push(id.clone());
        }
        self.reconcile_now(env);
        Ok(id)
    }

    /// `PUT /v2/apps/<id>`: `def` is the whole new definition (the API merged a partial body
    /// into the old one). A change of anything but `instances` rolls the instances over.
    pub fn update(
        &mut self,
        mut def: AppDefinition,
        env: &mut Env<'_>,
    ) -> Result<Deployment, AppError> {
        let id = AppId::parse(&def.id).map_err(|e| AppError::Invalid(Invalid::one("/id", e)))?;
        let nonce = self.nonces.fresh();
        let Some(app) = self.apps.get_mut(&id) else {
            return Err(AppError::NotFound(id));
        };
        let now = time::now();
        def.id = id.as_str().to_string();
        let config = app.def.config_differs(&def);
        let action = if config {
            def.version = Some(now.clone());
            app.last_config_change_at = now.clone();
            app.backoff.reset();
            Action::Restart
        } else {
            def.version = app.def.version.clone();
            Action::Scale
        };
        app.last_scaling_at = now.clone();
        let old = std::mem::replace(&mut app.def, def);
        let d = Deployment {
            id: deployment::new_id(nonce),
            version: now,
            app: id.as_str().to_string(),
            action,
        };
        app.deployment = Some(d.clone());
        if let Err(e) = self.store.save(&id.stem(), &app.record()) {
            app.def = old;
            return Err(AppError::Store(e.to_string()));
        }
        log::info!(
            "App {id} updated ({:?}): {} instance(s)",
            action,
            app.def.instances
        );
        self.reconcile_now(env);
        Ok(d)
    }

    /// `POST /v2/apps/<id>/restart`: every instance is replaced as by a config change.
    pub fn restart(&mut self, id: &AppId, env: &mut Env<'_>) -> Result<Deployment, AppError> {
        let Some(app) = self.apps.get(id) else {
            return Err(AppError::NotFound(id.clone()));
        };
        let def = app.def.clone();
        // A new version with the same definition: every instance is "old".
        let nonce = self.nonces.fresh();
        let Some(app) = self.apps.get_mut(id) else {
            return Err(AppError::NotFound(id.clone()));
        };
        let now = time::now();
        app.def = AppDefinition {
            version: Some(now.clone()),
            ..def
        };
        app.last_config_change_at = now.clone();
        app.backoff.reset();
        let d = Deployment {
            id: deployment::new_id(nonce),
            version: now,
            app: id.as_str().to_string(),
            action: Action::Restart,
        };
        app.deployment = Some(d.clone());
        self.save(id);
        self.reconcile_now(env);
        Ok(d)
    }

    /// `DELETE /v2/apps/<id>`: its instances are killed; the app is gone once they ended.
    pub fn delete(&mut self, id: &AppId, env: &mut Env<'_>) -> Result<Deployment, AppError> {
        let nonce = self.nonces.fresh();
        let Some(app) = self.apps.get_mut(id) else {
            return Err(AppError::NotFound(id.clone()));
        };
        app.deleting = true;
        self.generation += 1;
        let d = Deployment {
            id: deployment::new_id(nonce),
            version: time::now(),
            app: id.as_str().to_string(),
            action: Action::Stop,
        };
        app.deployment = Some(d.clone());
        self.creating.retain(|c| c != id);
        // The checkpoint goes now: an agent restart must not bring a deleted app back. Its
        // instances' containers are still known to the containerizer and killed below.
        if let Err(e) = self.store.remove(&id.stem()) {
            log::error!("App {id}: failed to remove its checkpoint: {e}");
        }
        log::info!("App {id} deleted: killing its instances");
        self.reconcile_now(env);
        Ok(d)
    }

    /// Drops an app at once (`POST` with `force=true` over an existing one): its instances
    /// are killed and forgotten.
    pub(super) fn forget(&mut self, id: &AppId, env: &mut Env<'_>) {
        if let Some(app) = self.apps.remove(id) {
            self.generation += 1;
            self.discard_instances(app.instances, env);
            let _ = self.store.remove(&id.stem());
        }
    }

    /// Kills the containers of instances no app owns any more; each is removed once it ended.
    pub(super) fn discard_instances(&mut self, instances: Vec<Instance>, env: &mut Env<'_>) {
        for inst in instances {
            self.health.unwatch(inst.task.as_str(), env.registry);
            self.by_container.remove(&inst.container);
            self.discard.insert(inst.container.clone());
            kill_container(&inst.container, env);
        }
    }

    /// Marks the app's checkpoint stale: it is written at the end of the next reconcile, once
    /// for everything that changed meanwhile (20 instances reporting RUNNING in one iteration
    /// are one write, not 20). Every caller defers a reconcile too.
    pub(super) fn save(&mut self, id: &AppId) {
        self.dirty.insert(id.clone());
        self.generation += 1;
    }

    /// Grows with every change of an app or of its instances' states (anything `save` marks,
    /// and apps dropped), so the fleet renders its apps' status only when it moved. Health
    /// check timestamps alone do not count: a result that changes `alive` does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Writes the checkpoints marked stale.
    pub(super) fn flush(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            self.write(&id);
        }
    }

    pub(super) fn write(&self, id: &AppId) {
        let Some(app) = self.apps.get(id) else { return };
        if app.deleting {
            return;
        }
        if let Err(e) = self.store.save(&id.stem(), &app.record()) {
            log::error!("App {id}: failed to checkpoint: {e}");
        }
    }

    /// Whether a POST of `id` waits for its first instance.
    pub fn is_creating(&self, id: &AppId) -> bool {
        self.creating.contains(id)
    }

    /// `DELETE /v2/apps/<id>/tasks/<task>`: kills one instance (replaced, unless `scale`
    /// lowers `instances` by one).
    pub fn kill_task(
        &mut self,
        id: &AppId,
        task: &str,
        scale: bool,
        env: &mut Env<'_>,
    ) -> Result<(), AppError> {
        let Some(app) = self.apps.get_mut(id) else {
            return Err(AppError::NotFound(id.clone()));
        };
        let Some(pos) = app.instances.iter().position(|i| i.task.as_str() == task) else {
            return Err(AppError::TaskNotFound(task.to_string()));
        };
        let inst = &mut app.instances[pos];
        inst.state = InstanceState::Killing;
        let container = inst.container.clone();
        let task = inst.task.as_str().to_string();
        if scale && app.def.instances > 0 {
            app.def.instances -= 1;
            app.last_scaling_at = time::now();
        }
        self.health.unwatch(&task, env.registry);
        kill_container(&container, env);
        self.save(id);
        self.reconcile_now(env);
        Ok(())
    }

    pub fn has_answers(&self) -> bool {
        !self.answers.is_empty()
    }

    /// Answers for POSTs that waited, for the server.
    pub fn take_answers(&mut self) -> Vec<(AppId, Response)> {
        std::mem::take(&mut self.answers)
    }

    pub fn get(&self, id: &AppId) -> Option<&App> {
        self.apps.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &App> {
        self.apps.values()
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The timer kinds this controller owns.
    pub fn owns_timer(kind: &TimerKind) -> bool {
        matches!(
            kind,
            TimerKind::AppsReconcile
                | TimerKind::AppsTick
                | TimerKind::AppsBackoff
                | TimerKind::Health(_)
        )
    }
}
