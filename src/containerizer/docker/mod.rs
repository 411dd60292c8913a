//! The Docker containerizer: containers of `ContainerInfo.type` DOCKER, run by dockerd and
//! driven through its Engine API from the loop ([`engine`]). Each container goes PULLING (the
//! image, unless present and not force-pulled) → RUNNING (created as `mesos-<id>`, attached,
//! started, waited for) → DESTROYING (stopped) → TERMINATED; every step is one request whose
//! answer comes back as an event, so no step blocks and a hung dockerd fails only the
//! containers whose requests time out.
//!
//! Checkpoints: `<work_dir>/meta/docker/<id>/container.json` (what recovery re-adopts; which
//! containerizer owns a container is which of their checkpoint trees holds it).

mod checkpoint;
mod cleanup;
mod control;
pub mod create;
pub mod engine;
mod exit;
mod fetch;
mod hooks;
mod interface;
mod launch;
mod output;
mod pull;
mod recover;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use super::{Metrics, State};
use crate::cgroups::ContainerCgroup;
use crate::children::Children;
use crate::deleter::trash::Trash;
use crate::deleter::Deleter;
use crate::resources::Resources;
use crate::spec::ContainerId;
use crate::status::Termination;
use engine::{Engine, ReqId};

/// Docker's name for a container: `mesos-<id>` (Mesos's `DOCKER_NAME_PREFIX`).
pub const NAME_PREFIX: &str = "mesos-";

pub fn name(id: &ContainerId) -> String {
    format!("{NAME_PREFIX}{id}")
}

/// What the Docker containerizer needs from the agent's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub work_dir: PathBuf,
    pub proc_dir: PathBuf,
    pub cgroups_hierarchy: PathBuf,
    pub sandbox_directory: PathBuf,
    pub enable_cfs: bool,
    pub total: Resources,
    /// `--docker_socket`.
    pub socket: PathBuf,
    /// `--docker_api_timeout`: bounds every request (a stream's head).
    pub api_timeout: Duration,
    /// `--docker_stop_timeout`: SIGTERM to SIGKILL when a container is destroyed.
    pub stop_timeout: Duration,
    /// `--executor_shutdown_grace_period`: the same for a KILL with SIGTERM.
    pub shutdown_grace: Duration,
    /// `--docker_kill_orphans`.
    pub kill_orphans: bool,
    /// A pull that receives nothing for this long fails (`--fetcher_stall_timeout`).
    pub pull_stall: Duration,
    /// `--docker_config`: registry credentials sent with pulls.
    pub docker_config: Option<PathBuf>,
    /// `--hooks_dir` and `--hooks_timeout`.
    pub hooks: crate::containerizer::mesos::HookSettings,
    /// With `--docker_mesos_image`: the Docker ID of the container the agent runs in.
    pub own_container: Option<String>,
    /// No Mesos containerizer runs beside it: what a previous agent left in the trash is this
    /// containerizer's to delete at recovery.
    pub empty_trash: bool,
    /// The fetcher of `command.uris` (the Mesos containerizer's settings).
    pub fetch: crate::containerizer::FetchSettings,
}

/// What a request in flight is for.
#[derive(Debug)]
enum Purpose {
    InspectImage,
    /// The pull's progress stream.
    Pull(pull::PullLog),
    Create,
    Attach,
    Start,
    Inspect,
    Wait {
        body: Vec<u8>,
    },
    /// The inspect after the wait ended with `code`: was it OOM-killed?
    Exited {
        code: i64,
    },
    Stop,
    Signal,
    Remove,
    Logs,
    /// A checkpointed container's state after a restart.
    Recover,
    /// `mesos-` containers, for orphans.
    ListOrphans,
}

/// One Docker container.
#[derive(Debug)]
struct Container {
    id: ContainerId,
    state: State,
    resources: Resources,
    sandbox: PathBuf,
    image: String,
    created: f64,
    /// The container's init (dockerd's view), once started.
    pid: Option<i32>,
    cgroup: Option<ContainerCgroup>,
    termination: Option<Termination>,
    /// KILL_CONTAINER asked for its end (it ends TASK_KILLED).
    killed: bool,
    /// The LAUNCH is unanswered.
    launching: bool,
    /// A create was sent for it: dockerd may hold a container of ours to remove.
    made: bool,
    /// The create body, kept until the image is there.
    body: Option<serde_json::Value>,
    /// Requests in flight for it (cancelled when it is destroyed during the launch).
    requests: Vec<ReqId>,
    output: Option<output::Output>,
    /// The fetcher of its URIs, while FETCHING.
    fetch: Option<fetch::Fetch>,
    /// `force_pull_image`: pulled even when present.
    force_pull: bool,
    /// `command.uris`, until the prelaunch hook is done.
    uris: Vec<crate::fetcher::protocol::Uri>,
    /// The hook of its launch, while one runs.
    hook: Option<hooks::Hook>,
}

/// The Docker containers and the client to dockerd.
#[derive(Debug)]
pub struct DockerContainerizer {
    settings: Settings,
    engine: Engine,
    containers: BTreeMap<ContainerId, Container>,
    requests: HashMap<ReqId, (Option<ContainerId>, Purpose)>,
    metrics: Metrics,
    /// The deleter of removed sandboxes and checkpoints, and its runner.
    children: Children,
    deleter: Deleter,
    trash: Trash,
    /// Fetch and hook children's slots (`Owner::Fetch`, `Owner::Hook`), and the last given.
    slots: HashMap<u32, ContainerId>,
    next_slot: u32,
}

/// The Docker containerizer's children are numbered apart from the Mesos containerizer's.
const FIRST_CHILD_ID: u32 = 1 << 30;

impl DockerContainerizer {
    pub fn new(settings: Settings) -> DockerContainerizer {
        let deleter = Deleter::new(settings.proc_dir.clone());
        let trash = Trash::new(vec![settings.work_dir.join("trash")]);
        DockerContainerizer {
            engine: Engine::new(&settings.socket, settings.api_timeout),
            settings,
            containers: BTreeMap::new(),
            requests: HashMap::new(),
            metrics: Metrics::default(),
            children: Children::numbered_from(FIRST_CHILD_ID),
            deleter,
            trash,
            slots: HashMap::new(),
            next_slot: 0,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn allocated(&self) -> Resources {
        State::held(self.containers.values().map(|c| (c.state, &c.resources)))
    }

    fn count_by_state(&self) -> Vec<(State, usize)> {
        State::tally(self.containers.values().map(|c| c.state))
    }

    /// Sends a request for `id` (None: the containerizer's own); a request that cannot even be
    /// sent is returned as its failure.
    fn send(
        &mut self,
        id: Option<&ContainerId>,
        purpose: Purpose,
        call: engine::Call,
        registry: &mio::Registry,
        timers: &mut crate::timer::Timers,
    ) -> Result<ReqId, engine::EngineError> {
        let req = self.engine.submit(call, registry, timers)?;
        if let Some(c) = id.and_then(|id| self.containers.get_mut(id)) {
            c.requests.push(req);
        }
        self.requests.insert(req, (id.cloned(), purpose));
        Ok(req)
    }
}

/// A raw wait status from dockerd's exit code: killed by signal N is 128+N, reported as N;
/// any other code c as c<<8, as waitpid gives them for the Mesos containerizer.
pub fn wait_status(exit_code: i64) -> i32 {
    match exit_code {
        129..=192 => (exit_code - 128) as i32,
        c => ((c & 0xff) as i32) << 8,
    }
}

/// The Docker container ID in a `/proc/self/cgroup` (`.../docker/<id>` with the cgroupfs
/// driver, `.../docker-<id>.scope` with systemd's): 64 hex digits.
pub fn container_id_of(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        path.split('/').find_map(|part| {
            let part = part.strip_prefix("docker-").unwrap_or(part);
            let id = part.strip_suffix(".scope").unwrap_or(part);
            (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_container_from_the_cgroup_file() {
        let id = "a".repeat(64);
        let v1 = format!("12:memory:/docker/{id}\n11:cpu,cpuacct:/docker/{id}\n");
        assert_eq!(container_id_of(&v1), Some(id.clone()));
        let systemd = format!("0::/system.slice/docker-{id}.scope\n");
        assert_eq!(container_id_of(&systemd), Some(id));
        assert_eq!(container_id_of("0::/\n12:memory:/user.slice\n"), None);
    }

    #[test]
    fn exit_codes_become_wait_statuses() {
        assert_eq!(wait_status(0), 0);
        assert_eq!(wait_status(42), 42 << 8);
        assert_eq!(wait_status(137), 9);
        assert_eq!(wait_status(143), 15);
        assert_eq!(wait_status(128), 128 << 8);
        assert_eq!(wait_status(255), 255 << 8);
    }
}
