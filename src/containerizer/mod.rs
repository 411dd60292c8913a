//! Containerizers: what launches, watches, measures and destroys containers, behind one
//! interface that the API and the agent talk to. The Mesos containerizer (`mesos/`: native
//! namespaces, cgroups and isolators) is the one built; the Docker containerizer and the
//! composing one slot in beside it.

pub mod composing;
pub mod docker;
pub mod mesos;
mod state;

pub use crate::isolator::UsagePass;
pub use crate::spec::{
    parse_container_id, parse_launch, Command, ContainerId, ContainerInfo, Image, LaunchRequest,
    LinuxInfo, RLimit, Seccomp, Volume, VolumeMode, VolumeSource,
};
pub use crate::status::{Limitation, Reason, TaskState, Termination};
pub use mesos::{
    fetch_command, FetchMetrics, FetchSettings, Histogram, ImageSettings, MesosContainerizer,
    Metrics, Recovered, RequestParts, Settings, LATENCY_BUCKETS,
};
pub use state::State;

use std::path::Path;

use mio::Registry;

use crate::event::Source;
use crate::resources::Resources;
use crate::stats::ResourceStatistics;
use crate::timer::{TimerKind, Timers};

/// One container as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStatus {
    pub id: ContainerId,
    pub state: State,
    /// The pid of the container's first process, while it runs.
    pub executor_pid: Option<i32>,
    /// How it ended, once TERMINATED.
    pub termination: Option<Termination>,
    /// The networks it joined (network/cni), with their addresses.
    pub network_infos: Vec<crate::spec::NetworkInfo>,
}

/// The containerizer interface. Every call runs in the event loop and returns without
/// blocking; what takes longer comes back later as a [`Notice`].
pub trait Containerizer {
    /// After an agent restart (`rebooted`: the host too): re-adopt, report and clean up.
    fn recover(&mut self, rebooted: bool, registry: &Registry, timers: &mut Timers) -> Recovered;

    /// LAUNCH_CONTAINER.
    fn launch(
        &mut self,
        req: LaunchRequest,
        registry: &Registry,
        timers: &mut Timers,
    ) -> LaunchOutcome;

    /// KILL_CONTAINER: `signal` to the task; SIGKILL destroys the container.
    fn kill(
        &mut self,
        id: &ContainerId,
        signal: i32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Vec<Notice>, ControlError>;

    /// REMOVE_CONTAINER of a TERMINATED container.
    fn remove(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), ControlError>;

    /// Destroys every container (`--recover=cleanup`).
    fn destroy_all(&mut self, registry: &Registry, timers: &mut Timers);

    /// Whether every container is TERMINATED.
    fn all_terminated(&self) -> bool;

    /// One container (WAIT_CONTAINER, GET_CONTAINERS).
    fn status(&self, id: &ContainerId) -> Option<ContainerStatus>;

    /// Every container, in ID order.
    fn list(&self) -> Vec<ContainerStatus>;

    /// Every container's ID, in ID order: what a statistics request walks, without the
    /// statuses [`list`](Containerizer::list) builds.
    fn ids(&self) -> Vec<ContainerId> {
        self.list().into_iter().map(|c| c.id).collect()
    }

    /// A live container's ResourceStatistics; None once TERMINATED (or unknown). `pass` holds
    /// what one request measures once for all its containers (one procfs walk).
    fn usage(
        &self,
        id: &ContainerId,
        pass: &UsagePass,
        buf: &mut Vec<u8>,
    ) -> Option<ResourceStatistics>;

    /// PRUNE_IMAGES: how many layers (or AppC images) were removed.
    fn prune_images(&mut self) -> Result<usize, ControlError>;

    /// What the node can give, and what the live containers hold.
    fn total(&self) -> &Resources;
    fn allocated(&self) -> Resources;

    /// Where sandboxes live (for `/files`).
    fn work_dir(&self) -> &Path;

    /// Counters common to every containerizer.
    fn metrics(&self) -> Metrics;

    /// How many containers are in each state.
    fn count_by_state(&self) -> Vec<(State, usize)>;

    /// The fetcher's counters, when this containerizer fetches URIs.
    fn fetch_counters(&self) -> Option<FetchCounters>;

    /// Further metrics (its isolators'), as (Mesos-style name, value).
    fn extra_metrics(&self, out: &mut Vec<(String, f64)>);

    /// A loop source of this containerizer became ready.
    fn on_event(&mut self, source: Source, registry: &Registry, timers: &mut Timers)
        -> Vec<Notice>;

    /// A timer of this containerizer is due.
    fn on_timer(
        &mut self,
        kind: &TimerKind,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice>;

    /// SIGCHLD.
    fn on_sigchld(&mut self, registry: &Registry, timers: &mut Timers) -> Vec<Notice>;

    /// SIGHUP: what was read from files once (seccomp profiles) is read again.
    fn reload(&mut self);
}

/// The fetcher's counters and cache sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchCounters {
    pub succeeded: u64,
    pub failed: u64,
    pub cache_capacity: u64,
    pub cache_used: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

/// What the API layer must learn of, produced by events and timers.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The task exec'd: answer the pending LAUNCH with 200.
    Launched(ContainerId),
    /// The launch failed after the ID was taken: answer 400 with the message.
    LaunchFailed(ContainerId, String),
    /// The container is TERMINATED: answer every WAIT.
    Terminated(ContainerId),
}

/// How LAUNCH_CONTAINER went, synchronously.
#[derive(Debug, PartialEq)]
pub enum LaunchOutcome {
    /// Cloned; the answer comes with `Notice::Launched` or `Notice::LaunchFailed`.
    Pending,
    /// The ID is in use (202).
    AlreadyExists,
    /// Refused before the ID was taken (400); nothing is kept.
    Refused(String),
    /// Failed after the ID was taken (400); the container is kept TERMINATED.
    Failed(String),
}

/// Errors of KILL and REMOVE.
#[derive(Debug, PartialEq)]
pub enum ControlError {
    NotFound(ContainerId),
    StillRunning(ContainerId),
    Failed(ContainerId, String),
    /// Refused as a whole (PRUNE_IMAGES while pulls run, images off): a 400.
    Refused(String),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::NotFound(id) => write!(f, "Container {id} not found"),
            ControlError::StillRunning(id) => {
                write!(
                    f,
                    "Container {id} is still running: KILL_CONTAINER and WAIT_CONTAINER first"
                )
            }
            ControlError::Failed(id, why) => write!(f, "Container {id}: {why}"),
            ControlError::Refused(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ControlError {}

/// The limits of a container's statistics, as Mesos fills them (containerizer.cpp
/// l.2505-2620): without CFS there is no hard CPU cap, so the CPU limit is the whole node.
pub fn fill_limits(
    out: &mut ResourceStatistics,
    r: &Resources,
    enable_cfs: bool,
    total: &Resources,
) {
    if r.cpus > 0.0 {
        out.cpus_soft_limit = Some(r.cpus);
        out.cpus_limit = Some(if enable_cfs { r.cpus } else { total.cpus });
    }
    if r.mem_mb > 0.0 {
        let bytes = (r.mem_mb * 1024.0 * 1024.0).round() as u64;
        out.mem_limit_bytes = Some(bytes);
        out.mem_soft_limit_bytes = Some(bytes);
    }
}
