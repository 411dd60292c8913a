//! Marathon's answers: apps (`AppInfo`: the definition echoed with its defaults, version
//! times, counts, deployments, and on request tasks and the last failure), tasks, deployments
//! and `/v2/info`. Only Marathon's field names: its clients build objects from every field.

use serde_json::{json, Map, Value};

use super::controller::{App, Apps};
use super::instance::Instance;

/// What `embed=` asks for beyond the definition, counts and deployments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Embed {
    pub tasks: bool,
    pub last_task_failure: bool,
    /// mesolite's addition (`embed=apps.restarts`): how many instances failed and were
    /// replaced. Off unless asked: Marathon's clients refuse fields they do not know.
    pub restarts: bool,
}

impl Embed {
    /// From the `embed` query values (`apps.tasks`, `app.tasks`, `apps.lastTaskFailure`,
    /// `apps.failures`, `apps.restarts`; the `apps.`/`app.` prefix is optional).
    pub fn parse<'a>(values: impl Iterator<Item = &'a str>) -> Embed {
        let mut e = Embed::default();
        for v in values {
            let v = v
                .strip_prefix("apps.")
                .or_else(|| v.strip_prefix("app."))
                .unwrap_or(v);
            match v {
                "tasks" => e.tasks = true,
                "lastTaskFailure" | "failures" => e.last_task_failure = true,
                "restarts" => e.restarts = true,
                _ => {}
            }
        }
        e
    }

    /// A single app (`GET /v2/apps/<id>`) carries its tasks and last failure, as Marathon's.
    pub fn single(mut self) -> Embed {
        self.tasks = true;
        self.last_task_failure = true;
        self
    }
}

/// An app as Marathon's `AppInfo`.
pub fn app(apps: &Apps, app: &App, embed: &Embed) -> Value {
    let mut v = app.def.to_json();
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    obj.insert(
        "versionInfo".into(),
        json!({
            "lastScalingAt": app.last_scaling_at,
            "lastConfigChangeAt": app.last_config_change_at,
        }),
    );
    let has_checks = app.has_checks();
    let count = |f: &dyn Fn(&Instance) -> bool| app.instances.iter().filter(|i| f(i)).count();
    obj.insert(
        "tasksStaged".into(),
        json!(count(
            &|i| i.state == super::instance::InstanceState::Staging
        )),
    );
    obj.insert(
        "tasksRunning".into(),
        json!(count(
            &|i| i.state == super::instance::InstanceState::Running
        )),
    );
    obj.insert(
        "tasksHealthy".into(),
        json!(if has_checks {
            count(&|i| i.alive == Some(true))
        } else {
            0
        }),
    );
    obj.insert(
        "tasksUnhealthy".into(),
        json!(if has_checks {
            count(&|i| i.alive == Some(false))
        } else {
            0
        }),
    );
    let deployments: Vec<Value> = app
        .deployment
        .iter()
        .map(|d| json!({ "id": d.id }))
        .collect();
    obj.insert("deployments".into(), Value::Array(deployments));
    if embed.tasks {
        let tasks: Vec<Value> = app.instances.iter().map(|i| task(apps, app, i)).collect();
        obj.insert("tasks".into(), Value::Array(tasks));
    }
    if embed.last_task_failure {
        if let Some(f) = &app.last_failure {
            obj.insert("lastTaskFailure".into(), json!(f));
        }
    }
    if embed.restarts {
        obj.insert("restarts".into(), json!(app.restarts));
    }
    v
}

/// One task as Marathon's (`GET /v2/tasks`, `/v2/apps/<id>/tasks`), on the agent's host.
pub fn task(apps: &Apps, app: &App, i: &Instance) -> Value {
    let host = apps.hostname();
    let mut t = Map::new();
    t.insert("id".into(), json!(i.task.as_str()));
    t.insert("appId".into(), json!(app.id.as_str()));
    t.insert("host".into(), json!(host));
    t.insert("slaveId".into(), json!(host));
    t.insert("ports".into(), json!(i.ports));
    t.insert("servicePorts".into(), json!(service_ports(app)));
    t.insert("stagedAt".into(), json!(i.staged_at));
    if let Some(s) = &i.started_at {
        t.insert("startedAt".into(), json!(s));
    }
    t.insert("state".into(), json!(i.state.marathon_name()));
    t.insert("version".into(), json!(i.version));
    t.insert(
        "ipAddresses".into(),
        json!([{"ipAddress": "127.0.0.1", "protocol": "IPv4"}]),
    );
    let results: Vec<Value> = apps
        .health_results(i.task.as_str())
        .into_iter()
        .map(|r| {
            let at = |t: Option<f64>| t.map(super::time::iso8601);
            json!({
                "alive": r.alive,
                "consecutiveFailures": r.consecutive_failures,
                "firstSuccess": at(r.first_success),
                "lastSuccess": at(r.last_success),
                "lastFailure": at(r.last_failure),
                "lastFailureCause": r.last_failure_cause,
                "taskId": i.task.as_str(),
            })
        })
        .collect();
    t.insert("healthCheckResults".into(), Value::Array(results));
    Value::Object(t)
}

/// The service ports Marathon would give: the definition's.
fn service_ports(app: &App) -> Vec<i64> {
    if app.def.uses_port_mappings() {
        app.def
            .port_mappings()
            .iter()
            .map(|m| m.service_port)
            .collect()
    } else {
        app.def
            .port_definitions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|d| d.port)
            .collect()
    }
}

/// `GET /v2/tasks`: every app's tasks.
pub fn tasks(apps: &Apps, of: Option<&App>) -> Value {
    let mut out = Vec::new();
    let list: Vec<&App> = match of {
        Some(a) => vec![a],
        None => apps.all().collect(),
    };
    for app in list {
        out.extend(app.instances.iter().map(|i| task(apps, app, i)));
    }
    json!({ "tasks": out })
}

/// `GET /v2/deployments`.
pub fn deployments(apps: &Apps) -> Value {
    Value::Array(
        apps.all()
            .filter_map(|a| a.deployment.as_ref())
            .map(|d| d.to_json())
            .collect(),
    )
}

/// `GET /v2/info`: Marathon's fields that mean something here.
/// `host_ports` are the node's `ports` resource, from which instances' host ports come.
pub fn info(
    apps: &Apps,
    version: &str,
    http_port: Option<u16>,
    host_ports: &[crate::resources::PortRange],
) -> Value {
    let min = host_ports.iter().map(|r| r.begin).min().unwrap_or(0);
    let max = host_ports.iter().map(|r| r.end).max().unwrap_or(0);
    json!({
        "name": "mesolite",
        "version": version,
        "buildref": "",
        "elected": true,
        "leader": format!("{}:{}", apps.hostname(), http_port.unwrap_or(0)),
        "frameworkId": "mesolite",
        "marathon_config": {
            "hostname": apps.hostname(),
            "local_port_min": min,
            "local_port_max": max,
            "task_launch_timeout": 300000,
        },
        "http_config": { "http_port": http_port.unwrap_or(0) },
    })
}

/// `GET /v2/queue`: apps with instances that cannot launch now, and why (mesolite's
/// `reason`).
pub fn queue(apps: &Apps) -> Value {
    let queue: Vec<Value> = apps
        .all()
        .filter_map(|a| {
            let reason = a.waiting.as_ref()?;
            let count = a.target().saturating_sub(a.instances.len());
            (count > 0).then(|| {
                json!({
                    "count": count,
                    "delay": { "timeLeftSeconds": 0, "overdue": true },
                    "reason": reason,
                    "app": app(apps, a, &Embed::default()),
                })
            })
        })
        .collect();
    json!({ "queue": queue })
}

/// `GET /master/slaves` on a single node: this node alone, in the Mesos master's form.
pub fn node(
    apps: &Apps,
    containerizer: &dyn crate::containerizer::Containerizer,
    address: String,
) -> Value {
    let object = |r: &crate::resources::Resources| {
        json!({
            "cpus": r.cpus,
            "mem": r.mem_mb,
            "disk": r.disk_mb,
            "ports": ports_text(&r.ports),
        })
    };
    let tasks: usize = apps.all().map(|a| a.instances.len()).sum();
    json!({ "slaves": [{
        "id": apps.hostname(),
        "hostname": apps.hostname(),
        "address": address,
        "active": true,
        "attributes": {},
        "resources": object(containerizer.total()),
        "used_resources": object(&containerizer.allocated()),
        "tasks": tasks,
        "leader": true,
    }]})
}

/// Mesos's ranges text: `[31000-31099]` (empty for none).
fn ports_text(ports: &[crate::resources::PortRange]) -> String {
    if ports.is_empty() {
        String::new()
    } else {
        format!("[{}]", crate::resources::format_ranges(ports))
    }
}
