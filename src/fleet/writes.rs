//! The API's changes to the fleet's apps: checked against the mirror (409, 404 as Marathon
//! answers), then queued in the outbox and sent at once. The scheduler takes them from etcd.

use mio::Registry;

use super::coordinator::{Fleet, Pending};
use super::outbox::{Write, WriteKind};
use super::records::StoredApp;
use crate::apps::{deployment_id, Action, AppDefinition, AppError, AppId, Deployment};
use crate::etcd::{Compare, CompareResult, EtcdError, Op, Request, Response, Target};
use crate::timer::Timers;

impl Fleet {
    /// `POST /v2/apps`: Err(Exists) unless `force`.
    pub fn create(
        &mut self,
        mut def: AppDefinition,
        force: bool,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Deployment, AppError> {
        let id = parse_id(&def)?;
        let exists = self.app(&id).is_some();
        if exists && !force {
            return Err(AppError::Exists(id));
        }
        let now = crate::apps::time::now();
        def.id = id.as_str().to_string();
        def.version = Some(now.clone());
        let d = self.deployment(&id, &now, Action::Start);
        let stored = StoredApp {
            app: def,
            last_scaling_at: now.clone(),
            last_config_change_at: now,
            deployment: d.id.clone(),
        };
        let kind = if exists {
            WriteKind::Update
        } else {
            WriteKind::Create
        };
        self.queue(kind, &id, Some(stored), registry, timers)?;
        Ok(d)
    }

    /// `PUT /v2/apps/<id>` with the whole new definition (the API merged the body): a new
    /// version unless only `instances` changed.
    pub fn update(
        &mut self,
        mut def: AppDefinition,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Deployment, AppError> {
        let id = parse_id(&def)?;
        let Some(old) = self.app(&id) else {
            return self.create(def, false, registry, timers);
        };
        let now = crate::apps::time::now();
        def.id = id.as_str().to_string();
        let old = old.stored;
        let config = old.app.config_differs(&def);
        let (action, last_config_change_at) = if config {
            def.version = Some(now.clone());
            (Action::Restart, now.clone())
        } else {
            def.version = old.app.version.clone();
            (Action::Scale, old.last_config_change_at.clone())
        };
        let d = self.deployment(&id, &now, action);
        let stored = StoredApp {
            app: def,
            last_scaling_at: now,
            last_config_change_at,
            deployment: d.id.clone(),
        };
        self.queue(WriteKind::Update, &id, Some(stored), registry, timers)?;
        Ok(d)
    }

    /// `POST /v2/apps/<id>/restart`: a new version of the same definition.
    pub fn restart(
        &mut self,
        id: &AppId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Deployment, AppError> {
        let Some(app) = self.app(id) else {
            return Err(AppError::NotFound(id.clone()));
        };
        let now = crate::apps::time::now();
        let mut stored = app.stored;
        stored.app.version = Some(now.clone());
        stored.last_config_change_at = now.clone();
        let d = self.deployment(id, &now, Action::Restart);
        stored.deployment = d.id.clone();
        self.queue(WriteKind::Update, id, Some(stored), registry, timers)?;
        Ok(d)
    }

    /// `DELETE /v2/apps/<id>`: the scheduler unassigns it and every node kills its instances.
    pub fn delete(
        &mut self,
        id: &AppId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Deployment, AppError> {
        if self.app(id).is_none() {
            return Err(AppError::NotFound(id.clone()));
        }
        let now = crate::apps::time::now();
        let d = self.deployment(id, &now, Action::Stop);
        self.queue(WriteKind::Delete, id, None, registry, timers)?;
        Ok(d)
    }

    /// An app's definition as the fleet holds it (for a PUT's merge).
    pub fn definition(&self, id: &AppId) -> Option<AppDefinition> {
        self.app(id).map(|a| a.stored.app)
    }

    fn queue(
        &mut self,
        kind: WriteKind,
        id: &AppId,
        app: Option<StoredApp>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), AppError> {
        let w = Write {
            kind,
            stem: id.stem(),
            app,
        };
        self.outbox
            .push(w)
            .map_err(|e| AppError::Store(e.to_string()))?;
        log::info!("App {id}: {kind:?} queued for etcd");
        self.send_outbox(registry, timers);
        Ok(())
    }

    fn deployment(&mut self, id: &AppId, version: &str, action: Action) -> Deployment {
        Deployment {
            id: deployment_id(self.nonces.fresh()),
            version: version.to_string(),
            app: id.as_str().to_string(),
            action,
        }
    }
}

fn parse_id(def: &AppDefinition) -> Result<AppId, AppError> {
    AppId::parse(&def.id).map_err(|e| AppError::Invalid(crate::apps::Invalid::one("/id", e)))
}

/// Sending the queue: the head, one write at a time, in order.
impl Fleet {
    pub(super) fn send_outbox(&mut self, registry: &Registry, timers: &mut Timers) {
        if self.pending.values().any(|p| *p == Pending::Outbox) {
            return;
        }
        let Some(w) = self.outbox.head() else {
            return;
        };
        let key = self.keys.app(&w.stem);
        let value = w.app.as_ref().and_then(|a| serde_json::to_vec(a).ok());
        let request = match (w.kind, value) {
            (WriteKind::Create, Some(v)) => Request::txn(
                vec![Compare::absent(key.clone())],
                vec![Op::put(key, v, None)],
                vec![],
            ),
            (WriteKind::Update, Some(v)) => Request::txn(
                vec![Compare::new(
                    key.clone(),
                    Target::Version(0),
                    CompareResult::Greater,
                )],
                vec![Op::put(key, v, None)],
                vec![],
            ),
            (WriteKind::Delete, _) | (_, None) => Request::delete(key),
        };
        self.submit(Pending::Outbox, request, registry, timers);
    }

    pub(super) fn outbox_answered(&mut self, result: Result<Response, EtcdError>) {
        let Some(w) = self.outbox.head() else {
            return;
        };
        let (kind, stem) = (w.kind, w.stem.clone());
        match result {
            Ok(Response::Txn {
                succeeded: false, ..
            }) => {
                match kind {
                    WriteKind::Create => log::warn!(
                        "Fleet: app {stem} was in etcd already (created elsewhere, or an earlier try of ours that timed out): kept as it is"
                    ),
                    _ => log::warn!("Fleet: app {stem} is gone from etcd: its update is dropped"),
                }
                self.outbox.pop();
            }
            Ok(_) => {
                log::info!("Fleet: app {stem} written to etcd ({kind:?})");
                self.outbox.pop();
            }
            Err(e) if e.is_unavailable() => {
                log::warn!("Fleet: etcd did not take app {stem} ({e}); retrying");
            }
            Err(e) => {
                log::error!("Fleet: etcd refused app {stem}: {e}; dropped");
                self.outbox.pop();
            }
        }
    }
}
