//! LAUNCH_CONTAINER for DOCKER containers, and what each answer of dockerd moves them to:
//! image inspect (present?) → pull (progress logged) → create → attach (output into the
//! sandbox) → start → inspect (the pid) → RUNNING, answering the LAUNCH → wait → TERMINATED.

use mio::Registry;

use super::engine::{Call, EngineError, Mode, Progress, ReqId};
use super::exit::{oom_killed, record_of};
use super::hooks::Point;
use super::{checkpoint, create, name, Container, DockerContainerizer, Purpose};
use crate::containerizer::{LaunchOutcome, Notice, State};
use crate::http::percent_encode;
use crate::spec::{ContainerId, LaunchRequest};
use crate::timer::Timers;

impl DockerContainerizer {
    pub(super) fn launch(
        &mut self,
        req: LaunchRequest,
        registry: &Registry,
        timers: &mut Timers,
    ) -> LaunchOutcome {
        if self.containers.contains_key(&req.id) {
            return LaunchOutcome::AlreadyExists;
        }
        let Some(docker) = req.container.docker.clone() else {
            return LaunchOutcome::Refused("Not a DOCKER container".into());
        };
        let mut available = self.settings.total.clone();
        available.subtract(&self.allocated());
        if !req.resources.fits_in(&available) {
            return LaunchOutcome::Refused(format!(
                "Insufficient resources: {}",
                req.resources.shortfall(&available)
            ));
        }
        let sandbox = self
            .settings
            .work_dir
            .join("containers")
            .join(req.id.as_str());
        let ctx = create::Context {
            work_dir: &self.settings.work_dir,
            sandbox: &sandbox,
            sandbox_directory: &self.settings.sandbox_directory,
            enable_cfs: self.settings.enable_cfs,
        };
        let body = match create::body(&req, &docker, ctx) {
            Ok(b) => b,
            Err(e) => return LaunchOutcome::Refused(e),
        };
        if let Err(e) = std::fs::create_dir_all(&sandbox) {
            return LaunchOutcome::Refused(format!(
                "Failed to create the sandbox {}: {e}",
                sandbox.display()
            ));
        }
        let output = match super::output::Output::open(&sandbox) {
            Ok(o) => o,
            Err(e) => {
                return LaunchOutcome::Refused(format!("Failed to open the output files: {e}"))
            }
        };
        let id = req.id.clone();
        let c = Container {
            id: id.clone(),
            state: State::Pulling,
            resources: req.resources.clone(),
            sandbox,
            image: docker.image.clone(),
            created: crate::sys::now_secs(),
            pid: None,
            cgroup: None,
            termination: None,
            killed: false,
            launching: true,
            body: Some(body),
            made: false,
            requests: Vec::new(),
            output: Some(output),
            fetch: None,
            force_pull: docker.force_pull_image,
            uris: req.command.uris.clone(),
            hook: None,
        };
        checkpoint::save(&self.settings.work_dir, &record_of(&c));
        self.containers.insert(id.clone(), c);
        self.metrics.launches += 1;
        let sent = match self.begin_hook(&id, Point::Prelaunch, Some(&req), registry, timers) {
            Ok(true) => Ok(()),
            Ok(false) => self.begin_fetch_or_pull(&id, registry, timers),
            Err(msg) => Err(msg),
        };
        match sent {
            Ok(()) => LaunchOutcome::Pending,
            Err(msg) => {
                self.fail(&id, msg.clone(), registry, timers);
                LaunchOutcome::Failed(msg)
            }
        }
    }

    /// After the prelaunch hook: FETCHING if there are URIs, else PULLING.
    fn begin_fetch_or_pull(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), String> {
        let Some(c) = self.containers.get_mut(id) else {
            return Ok(());
        };
        let uris = std::mem::take(&mut c.uris);
        if !uris.is_empty() {
            return self.start_fetch(id, uris, registry);
        }
        c.state = State::Pulling;
        let (image, force) = (c.image.clone(), c.force_pull);
        self.request_image(id, &image, force, registry, timers)
            .map(|_| ())
            .map_err(|e| format!("Failed to launch container: {e}"))
    }

    /// The prelaunch hook is content: the launch goes on.
    pub(super) fn after_prelaunch(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        match self.begin_fetch_or_pull(id, registry, timers) {
            Ok(()) => Vec::new(),
            Err(msg) => self.fail(id, msg, registry, timers),
        }
    }

    /// PULLING: the image is inspected (present?), or pulled at once when force-pulled.
    fn request_image(
        &mut self,
        id: &ContainerId,
        image: &str,
        force: bool,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<ReqId, EngineError> {
        if force {
            return self.pull(id, registry, timers);
        }
        let path = format!("/images/{}/json", percent_encode(image));
        let call = Call::get(path, self.settings.api_timeout);
        self.send(Some(id), Purpose::InspectImage, call, registry, timers)
    }

    /// The fetch is done: the image next; failing to ask fails the launch.
    pub(super) fn obtain_image(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((image, force)) = self
            .containers
            .get(id)
            .map(|c| (c.image.clone(), c.force_pull))
        else {
            return Vec::new();
        };
        let sent = self.request_image(id, &image, force, registry, timers);
        self.unless_sent(id, sent, registry, timers)
    }

    /// A launch's request that could not be sent fails the launch.
    fn unless_sent(
        &mut self,
        id: &ContainerId,
        sent: Result<ReqId, EngineError>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        match sent {
            Ok(_) => Vec::new(),
            Err(e) => self.fail(
                id,
                format!("Failed to launch container: {e}"),
                registry,
                timers,
            ),
        }
    }

    /// A request's progress: the next step of its container.
    pub(super) fn on_reply(
        &mut self,
        req: ReqId,
        progress: Progress,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let last = matches!(
            progress,
            Progress::Done { .. } | Progress::End | Progress::Failed(_)
        );
        let Some((owner, purpose)) = (if last {
            self.requests.remove(&req)
        } else {
            self.requests
                .get_mut(&req)
                .map(|(o, p)| (o.clone(), std::mem::replace(p, Purpose::Remove)))
        }) else {
            return Vec::new();
        };
        if last {
            if let Some(c) = owner.as_ref().and_then(|id| self.containers.get_mut(id)) {
                c.requests.retain(|r| *r != req);
            }
        }
        let Some(id) = owner else {
            self.on_own_reply(purpose, progress, registry, timers);
            return Vec::new();
        };
        let (purpose, notices) = self.step(&id, purpose, progress, registry, timers);
        if !last {
            if let (Some(slot), Some(p)) = (self.requests.get_mut(&req), purpose) {
                slot.1 = p;
            }
        }
        notices
    }

    /// One container's step; gives back the purpose of a stream still open.
    fn step(
        &mut self,
        id: &ContainerId,
        purpose: Purpose,
        progress: Progress,
        registry: &Registry,
        timers: &mut Timers,
    ) -> (Option<Purpose>, Vec<Notice>) {
        use crate::http::Progress::{Data, Done, End, Failed, Streaming};
        let timeout = self.settings.api_timeout;
        let who = name(id);
        let notices = match (purpose, progress) {
            (Purpose::InspectImage, Done { status: 200, .. }) => self.create(id, registry, timers),
            (Purpose::InspectImage, Done { status: 404, .. }) => {
                match self.pull(id, registry, timers) {
                    Ok(_) => Vec::new(),
                    Err(e) => self.fail(
                        id,
                        format!("Failed to pull the image: {e}"),
                        registry,
                        timers,
                    ),
                }
            }
            (Purpose::Pull(mut log), Data(data)) => {
                log.feed(id, &data);
                return (Some(Purpose::Pull(log)), Vec::new());
            }
            (p @ Purpose::Pull(_), Streaming { .. }) => return (Some(p), Vec::new()),
            (Purpose::Pull(log), End) if log.error.is_some() => {
                let e = log.error.unwrap_or_default();
                let image = self.image_of(id);
                self.fail(
                    id,
                    format!("Failed to pull image {image}: {e}"),
                    registry,
                    timers,
                )
            }
            (Purpose::Pull(_), Done { status, body }) => {
                let e = EngineError::from_answer(status, &body);
                let image = self.image_of(id);
                self.fail(
                    id,
                    format!("Failed to pull image {image}: {e}"),
                    registry,
                    timers,
                )
            }
            (Purpose::Pull(_), End) => {
                log::info!("Container {id}: image pulled");
                self.create(id, registry, timers)
            }
            (Purpose::Create, Done { status, body }) if status != 201 => {
                // Not ours to remove: a name conflict names someone else's container.
                if let Some(c) = self.containers.get_mut(id) {
                    c.made = false;
                }
                let e = EngineError::from_answer(status, &body);
                self.fail(
                    id,
                    format!("Failed to create the container: {e}"),
                    registry,
                    timers,
                )
            }
            (Purpose::Create, Done { .. }) => {
                let path = format!("/containers/{who}/attach?stream=1&stdout=1&stderr=1");
                let call = Call::post(path, None, timeout).streaming(Mode::Hijack, None);
                self.next(id, Purpose::Attach, call, registry, timers)
            }
            (Purpose::Attach, Streaming { .. }) => {
                let call = Call::post(format!("/containers/{who}/start"), None, timeout);
                let n = self.next(id, Purpose::Start, call, registry, timers);
                return (Some(Purpose::Attach), n);
            }
            (p @ (Purpose::Attach | Purpose::Logs), Data(data)) => {
                if let Some(out) = self.containers.get_mut(id).and_then(|c| c.output.as_mut()) {
                    out.write(&data);
                }
                return (Some(p), Vec::new());
            }
            (Purpose::Attach | Purpose::Logs, End) => Vec::new(),
            (Purpose::Logs, Streaming { .. }) => return (Some(Purpose::Logs), Vec::new()),
            (
                Purpose::Start,
                Done {
                    status: 204 | 304, ..
                },
            ) => {
                let call = Call::get(format!("/containers/{who}/json"), timeout);
                self.next(id, Purpose::Inspect, call, registry, timers)
            }
            (Purpose::Inspect, Done { status: 200, body }) => {
                self.started(id, &body, registry, timers)
            }
            (Purpose::Wait { body }, Streaming { .. }) => {
                return (Some(Purpose::Wait { body }), Vec::new())
            }
            (Purpose::Wait { mut body }, Data(data)) => {
                body.extend_from_slice(&data);
                return (Some(Purpose::Wait { body }), Vec::new());
            }
            (Purpose::Wait { body }, End) => {
                let code = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("StatusCode").and_then(|c| c.as_i64()));
                match code {
                    // Whether the kernel's OOM killer ended it is in the inspect, not the wait.
                    Some(code) => {
                        let call = Call::get(format!("/containers/{who}/json"), timeout);
                        let sent =
                            self.send(Some(id), Purpose::Exited { code }, call, registry, timers);
                        match sent {
                            Ok(_) => Vec::new(),
                            Err(_) => self.exited(id, code, false, None),
                        }
                    }
                    None => self.lost(
                        id,
                        format!(
                            "dockerd's wait answer is not understood: {}",
                            String::from_utf8_lossy(&body)
                        ),
                    ),
                }
            }
            (Purpose::Exited { code }, Done { status: 200, body }) => {
                self.exited(id, code, oom_killed(&body), None)
            }
            (Purpose::Exited { code }, Done { .. } | Failed(_)) => {
                self.exited(id, code, false, None)
            }
            (Purpose::Wait { .. }, Done { status, body }) => {
                self.lost(id, EngineError::from_answer(status, &body).to_string())
            }
            (Purpose::Wait { .. }, Failed(e)) => self.lost(id, e.to_string()),
            (Purpose::Recover, Done { status, body }) => {
                self.recovered(id, status, &body, registry, timers)
            }
            (Purpose::Recover, Failed(e)) => self.lost(id, e.to_string()),
            (
                Purpose::Stop | Purpose::Signal,
                Done {
                    status: 204 | 304, ..
                },
            ) => Vec::new(),
            (Purpose::Stop | Purpose::Signal, Done { status, body }) => {
                log::error!(
                    "Container {id}: {}",
                    EngineError::from_answer(status, &body)
                );
                Vec::new()
            }
            (Purpose::Stop | Purpose::Signal, Failed(e)) => {
                log::error!("Container {id}: stopping it failed: {e}");
                Vec::new()
            }
            (Purpose::Attach | Purpose::Logs, Failed(e)) => {
                log::warn!("Container {id}: its output stream failed: {e}");
                if self
                    .containers
                    .get(id)
                    .is_some_and(|c| c.state == State::Pulling)
                {
                    self.fail(
                        id,
                        format!("Failed to attach to the container: {e}"),
                        registry,
                        timers,
                    )
                } else {
                    Vec::new()
                }
            }
            (_, Failed(e)) => self.fail(
                id,
                format!("Failed to launch container: {e}"),
                registry,
                timers,
            ),
            (_, Done { status, body }) => {
                let e = EngineError::from_answer(status, &body);
                self.fail(
                    id,
                    format!("Failed to launch container: {e}"),
                    registry,
                    timers,
                )
            }
            (p, _) => return (Some(p), Vec::new()),
        };
        (None, notices)
    }

    fn image_of(&self, id: &ContainerId) -> String {
        self.containers
            .get(id)
            .map(|c| c.image.clone())
            .unwrap_or_default()
    }

    /// The launch's next request; failing to send it fails the launch.
    fn next(
        &mut self,
        id: &ContainerId,
        purpose: Purpose,
        call: Call,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let sent = self.send(Some(id), purpose, call, registry, timers);
        self.unless_sent(id, sent, registry, timers)
    }

    fn create(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(body) = self.containers.get_mut(id).and_then(|c| c.body.take()) else {
            return Vec::new();
        };
        if let Some(c) = self.containers.get_mut(id) {
            c.made = true;
        }
        let path = format!("/containers/create?name={}", name(id));
        let call = Call::post(path, Some(&body), self.settings.api_timeout);
        self.next(id, Purpose::Create, call, registry, timers)
    }

    /// Started: its pid and cgroup, RUNNING, the LAUNCH answered, and the wait begun.
    fn started(
        &mut self,
        id: &ContainerId,
        inspect: &[u8],
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        self.adopt_pid(id, inspect);
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        c.state = State::Running;
        c.launching = false;
        log::info!(
            "Container {id} is running as Docker container {} (pid {:?})",
            name(id),
            c.pid
        );
        let mut notices = vec![Notice::Launched(id.clone())];
        if let Err(e) = self.wait_for(id, registry, timers) {
            notices.extend(self.lost(id, e.to_string()));
        }
        notices
    }

    /// The pid and cgroup from an inspect answer.
    pub(super) fn adopt_pid(&mut self, id: &ContainerId, inspect: &[u8]) {
        let pid = serde_json::from_slice::<serde_json::Value>(inspect)
            .ok()
            .and_then(|v| v.pointer("/State/Pid").and_then(|p| p.as_i64()))
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 0);
        let s = &self.settings;
        let cgroup = pid.and_then(|pid| {
            let found = crate::cgroups::of_process(
                &s.cgroups_hierarchy,
                &s.proc_dir.join("self/mountinfo"),
                &s.proc_dir.join(pid.to_string()).join("cgroup"),
                id.as_str(),
            );
            found
                .map_err(|e| {
                    log::warn!("Container {id}: no statistics, its cgroup is unknown: {e}")
                })
                .ok()
        });
        if let Some(c) = self.containers.get_mut(id) {
            c.pid = pid;
            c.cgroup = cgroup;
        }
    }

    pub(super) fn wait_for(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<ReqId, EngineError> {
        // not-running: answers at once if it already exited; the stream then idles until it does.
        let path = format!("/containers/{}/wait?condition=not-running", name(id));
        let call = Call::post(path, None, self.settings.api_timeout).streaming(Mode::Stream, None);
        self.send(
            Some(id),
            Purpose::Wait { body: Vec::new() },
            call,
            registry,
            timers,
        )
    }
}
