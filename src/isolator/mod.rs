//! Isolators: one per file, behind one small interface, enabled by their Mesos names in
//! `--isolation`. The life cycle is Mesos's, every step optional: `prepare` (plan the clone),
//! `isolate` (the init exists, the task has not started), `watch` (an fd or a timer the
//! isolator handed the loop fired: limitations), `usage`, `update`, `cleanup` (reverse order,
//! idempotent, also after a failed isolate) and `recover` (after an agent restart). Each
//! isolator keeps its own per-container state, keyed by the container's slot, and declares
//! which request features it serves. An isolator never forks or blocks: slow work is a child
//! it asks the loop to run ([`Ops::run`]), whose output comes back to it.

mod appc_runtime;
mod cgroups;
mod disk;
mod docker_runtime;
mod error;
mod feature;
mod filesystem;
mod linux;
mod namespaces;
mod network;
mod ops;
mod posix;
mod set;
mod usage_pass;
mod volume;

#[cfg(test)]
mod set_tests;

pub use disk::xfs::XfsError;
pub use error::{IsolatorError, Step, StepError};
pub use feature::Feature;
pub use ops::{LoopParts, Ops};
pub use set::Isolators;

pub use usage_pass::UsagePass;

use std::path::Path;

use crate::cgroups::{ContainerCgroup, Controller};
use crate::children::ChildEvent;
use crate::resources::Resources;
use crate::stats::ResourceStatistics;
use crate::status::Limitation;

/// What isolators add to a container's status.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IsolatorStatus {
    /// The networks joined, with the addresses they gave.
    pub network_infos: Vec<crate::spec::NetworkInfo>,
}

/// What isolators contribute to a launch, before the clone.
#[derive(Debug, Default)]
pub struct Plan {
    /// CLONE_NEW* flags.
    pub namespaces: u64,
    pub mount_proc: bool,
    pub hostname: Option<String>,
    /// Environment variables for the task (its own command environment overrides them).
    pub env: Vec<(String, String)>,
    /// What the container's init and task do before exec (mounts, limits, privileges).
    pub child: crate::launcher::ChildSetup,
}

/// What an isolator may look at while preparing a container.
#[derive(Debug)]
pub struct PrepareCtx<'a> {
    pub id: &'a str,
    /// Names the container in the isolator's own state and in its loop sources.
    pub slot: u32,
    pub resources: &'a Resources,
    pub cgroup: Option<&'a ContainerCgroup>,
    pub hostname: Option<&'a str>,
    pub container: &'a crate::spec::ContainerInfo,
    pub sandbox: &'a Path,
    pub enable_cfs: bool,
    /// The task's uid and gid when it runs as another user (what it creates must be its).
    pub user: Option<(u32, u32)>,
    /// The container's provisioned root filesystem, when it has an image.
    pub rootfs: Option<&'a Path>,
}

/// One container as the later steps see it (isolate, watch, cleanup, recover).
#[derive(Debug, Clone, Copy)]
pub struct ContainerCtx<'a> {
    pub id: &'a str,
    pub slot: u32,
    pub resources: &'a Resources,
    pub cgroup: Option<&'a ContainerCgroup>,
    pub sandbox: &'a Path,
    /// The init's pid, while it runs.
    pub pid: Option<i32>,
}

/// What an isolator may look at while measuring a container.
#[derive(Debug)]
pub struct UsageCtx<'a> {
    pub slot: u32,
    pub cgroup: Option<&'a ContainerCgroup>,
    pub init_pid: Option<i32>,
    pub proc_dir: &'a Path,
    pub sandbox: &'a Path,
    pub resources: &'a Resources,
    /// What the request measures once for all its containers.
    pub pass: &'a UsagePass,
}

/// A limitation an isolator found, for the container in `slot`.
pub type Limited = (u32, Limitation);

/// How an isolator's `isolate` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolated {
    /// Done: as far as this isolator goes, the task may start.
    Done,
    /// Children of its are still at work (CNI plugins): the task waits until its `on_child`
    /// reports the container in [`ChildOutcome::isolated`].
    Pending,
}

/// What an isolator's child event brings about.
#[derive(Debug, Default)]
pub struct ChildOutcome {
    pub limited: Vec<Limited>,
    /// Containers (slots) whose pending isolate this settled: done, or failed (the launch fails).
    pub isolated: Vec<(u32, Result<(), IsolatorError>)>,
}

impl From<Vec<Limited>> for ChildOutcome {
    fn from(limited: Vec<Limited>) -> ChildOutcome {
        ChildOutcome {
            limited,
            isolated: Vec::new(),
        }
    }
}

/// The isolator interface. Every step but `name` is optional.
pub trait Isolator {
    fn name(&self) -> &'static str;

    /// The cgroup controller this isolator needs, if any.
    fn controller(&self) -> Option<Controller> {
        None
    }

    /// The request features this isolator provides (a container asking for one no enabled
    /// isolator serves is refused).
    fn serves(&self) -> &'static [Feature] {
        &[]
    }

    /// Once, when the agent starts (before recovery): arm the timers it needs.
    fn start(&mut self, _ops: &mut Ops<'_>) {}

    /// Before the clone: contribute to the launch plan.
    fn prepare(&mut self, _ctx: &PrepareCtx<'_>, _plan: &mut Plan) -> Result<(), IsolatorError> {
        Ok(())
    }

    /// After the clone, before the task may run; `Pending` holds the task back until this
    /// isolator's children are done.
    fn isolate(
        &mut self,
        _ctx: &ContainerCtx<'_>,
        _ops: &mut Ops<'_>,
    ) -> Result<Isolated, IsolatorError> {
        Ok(Isolated::Done)
    }

    /// An fd this isolator watches for the container became ready; `tag` is the one it was
    /// watched with ([`Ops::watch`]).
    fn on_ready(
        &mut self,
        _ctx: &ContainerCtx<'_>,
        _tag: u8,
        _ops: &mut Ops<'_>,
    ) -> Option<Limitation> {
        None
    }

    /// This isolator's timer fired; `running` are the slots of the RUNNING containers.
    fn on_timer(&mut self, _running: &[u32], _ops: &mut Ops<'_>) -> Vec<Limited> {
        Vec::new()
    }

    /// A child this isolator asked for (for the container in `slot`) wrote or finished.
    fn on_child(&mut self, _slot: u32, _event: ChildEvent, _ops: &mut Ops<'_>) -> ChildOutcome {
        ChildOutcome::default()
    }

    /// Everything in the container is gone: a limitation it hit whose notice never came.
    fn on_exit(&mut self, _ctx: &ContainerCtx<'_>) -> Option<Limitation> {
        None
    }

    /// Adds what this isolator measures to the container's statistics.
    fn usage(
        &self,
        _ctx: &UsageCtx<'_>,
        _buf: &mut Vec<u8>,
        _out: &mut ResourceStatistics,
    ) -> Result<(), IsolatorError> {
        Ok(())
    }

    /// The container's resources changed.
    fn update(&mut self, _ctx: &ContainerCtx<'_>) -> Result<(), IsolatorError> {
        Ok(())
    }

    /// The container is gone (or its launch failed): release what it held. Idempotent.
    fn cleanup(
        &mut self,
        _ctx: &ContainerCtx<'_>,
        _ops: &mut Ops<'_>,
    ) -> Result<(), IsolatorError> {
        Ok(())
    }

    /// After an agent restart: rebuild this isolator's state for a container that still runs.
    fn recover(
        &mut self,
        _ctx: &ContainerCtx<'_>,
        _ops: &mut Ops<'_>,
    ) -> Result<(), IsolatorError> {
        Ok(())
    }

    /// After recovery: `known` tells the IDs of the containers the agent has; what this
    /// isolator holds for any other (a previous agent's leftovers) is released.
    fn recovered(&mut self, _known: &dyn Fn(&str) -> bool, _ops: &mut Ops<'_>) {}

    /// What the container's status shows of this isolator (the networks it joined).
    fn status(&self, _slot: u32, _out: &mut IsolatorStatus) {}

    /// Metrics of this isolator, as (Mesos-style name, value).
    fn metrics(&self, _out: &mut Vec<(String, f64)>) {}

    /// SIGHUP: what the isolator read from files once (and keeps) is read again.
    fn reload(&mut self) {}
}
