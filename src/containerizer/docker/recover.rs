//! Recovery of Docker containers after an agent restart: each checkpointed one is inspected
//! and re-adopted (wait and output again) if it still runs, reported with its exit code if it
//! ended meanwhile; then, with `--docker_kill_orphans`, the `mesos-` containers labelled with
//! this agent's work_dir that no checkpoint names are removed. Containers of other agents (other
//! work_dirs) and of Mesos itself (no label) are never touched.

use mio::Registry;

use super::create::WORK_DIR_LABEL;
use super::engine::{Call, EngineError, Mode, Progress};
use super::{checkpoint, name, Container, DockerContainerizer, Purpose, NAME_PREFIX};
use crate::containerizer::{Notice, Recovered, State};
use crate::http::percent_encode;
use crate::resources::Resources;
use crate::spec::ContainerId;
use crate::timer::Timers;

impl DockerContainerizer {
    pub(super) fn recover(&mut self, registry: &Registry, timers: &mut Timers) -> Recovered {
        if self.settings.empty_trash {
            self.empty_trash(registry);
        }
        let mut summary = Recovered::default();
        let root = checkpoint::root(&self.settings.work_dir);
        let names: Vec<String> = std::fs::read_dir(&root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for entry in names {
            let Ok(id) = ContainerId::parse(&entry) else {
                log::warn!(
                    "Ignoring {}: not a container checkpoint",
                    root.join(&entry).display()
                );
                continue;
            };
            let path = checkpoint::file(&self.settings.work_dir, id.as_str());
            let record: checkpoint::Record = match checkpoint::read(&path) {
                Ok(r) => r,
                Err(e) => {
                    log::warn!("Ignoring the Docker checkpoint {}: {e:?}", path.display());
                    continue;
                }
            };
            let termination = record.termination.as_ref().map(|t| t.to_termination());
            let c = Container {
                id: id.clone(),
                state: if termination.is_some() {
                    State::Terminated
                } else {
                    State::Running
                },
                resources: Resources::from_json(&record.resources).unwrap_or_default(),
                sandbox: record.sandbox.clone(),
                image: record.image.clone(),
                created: record.created,
                pid: None,
                cgroup: None,
                termination,
                killed: false,
                launching: false,
                made: true,
                body: None,
                requests: Vec::new(),
                output: None,
                fetch: None,
                force_pull: false,
                uris: Vec::new(),
                hook: None,
            };
            let ended = c.state == State::Terminated;
            self.containers.insert(id.clone(), c);
            if ended {
                summary.terminated += 1;
                continue;
            }
            summary.running += 1;
            let call = Call::get(
                format!("/containers/{}/json", name(&id)),
                self.settings.api_timeout,
            );
            if let Err(e) = self.send(Some(&id), Purpose::Recover, call, registry, timers) {
                self.lost(&id, format!("Cannot recover: {e}"));
            }
        }
        let filters = format!(r#"{{"name":["{NAME_PREFIX}"]}}"#);
        let call = Call::get(
            format!(
                "/containers/json?all=1&filters={}",
                percent_encode(&filters)
            ),
            self.settings.api_timeout,
        );
        if let Err(e) = self.send(None, Purpose::ListOrphans, call, registry, timers) {
            log::warn!("Cannot list Docker containers for orphans: {e}");
        }
        summary
    }

    /// A recovered container's inspect: re-adopt it, or report how it ended.
    pub(super) fn recovered(
        &mut self,
        id: &ContainerId,
        status: u16,
        body: &[u8],
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        if status != 200 {
            let e = EngineError::from_answer(status, body);
            return self.lost(id, format!("Docker container {} is gone: {e}", name(id)));
        }
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let running = v.pointer("/State/Running").and_then(|r| r.as_bool()) == Some(true);
        if !running {
            let code = v
                .pointer("/State/ExitCode")
                .and_then(|c| c.as_i64())
                .unwrap_or(0);
            let oom = super::exit::oom_killed(body);
            return self.exited(
                id,
                code,
                oom,
                Some("Exited while the agent was down".into()),
            );
        }
        self.adopt_pid(id, body);
        let since = self.output_since(id);
        if let Some(c) = self.containers.get_mut(id) {
            c.output = super::output::Output::open(&c.sandbox)
                .map_err(|e| log::warn!("Container {id}: its output is lost: {e}"))
                .ok();
        }
        log::info!(
            "Re-adopted Docker container {} (pid {:?})",
            name(id),
            self.containers.get(id).and_then(|c| c.pid)
        );
        // What it wrote while the agent was down: from the output files' last write on.
        let path = format!(
            "/containers/{}/logs?follow=1&stdout=1&stderr=1&since={since:.9}",
            name(id)
        );
        let call = Call::get(path, self.settings.api_timeout).streaming(Mode::Stream, None);
        if let Err(e) = self.send(Some(id), Purpose::Logs, call, registry, timers) {
            log::warn!("Container {id}: cannot follow its output: {e}");
        }
        match self.wait_for(id, registry, timers) {
            Ok(_) => Vec::new(),
            Err(e) => self.lost(id, e.to_string()),
        }
    }

    /// When the container's output was last written (seconds since the epoch).
    fn output_since(&self, id: &ContainerId) -> f64 {
        let Some(c) = self.containers.get(id) else {
            return 0.0;
        };
        ["stdout", "stderr"]
            .iter()
            .filter_map(|f| std::fs::metadata(c.sandbox.join(f)).ok()?.modified().ok())
            .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
            .fold(0.0, f64::max)
    }

    /// Answers to requests of the containerizer's own: the orphan listing, removals.
    pub(super) fn on_own_reply(
        &mut self,
        purpose: Purpose,
        progress: Progress,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        match (purpose, progress) {
            (Purpose::ListOrphans, Progress::Done { status: 200, body }) => {
                let list: Vec<serde_json::Value> =
                    serde_json::from_slice(&body).unwrap_or_default();
                for orphan in self.orphans(&list) {
                    if self.settings.kill_orphans {
                        log::warn!(
                            "Removing orphan Docker container {orphan} of this agent's work_dir"
                        );
                        let call = Call::delete(
                            format!("/containers/{orphan}?force=1"),
                            self.settings.api_timeout,
                        );
                        if let Err(e) = self.send(None, Purpose::Remove, call, registry, timers) {
                            log::warn!("Failed to remove orphan {orphan}: {e}");
                        }
                    } else {
                        log::info!(
                            "Leaving orphan Docker container {orphan} (--no-docker_kill_orphans)"
                        );
                    }
                }
            }
            (
                Purpose::Remove,
                Progress::Done {
                    status: 204 | 404, ..
                },
            ) => {}
            (_, Progress::Done { status, body }) => {
                log::warn!("dockerd: {}", EngineError::from_answer(status, &body))
            }
            (_, Progress::Failed(e)) => log::warn!("dockerd: {e}"),
            _ => {}
        }
    }

    /// The names of listed `mesos-` containers labelled with our work_dir that we do not know.
    fn orphans(&self, list: &[serde_json::Value]) -> Vec<String> {
        let ours = self.settings.work_dir.to_string_lossy();
        let own = self.settings.own_container.as_deref();
        list.iter()
            .filter(|c| own.is_none() || c.get("Id").and_then(|i| i.as_str()) != own)
            .filter(|c| {
                c.pointer(&format!(
                    "/Labels/{}",
                    WORK_DIR_LABEL.replace('~', "~0").replace('/', "~1")
                ))
                .and_then(|l| l.as_str())
                    == Some(&*ours)
            })
            .filter_map(|c| c.pointer("/Names/0").and_then(|n| n.as_str()))
            .map(|n| n.trim_start_matches('/').to_string())
            .filter(|n| {
                n.strip_prefix(NAME_PREFIX)
                    .and_then(|id| ContainerId::parse(id).ok())
                    .is_some_and(|id| !self.containers.contains_key(&id))
            })
            .collect()
    }
}
