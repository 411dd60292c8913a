//! The states a container goes through, as Mesos's containerizers name them.

/// The containerizers' states (Mesos's), plus TERMINATED (kept until REMOVE_CONTAINER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Starting,
    Provisioning,
    Preparing,
    Isolating,
    Fetching,
    /// The Docker containerizer's: dockerd pulls the image.
    Pulling,
    Running,
    Destroying,
    Terminated,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "STARTING",
            State::Provisioning => "PROVISIONING",
            State::Preparing => "PREPARING",
            State::Isolating => "ISOLATING",
            State::Fetching => "FETCHING",
            State::Pulling => "PULLING",
            State::Running => "RUNNING",
            State::Destroying => "DESTROYING",
            State::Terminated => "TERMINATED",
        }
    }

    pub const ALL: [State; 9] = [
        State::Starting,
        State::Provisioning,
        State::Preparing,
        State::Isolating,
        State::Fetching,
        State::Pulling,
        State::Running,
        State::Destroying,
        State::Terminated,
    ];

    /// Whether the container holds its resources (everything but TERMINATED does).
    pub fn holds_resources(self) -> bool {
        self != State::Terminated
    }

    pub fn can_remove(self) -> bool {
        self == State::Terminated
    }
}
