//! The states a container goes through, as Mesos's containerizers name them.

use crate::resources::Resources;

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

    /// How many of `states` are in each state, every state listed (zeros too).
    pub fn tally(states: impl Iterator<Item = State> + Clone) -> Vec<(State, usize)> {
        State::ALL
            .iter()
            .map(|s| (*s, states.clone().filter(|t| t == s).count()))
            .collect()
    }

    /// What the containers that hold resources hold, of (state, resources) pairs.
    pub fn held<'a>(containers: impl Iterator<Item = (State, &'a Resources)>) -> Resources {
        let mut sum = Resources::default();
        for (_, r) in containers.filter(|(s, _)| s.holds_resources()) {
            sum.add(r);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_tallied_and_only_live_containers_hold_resources() {
        let states = [State::Running, State::Terminated, State::Running];
        let tally = State::tally(states.iter().copied());
        assert_eq!(tally.len(), State::ALL.len());
        assert!(tally.contains(&(State::Running, 2)));
        assert!(tally.contains(&(State::Terminated, 1)));
        assert!(tally.contains(&(State::Pulling, 0)));

        let one = Resources::parse_text("cpus:1;mem:100").expect("resources");
        let held = State::held(states.iter().map(|s| (*s, &one)));
        assert_eq!(
            held,
            Resources::parse_text("cpus:2;mem:200").expect("resources")
        );
    }
}
