//! How a container ended and the limits it hit, in Mesos's terms (TaskState, TaskStatus.Reason,
//! ContainerTermination, ContainerLimitation): what isolators report and the API renders.

/// Mesos's TaskState, for WAIT_CONTAINER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Finished,
    Failed,
    Killed,
}

impl TaskState {
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Finished => "TASK_FINISHED",
            TaskState::Failed => "TASK_FAILED",
            TaskState::Killed => "TASK_KILLED",
        }
    }
}

/// Mesos's TaskStatus.Reason values that the agent produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ContainerLaunchFailed,
    ContainerLimitationMemory,
    ContainerLimitationDisk,
    ExecutorTerminated,
}

impl Reason {
    const ALL: [Reason; 4] = [
        Reason::ContainerLaunchFailed,
        Reason::ContainerLimitationMemory,
        Reason::ContainerLimitationDisk,
        Reason::ExecutorTerminated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::ContainerLaunchFailed => "REASON_CONTAINER_LAUNCH_FAILED",
            Reason::ContainerLimitationMemory => "REASON_CONTAINER_LIMITATION_MEMORY",
            Reason::ContainerLimitationDisk => "REASON_CONTAINER_LIMITATION_DISK",
            Reason::ExecutorTerminated => "REASON_EXECUTOR_TERMINATED",
        }
    }

    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// How a container ended (Mesos's ContainerTermination).
#[derive(Debug, Clone, PartialEq)]
pub struct Termination {
    /// The raw wait status; None when the task never ran.
    pub status: Option<i32>,
    pub state: TaskState,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    /// Mesos JSON of the resources whose limit ended the container.
    pub limited: Option<serde_json::Value>,
}

/// A limit the container hit (Mesos's ContainerLimitation).
#[derive(Debug, Clone, PartialEq)]
pub struct Limitation {
    pub reason: Reason,
    pub message: String,
    pub resources: serde_json::Value,
}
