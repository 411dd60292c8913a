//! The fleet as the API shows it, from this member's mirror: every app with every node's
//! tasks, Marathon's queue (instances no node can take), the scheduler, the nodes. Writes the
//! API queued here and etcd has not taken yet are laid over what etcd holds, so a client sees
//! its own change at once.

use serde_json::{json, Map, Value};

use super::coordinator::Fleet;
use super::keys::Key;
use super::outbox::WriteKind;
use super::records::{NodeRecord, StoredApp, WaitingRecord};
use crate::apps::render::Embed;
use crate::apps::{Action, AppId, Deployment};
use crate::resources::Resources;

/// An app of the fleet and what its nodes report of it.
#[derive(Debug, Clone)]
pub struct FleetApp {
    pub stem: String,
    pub stored: StoredApp,
    /// Every node's tasks of it.
    pub tasks: Vec<Value>,
    pub restarts: u64,
    pub last_failure: Option<Value>,
    /// A node still rolls a change of it.
    pub deploying: bool,
    pub waiting: Option<WaitingRecord>,
    /// Queued here, not in etcd yet.
    pub queued: bool,
}

impl FleetApp {
    pub fn id(&self) -> &str {
        &self.stored.app.id
    }

    fn count(&self, state: &str) -> usize {
        self.tasks.iter().filter(|t| t["state"] == state).count()
    }

    /// Converged: as many instances as asked, all of the current version and running, no
    /// node rolling, none waiting.
    fn converged(&self) -> bool {
        let version = self.stored.app.version.as_deref().unwrap_or_default();
        let wanted = usize::try_from(self.stored.app.instances).unwrap_or(0);
        !self.deploying
            && self.waiting.is_none()
            && !self.queued
            && self.tasks.len() == wanted
            && self
                .tasks
                .iter()
                .all(|t| t["state"] == "TASK_RUNNING" && t["version"] == version)
    }

    fn deployment(&self) -> Option<Deployment> {
        if self.converged() {
            return None;
        }
        Some(Deployment {
            id: self.stored.deployment.clone(),
            version: self.stored.app.version.clone().unwrap_or_default(),
            app: self.id().to_string(),
            action: Action::Start,
        })
    }

    /// Marathon's `AppInfo`.
    pub fn to_json(&self, embed: &Embed) -> Value {
        let mut v = self.stored.app.to_json();
        let Some(obj) = v.as_object_mut() else {
            return v;
        };
        obj.insert(
            "versionInfo".into(),
            json!({
                "lastScalingAt": self.stored.last_scaling_at,
                "lastConfigChangeAt": self.stored.last_config_change_at,
            }),
        );
        let checked = |t: &Value| -> Option<bool> {
            let results = t["healthCheckResults"].as_array()?;
            if results.is_empty() {
                return None;
            }
            Some(results.iter().all(|r| r["alive"] == true))
        };
        let healthy = self
            .tasks
            .iter()
            .filter(|t| checked(t) == Some(true))
            .count();
        let unhealthy = self
            .tasks
            .iter()
            .filter(|t| checked(t) == Some(false))
            .count();
        obj.insert("tasksStaged".into(), json!(self.count("TASK_STAGING")));
        obj.insert("tasksRunning".into(), json!(self.count("TASK_RUNNING")));
        obj.insert("tasksHealthy".into(), json!(healthy));
        obj.insert("tasksUnhealthy".into(), json!(unhealthy));
        let deployments: Vec<Value> = self
            .deployment()
            .iter()
            .map(|d| json!({ "id": d.id }))
            .collect();
        obj.insert("deployments".into(), Value::Array(deployments));
        if embed.tasks {
            obj.insert("tasks".into(), Value::Array(self.tasks.clone()));
        }
        if embed.last_task_failure {
            if let Some(f) = &self.last_failure {
                obj.insert("lastTaskFailure".into(), f.clone());
            }
        }
        if embed.restarts {
            obj.insert("restarts".into(), json!(self.restarts));
        }
        v
    }
}

impl Fleet {
    /// Every app of the fleet, by id.
    pub fn apps(&self) -> Vec<FleetApp> {
        let root = self.keys.root().to_string();
        let mut apps: Vec<FleetApp> = Vec::new();
        for (key, e) in self.mirror.under(&format!("{root}apps/")) {
            if let (Some(Key::App(stem)), Some(stored)) = (self.keys.parse(key), e.json()) {
                apps.push(self.gather(stem, stored, false));
            }
        }
        for w in self.outbox.pending() {
            let at = apps.iter().position(|a| a.stem == w.stem);
            match (w.kind, &w.app, at) {
                (WriteKind::Delete, _, Some(i)) => {
                    apps.remove(i);
                }
                (WriteKind::Create | WriteKind::Update, Some(stored), Some(i)) => {
                    apps[i].stored = stored.clone();
                    apps[i].queued = true;
                }
                (WriteKind::Create, Some(stored), None) => {
                    apps.push(self.gather(&w.stem, stored.clone(), true));
                }
                _ => {}
            }
        }
        apps.sort_by(|a, b| a.stored.app.id.cmp(&b.stored.app.id));
        apps
    }

    pub fn app(&self, id: &AppId) -> Option<FleetApp> {
        self.apps().into_iter().find(|a| a.id() == id.as_str())
    }

    fn gather(&self, stem: &str, stored: StoredApp, queued: bool) -> FleetApp {
        let mut app = FleetApp {
            stem: stem.to_string(),
            stored,
            tasks: Vec::new(),
            restarts: 0,
            last_failure: None,
            deploying: false,
            waiting: self
                .mirror
                .get(&self.keys.waiting(stem))
                .and_then(|e| e.json()),
            queued,
        };
        let root = self.keys.root().to_string();
        for (key, e) in self.mirror.under(&format!("{root}status/")) {
            let Some(Key::Status { stem: s, .. }) = self.keys.parse(key) else {
                continue;
            };
            let Some(status) = e.json::<Value>().filter(|_| s == stem) else {
                continue;
            };
            if let Some(tasks) = status["tasks"].as_array() {
                app.tasks.extend(tasks.iter().cloned());
            }
            app.restarts += status["restarts"].as_u64().unwrap_or(0);
            app.deploying |= status["deploying"] == true;
            let failure = &status["lastTaskFailure"];
            let later = |f: &Value| f["timestamp"].as_str() > failure["timestamp"].as_str();
            if failure.is_object() && !app.last_failure.as_ref().is_some_and(later) {
                app.last_failure = Some(failure.clone());
            }
        }
        app
    }

    /// `GET /v2/tasks` (or one app's).
    pub fn tasks_json(&self, of: Option<&FleetApp>) -> Value {
        let tasks: Vec<Value> = match of {
            Some(a) => a.tasks.clone(),
            None => self.apps().into_iter().flat_map(|a| a.tasks).collect(),
        };
        json!({ "tasks": tasks })
    }

    /// `GET /v2/queue`: Marathon's launch queue, the instances no node can take now (with
    /// mesolite's `reason`).
    pub fn queue_json(&self) -> Value {
        let queue: Vec<Value> = self
            .apps()
            .into_iter()
            .filter_map(|a| {
                let w = a.waiting.clone()?;
                Some(json!({
                    "count": w.count,
                    "since": w.since,
                    "delay": { "timeLeftSeconds": 0, "overdue": true },
                    "reason": w.reason,
                    "app": a.to_json(&Embed::default()),
                }))
            })
            .collect();
        json!({ "queue": queue })
    }

    /// `GET /v2/deployments`.
    pub fn deployments_json(&self) -> Value {
        Value::Array(
            self.apps()
                .iter()
                .filter_map(FleetApp::deployment)
                .map(|d| d.to_json())
                .collect(),
        )
    }

    fn node_records(&self) -> Vec<NodeRecord> {
        let prefix = format!("{}nodes/", self.keys.root());
        self.mirror
            .under(&prefix)
            .filter_map(|(_, e)| e.json::<NodeRecord>())
            .collect()
    }

    /// Where the scheduling agent is reached: its TCP address, else its name.
    pub fn leader_address(&self) -> Option<String> {
        let leader = self.leader()?;
        let record = self
            .node_records()
            .into_iter()
            .find(|n| n.hostname == leader);
        Some(record.and_then(|r| r.address).unwrap_or(leader))
    }

    /// `GET /master/slaves`: the nodes, in the Mesos master's form.
    pub fn nodes_json(&self) -> Value {
        let leader = self.leader();
        let tasks = self.tasks_json(None);
        let slaves: Vec<Value> = self
            .node_records()
            .into_iter()
            .map(|n| {
                let on_it = tasks["tasks"].as_array().map_or(0, |t| {
                    t.iter()
                        .filter(|t| t["host"] == n.hostname.as_str())
                        .count()
                });
                let mut m = Map::new();
                m.insert("id".into(), json!(n.hostname));
                m.insert("hostname".into(), json!(n.hostname));
                m.insert("address".into(), json!(n.address));
                m.insert("active".into(), json!(true));
                m.insert("registered_time".into(), json!(n.registered_at));
                m.insert("version".into(), json!(n.version));
                m.insert("attributes".into(), n.attributes.to_json());
                m.insert("resources".into(), resources_object(&n.resources));
                m.insert("used_resources".into(), resources_object(&n.allocated));
                m.insert("tasks".into(), json!(on_it));
                m.insert(
                    "leader".into(),
                    json!(leader.as_deref() == Some(&n.hostname)),
                );
                Value::Object(m)
            })
            .collect();
        json!({ "slaves": slaves })
    }
}

/// Mesos master's `resources` object: `{"cpus": 2, "mem": 1024, "disk": 0, "ports": "[..]"}`.
pub fn resources_object(text: &str) -> Value {
    let r = Resources::parse_text(text).unwrap_or_default();
    json!({
        "cpus": r.cpus,
        "mem": r.mem_mb,
        "disk": r.disk_mb,
        "ports": ports_text(&r.ports),
    })
}

/// Mesos's ranges text: `[31000-31099]` (empty for none).
fn ports_text(ports: &[crate::resources::PortRange]) -> String {
    if ports.is_empty() {
        String::new()
    } else {
        format!("[{}]", crate::resources::format_ranges(ports))
    }
}
