//! The Mesos containerizer: launches containers through the launcher and the isolators, tracks
//! each through its state machine, destroys them, and measures them. It runs inside the event
//! loop and never blocks: slow steps wait for fd readiness or a timer.

mod cgroup_making;
pub(crate) mod checkpoint;
mod cleanup;
mod container;
mod crash;
mod destroy;
pub mod error;
mod events;
mod fetch;
mod hooks;
mod interface;
mod isolating;
mod launch;
mod metrics;
mod provision;
mod recover;
mod steps;
mod usage;
mod user;
pub use hooks::HookSettings;
pub(crate) use hooks::{
    hook_command, hook_failure, keep_answer, on_remove_hook_event, parse_answer, request_json,
    run_remove_hook,
};

pub use container::{Container, Init};
pub use error::{FetchError, LaunchError};
pub use fetch::{fetch_command, FetchMetrics, FetchSettings, RequestParts};
pub use metrics::{Histogram, Metrics, LATENCY_BUCKETS};
pub use provision::error::{ProvisionError, RuntimeError};
pub use provision::ImageSettings;
pub use recover::Recovered;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use super::{ControlError, LaunchOutcome, Notice, State};
use crate::cgroups::Cgroups;
use crate::children::Children;
use crate::deleter::trash::Trash;
use crate::deleter::{Deleter, RequestId};
use crate::isolator::Isolators;
use crate::launcher::LauncherKind;
use crate::resources::Resources;
use crate::spec::{ContainerId, ContainerInfo, LaunchRequest};

/// What the containerizer needs from the agent's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub work_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub proc_dir: PathBuf,
    pub launcher: LauncherKind,
    pub enable_cfs: bool,
    pub switch_user: bool,
    pub shutdown_grace: Duration,
    /// The node's capacity: the sum of what running containers hold never exceeds it.
    pub total: Resources,
    /// `--default_container_info`: for launches that give no `container`.
    pub default_container: ContainerInfo,
    /// `--sandbox_directory`: the sandbox's path inside a container with an image.
    pub sandbox_directory: PathBuf,
    /// `--hooks_dir` and `--hooks_timeout`.
    pub hooks: hooks::HookSettings,
    /// `--container_logger=logrotate`; `None`: the sandbox logger (plain files).
    pub logger: Option<crate::logger::LogrotateSettings>,
    /// `--docker_mesos_image`: the agent runs in a Docker container, whose cgroups each init
    /// leaves first (see [`crate::cgroups::escape_procs`]).
    pub escape_cgroups: bool,
}

/// The containers and the machinery to run them.
#[derive(Debug)]
pub struct MesosContainerizer {
    settings: Settings,
    isolators: Isolators,
    cgroups: Option<Cgroups>,
    /// In ID order, so listings are stable.
    containers: BTreeMap<ContainerId, Container>,
    by_slot: HashMap<u32, ContainerId>,
    next_slot: u32,
    /// Every helper process: fetchers, pulls, rootfs copies, isolators' work, the deleter.
    children: Children,
    /// Deletes trees off the loop.
    deleter: Deleter,
    /// Makes (cgroup_making.rs) and removes containers' cgroups off the loop.
    cgroup_helper: Deleter,
    /// Where what is deleted is renamed first.
    trash: Trash,
    /// The cgroup helper's removals, by the container they are of.
    cgroup_removals: HashMap<RequestId, ContainerId>,
    /// The cgroup helper's makes, by the launch waiting for them.
    cgroup_makes: HashMap<RequestId, ContainerId>,
    /// Removed containers whose cgroups the helper is still removing (their ID cannot be
    /// launched again until then), with a launch of the same ID waiting for it.
    retiring: HashMap<ContainerId, Option<LaunchRequest>>,
    pub metrics: Metrics,
    /// The fetcher cache index and settings.
    pub fetcher: fetch::Fetcher,
    /// The image store and pulls in flight, when `--image_providers` is set.
    images: Option<provision::Images>,
}

/// The container an event's slot belongs to, and its ID; `None` when the event is stale (the
/// container is gone, its slot free or reused). A function of the two maps rather than of the
/// containerizer, so that callers can use its other fields while they hold the container.
fn slot_container<'a>(
    by_slot: &HashMap<u32, ContainerId>,
    containers: &'a mut BTreeMap<ContainerId, Container>,
    slot: u32,
) -> Option<(ContainerId, &'a mut Container)> {
    let id = by_slot.get(&slot)?.clone();
    let c = containers.get_mut(&id)?;
    Some((id, c))
}

impl MesosContainerizer {
    pub fn new(
        settings: Settings,
        isolators: Isolators,
        cgroups: Option<Cgroups>,
        fetch_settings: FetchSettings,
    ) -> MesosContainerizer {
        let trash = Trash::new(vec![
            settings.work_dir.join("trash"),
            settings.runtime_dir.join("trash"),
            // Only when containers/ is a filesystem of its own (`.` is in no container ID).
            settings.work_dir.join("containers").join(".trash"),
        ]);
        MesosContainerizer {
            deleter: Deleter::new(settings.proc_dir.clone()),
            cgroup_helper: Deleter::cgroup_helper(settings.proc_dir.clone()),
            trash,
            cgroup_removals: HashMap::new(),
            cgroup_makes: HashMap::new(),
            retiring: HashMap::new(),
            fetcher: fetch::Fetcher::new(fetch_settings),
            images: None,
            settings,
            isolators,
            cgroups,
            containers: BTreeMap::new(),
            by_slot: HashMap::new(),
            next_slot: 1,
            children: Children::default(),
            metrics: Metrics::default(),
        }
    }

    /// Arms what the isolators need from the start (their timers).
    pub fn start_isolators(&mut self, registry: &mio::Registry, timers: &mut crate::timer::Timers) {
        let mut lp = crate::isolator::LoopParts {
            registry,
            timers,
            children: &mut self.children,
        };
        self.isolators.start(&mut lp);
    }

    /// What the isolators show in the status of the container in `slot`.
    pub fn isolator_status(&self, slot: u32) -> crate::isolator::IsolatorStatus {
        self.isolators.status(slot)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn get(&self, id: &ContainerId) -> Option<&Container> {
        self.containers.get(id)
    }

    pub fn containers(&self) -> impl Iterator<Item = &Container> {
        self.containers.values()
    }

    fn slot_id(&self, slot: u32) -> Option<ContainerId> {
        self.by_slot.get(&slot).cloned()
    }

    /// What running containers hold.
    pub fn allocated(&self) -> Resources {
        State::held(self.containers.values().map(|c| (c.state, &c.resources)))
    }

    /// How many containers are in each state.
    pub fn count_by_state(&self) -> Vec<(State, usize)> {
        State::tally(self.containers.values().map(|c| c.state))
    }
}
