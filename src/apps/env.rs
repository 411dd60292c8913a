//! What the loop lends the app controller to act with, and the two containerizer calls every
//! part of the controller makes.

use mio::Registry;

use crate::containerizer::{ContainerId, Containerizer, ControlError, Notice};
use crate::timer::Timers;

/// What the loop gives the controller to act with.
pub struct Env<'a> {
    pub containerizer: &'a mut dyn Containerizer,
    pub registry: &'a Registry,
    pub timers: &'a mut Timers,
    /// Notices the controller's own calls produced (a KILL that ended a container at once),
    /// for the loop to deliver as it does the API's.
    pub notices: &'a mut Vec<Notice>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

/// SIGTERM (escalated to SIGKILL after the grace period by the containerizer).
pub fn kill_container(id: &ContainerId, env: &mut Env<'_>) {
    match env
        .containerizer
        .kill(id, libc::SIGTERM, env.registry, env.timers)
    {
        Ok(n) => env.notices.extend(n),
        Err(ControlError::NotFound(_)) => {}
        Err(e) => log::warn!("Failed to kill {id}: {e}"),
    }
}

pub fn remove_container(id: &ContainerId, env: &mut Env<'_>) {
    match env.containerizer.remove(id, env.registry, env.timers) {
        Ok(()) | Err(ControlError::NotFound(_)) => {}
        Err(e) => log::warn!("Failed to remove {id}: {e}"),
    }
}
