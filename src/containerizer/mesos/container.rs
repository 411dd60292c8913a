//! One container: its state machine and how it ended.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Instant;

use crate::cgroups::ContainerCgroup;
use crate::containerizer::State;
use crate::resources::Resources;
use crate::spec::ContainerId;
use crate::status::{Limitation, Termination};

/// The container's init process, as the agent sees it.
#[derive(Debug)]
pub struct Init {
    pub pid: i32,
    /// None on kernels without pidfds: SIGCHLD + waitpid then.
    pub pidfd: Option<OwnedFd>,
    /// Raw wait status of the init once reaped.
    pub exit: Option<i32>,
    /// Re-adopted after an agent restart: not our child, so it cannot be reaped; its end is
    /// seen on the pidfd and its task's status read from the `status` checkpoint.
    pub adopted: bool,
}

/// What follows a container's end, after its WAIT was answered: removing its rootfs, the
/// isolators' cleanup, its cgroups (by the deleter) and the termination checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Still to run (the container has not ended, or ended in this loop iteration).
    Pending,
    /// Done but for the cgroups, which the deleter is removing (this request).
    Cgroups(crate::deleter::RequestId),
    Done,
}

/// A container and everything the agent holds for it.
#[derive(Debug)]
pub struct Container {
    pub id: ContainerId,
    /// Small number naming the container in event-loop tokens and timers.
    pub slot: u32,
    pub state: State,
    pub resources: Resources,
    pub sandbox: PathBuf,
    pub ckpt: super::checkpoint::Paths,
    pub cgroup: Option<ContainerCgroup>,
    pub init: Option<Init>,
    /// Read end of the exec report pipe, while the launch waits for the task's exec.
    pub exec_report: Option<OwnedFd>,
    pub exec_report_buf: Vec<u8>,
    /// Set when the launch failed after the ID was taken.
    pub launch_failure: Option<String>,
    /// Set by KILL_CONTAINER: the end is then TASK_KILLED.
    pub killed: bool,
    pub termination: Option<Termination>,
    pub created: Instant,
    pub destroy_started: Option<Instant>,
    /// Found at recovery with no checkpoint: forgotten once destroyed.
    pub orphan: bool,
    /// Set when a limit ended the container.
    pub limitation: Option<Limitation>,
    /// The fetch of the command's URIs, during FETCHING.
    pub fetch: Option<super::fetch::FetchRun>,
    /// The write end of the init's release pipe, held during FETCHING.
    pub release: Option<OwnedFd>,
    /// The init was told to start the task (a task never released cannot have exec'd).
    pub released: bool,
    /// STARTING: the launch waiting for its user's lookup.
    pub resolving: Option<Box<super::user::Resolving>>,
    /// PROVISIONING: the launch waiting for its image and rootfs.
    pub provisioning: Option<Box<super::provision::Pending>>,
    /// A launch between two of its steps.
    pub(super) staging: Option<Box<super::steps::Staging>>,
    /// The launch waiting for its `prelaunch` hook.
    pub(super) hook: Option<Box<super::hooks::Hooking>>,
    /// ISOLATING: the launch waiting for isolators' children (CNI plugins).
    pub(super) isolating: Option<Box<super::isolating::Isolating>>,
    /// The `prelaunch` hook ran (or there is none to run).
    pub(super) hooked: bool,
    /// Its cgroups were asked of the cgroup helper (cgroup_making.rs): the launch does not ask
    /// again, and a destroy removes them through the same helper, after they were made.
    pub(super) cgroups_asked: bool,
    pub cleanup: Cleanup,
}

impl Container {
    /// Tells the init to start the task (RUNNING), when nothing else is to happen before it.
    /// An init that ended already (its move into its cgroups failed, or it was killed) is not
    /// an error here: its exec report says why.
    pub fn release_task(&mut self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        if let Some(fd) = self.release.take() {
            match crate::sys::fd::write_all(fd.as_raw_fd(), b"1") {
                Ok(()) => self.released = true,
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(e) => return Err(e),
            }
        }
        self.state = State::Running;
        Ok(())
    }

    pub fn init_pid(&self) -> Option<i32> {
        self.init.as_ref().map(|i| i.pid)
    }

    /// The init's pid while it runs (not once it was reaped).
    pub fn live_pid(&self) -> Option<i32> {
        self.init
            .as_ref()
            .filter(|i| i.exit.is_none())
            .map(|i| i.pid)
    }
}
