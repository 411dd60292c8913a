//! DESTROYING, from any state, idempotent: kill everything in the container (the whole cgroup,
//! and the init's process group), wait without blocking until the init is reaped and the cgroup
//! is empty, remove the cgroup, and record how the container ended.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::checkpoint;
use super::State;
use super::{slot_container, ContainerId, ControlError, MesosContainerizer, Notice};
use crate::event::Source;
use crate::isolator::ContainerCtx;
use crate::status::{Reason, TaskState, Termination};
use crate::sys::process;
use crate::timer::{TimerKind, Timers};

/// How often a destroy re-checks for processes left in the cgroup.
const RETRY: Duration = Duration::from_millis(10);
/// After this long a destroy gives up on the cgroup (Mesos's --cgroups_destroy_timeout).
const DESTROY_TIMEOUT: Duration = Duration::from_secs(60);

impl MesosContainerizer {
    pub(super) fn on_init_ready(
        &mut self,
        slot: u32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        let Some(init) = c.init.as_mut() else {
            return Vec::new();
        };
        if init.exit.is_some() {
            return Vec::new();
        }
        let reaped = if init.adopted {
            // Not our child: the pidfd is readable because it ended; its parent reaps it.
            Ok(Some(process::status_signaled(libc::SIGKILL)))
        } else {
            process::try_wait(init.pid)
        };
        match reaped {
            Ok(Some(status)) => init.exit = Some(status),
            Ok(None) => return Vec::new(),
            Err(e) => {
                log::warn!(
                    "Failed to reap the init {} of container {id}: {e}",
                    init.pid
                );
                init.exit = Some(process::status_signaled(libc::SIGKILL));
            }
        }
        if let Some(fd) = init.pidfd.take() {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        log::debug!("Init of container {id} exited with status {:?}", init.exit);
        // Both ends of the exec pipe are closed now: read the report before judging the end.
        let mut notices = Vec::new();
        if c.exec_report.is_some() {
            notices.extend(self.on_exec_report(slot, registry));
        }
        notices.extend(self.begin_destroy(&id, registry, timers));
        notices
    }

    /// Sends `signal` to the container: SIGKILL destroys it (the whole cgroup); any other signal
    /// goes to the init, which forwards it to the task.
    pub fn kill(
        &mut self,
        id: &ContainerId,
        signal: i32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<Vec<Notice>, ControlError> {
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| ControlError::NotFound(id.clone()))?;
        if matches!(c.state, State::Terminated | State::Destroying) {
            return Ok(Vec::new());
        }
        // Signals meant to end the task make its end TASK_KILLED; others (SIGUSR1, SIGHUP...)
        // are just delivered.
        if matches!(
            signal,
            libc::SIGKILL | libc::SIGTERM | libc::SIGINT | libc::SIGQUIT
        ) {
            c.killed = true;
        }
        // Between two launch steps nothing runs yet that could receive the signal.
        let unreleased = c.staging.is_some() || c.hook.is_some() || c.isolating.is_some();
        if signal == libc::SIGKILL || (c.killed && unreleased) {
            return Ok(self.begin_destroy(id, registry, timers));
        }
        if let Some(init) = c.init.as_ref().filter(|i| i.exit.is_none()) {
            let sent = match &init.pidfd {
                Some(fd) => process::pidfd_send_signal(fd, signal),
                None => process::kill(init.pid, signal),
            };
            sent.map_err(|e| ControlError::Failed(id.clone(), format!("Failed to signal: {e}")))?;
        }
        if signal == libc::SIGTERM {
            // A graceful kill: the whole container is SIGKILLed if the task outlives the grace period.
            timers.add(
                self.settings.shutdown_grace,
                TimerKind::KillEscalate(c.slot),
            );
        }
        Ok(Vec::new())
    }

    /// Moves a container to DESTROYING (idempotent) and kills everything in it.
    pub(super) fn begin_destroy(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        if c.state == State::Terminated {
            return Vec::new();
        }
        if c.state != State::Destroying {
            log::debug!("Container {id}: {} -> DESTROYING", c.state.name());
            c.state = State::Destroying;
            c.destroy_started = Some(Instant::now());
        }
        kill_everything(c);
        let mut notices = self.abort_user_lookup(id, registry);
        notices.extend(self.abort_staging(id));
        notices.extend(self.abort_hook(id, registry));
        notices.extend(self.abort_isolating(id));
        notices.extend(self.abort_provisioning(id, registry));
        notices.extend(self.abort_fetch(id, registry, timers));
        notices.extend(self.try_finish_destroy(id, registry, timers));
        notices
    }

    /// Ends the destroy once the init is reaped and the cgroup is empty: the termination is
    /// known then, and WAIT is answered; the cleanup runs in a later loop iteration (deferred,
    /// one container's an iteration, so that a burst of ends does not make one long iteration;
    /// a REMOVE that comes first runs it itself).
    pub(super) fn try_finish_destroy(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        if c.state == State::Terminated {
            self.run_cleanup(id, registry, timers);
            return Vec::new();
        }
        if c.state != State::Destroying {
            return Vec::new();
        }
        let init_done = c.init.as_ref().is_none_or(|i| i.exit.is_some());
        let empty = match &c.cgroup {
            Some(cg) => cg.is_empty().unwrap_or(true),
            None => true,
        };
        let ended = init_done && empty;
        if ended && c.limitation.is_none() && c.launch_failure.is_none() {
            // A limit hit whose notice never came (the task's end was seen first).
            let found = self.isolators.on_exit(&container_ctx(c));
            c.limitation = found;
        }
        let timed_out = c
            .destroy_started
            .is_some_and(|t| t.elapsed() > DESTROY_TIMEOUT);
        if !ended && !timed_out {
            if !empty {
                kill_everything(c);
            }
            timers.add(RETRY, TimerKind::DestroyRetry(c.slot));
            return Vec::new();
        }
        if !ended {
            self.metrics.destroy_errors += 1;
            log::error!("Failed to destroy container {id} within {DESTROY_TIMEOUT:?}: processes are left in its cgroup");
        }
        // A termination decided earlier (a reboot found at recovery) stands.
        let termination = c.termination.clone().unwrap_or_else(|| termination_of(c));
        if !c.orphan {
            log::info!(
                "Container {id} terminated: {} status {:?}",
                termination.state.name(),
                termination.status
            );
        }
        c.termination = Some(termination);
        c.state = State::Terminated;
        c.cleanup = super::container::Cleanup::Pending;
        if c.orphan {
            // Nobody waits for an orphan.
            self.run_cleanup(id, registry, timers);
            return Vec::new();
        }
        timers.defer(TimerKind::DestroyRetry(c.slot));
        vec![Notice::Terminated(id.clone())]
    }

    /// Records a launch that failed after its ID was taken, and destroys what it left.
    pub(super) fn fail_launch(
        &mut self,
        id: &ContainerId,
        msg: &str,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        if let Some(c) = self.containers.get_mut(id) {
            c.launch_failure = Some(msg.to_string());
            if let Some(fd) = c.init.as_ref().and_then(|i| i.pidfd.as_ref()) {
                // Watch the init so its exit is reaped; EEXIST if it was already watched.
                let _ = registry.register(
                    &mut SourceFd(&fd.as_raw_fd()),
                    Token::from(Source::Init(c.slot)),
                    Interest::READABLE,
                );
            }
        }
        // A destroy that must wait goes on from the init's pidfd and the timers.
        self.begin_destroy(id, registry, timers)
    }
}

/// SIGKILL to everything the container holds: its cgroup, and the init's process group (the
/// posix launcher's only handle on double-forked processes).
fn kill_everything(c: &mut super::Container) {
    let init_gone = c.init.as_ref().is_none_or(|i| i.exit.is_some());
    if let Some(cg) = &c.cgroup {
        // The common end: the task exited, its init too, nothing is left. Freezing an empty
        // cgroup would only cost the launch path time.
        if init_gone && cg.is_empty().unwrap_or(false) {
            return;
        }
        if let Err(e) = cg.kill_all() {
            log::debug!("Container {}: kill of the cgroup: {e}", c.id);
        }
    }
    if let Some(init) = c.init.as_ref().filter(|i| i.exit.is_none()) {
        // The group first: once the init is dead its group can no longer be verified.
        if let Some(pgid) = own_group(init) {
            let _ = process::kill_group(pgid, libc::SIGKILL);
        }
        let _ = match &init.pidfd {
            Some(fd) => process::pidfd_send_signal(fd, libc::SIGKILL),
            None => process::kill(init.pid, libc::SIGKILL),
        };
    }
}

/// The process group the init made (it calls setsid, so its session and group ids are its
/// pid), if it is still there and still the init's: None for a pid of 1 or less, an init that
/// has not made its session yet (it is in the agent's group then), and an adopted init that
/// cannot be confirmed through its pidfd. The pid of our own unreaped child cannot be
/// recycled; an adopted init is confirmed live through its pidfd after the ids are read, so
/// the ids read were its own.
fn own_group(init: &super::container::Init) -> Option<i32> {
    if init.pid <= 1 || init.exit.is_some() {
        return None;
    }
    let (sid, pgid) = process::session_and_group(init.pid).ok()?;
    if sid != init.pid || pgid != init.pid {
        return None;
    }
    match &init.pidfd {
        Some(fd) => process::pidfd_send_signal(fd, 0).ok()?,
        None if init.adopted => return None,
        None => {}
    }
    Some(pgid)
}

/// The container as the isolators see it.
pub(super) fn container_ctx(c: &super::Container) -> ContainerCtx<'_> {
    ContainerCtx {
        id: c.id.as_str(),
        slot: c.slot,
        resources: &c.resources,
        cgroup: c.cgroup.as_ref(),
        sandbox: &c.sandbox,
        pid: c.live_pid(),
    }
}

/// How the container ended: the task's status as the init recorded it (or the init's own, if
/// it was killed before it could record one), and why.
fn termination_of(c: &super::Container) -> Termination {
    let recorded = checkpoint::read_status(&c.ckpt.status());
    let status = recorded.or_else(|| c.init.as_ref().and_then(|i| i.exit));
    // An init whose release pipe closed without a word says so; it means the agent died mid-
    // launch only for a container this agent did not start itself (recovered or found dead).
    let ours = c.init.as_ref().is_some_and(|i| !i.adopted);
    let aborted = !ours && c.launch_failure.is_none() && c.ckpt.aborted().exists();
    if aborted {
        return Termination {
            status,
            state: TaskState::Failed,
            reason: Some(Reason::ContainerLaunchFailed),
            message: Some(
                "Failed to launch container: the agent restarted during the launch".into(),
            ),
            limited: None,
        };
    }
    if let Some(msg) = &c.launch_failure {
        return Termination {
            status,
            state: TaskState::Failed,
            reason: Some(Reason::ContainerLaunchFailed),
            message: Some(msg.clone()),
            limited: None,
        };
    }
    if let Some(l) = &c.limitation {
        return Termination {
            status,
            state: TaskState::Failed,
            reason: Some(l.reason),
            message: Some(l.message.clone()),
            limited: Some(l.resources.clone()),
        };
    }
    let state = if c.killed {
        TaskState::Killed
    } else if status == Some(0) {
        TaskState::Finished
    } else {
        TaskState::Failed
    };
    Termination {
        status,
        state,
        reason: None,
        message: None,
        limited: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::containerizer::mesos::container::Init;

    fn init(pid: i32, adopted: bool, pidfd: bool) -> Init {
        Init {
            pid,
            pidfd: if pidfd {
                process::pidfd_open(pid).ok()
            } else {
                None
            },
            exit: None,
            adopted,
        }
    }

    #[test]
    fn only_a_verified_group_of_its_own_is_signalled() {
        assert_eq!(own_group(&init(1, false, false)), None);
        assert_eq!(own_group(&init(0, false, false)), None);
        assert_eq!(own_group(&init(-1, false, false)), None);
        // In our session and group: not a group the init made.
        let mut plain = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let pid = i32::try_from(plain.id()).unwrap();
        assert_eq!(own_group(&init(pid, false, true)), None);
        assert_eq!(own_group(&init(pid, true, true)), None);
        let _ = process::kill(pid, libc::SIGKILL);
        let _ = plain.wait();
        // A session leader, as the init is after setsid.
        let mut leader = std::process::Command::new("setsid")
            .args(["sleep", "100"])
            .spawn()
            .unwrap();
        let pid = i32::try_from(leader.id()).unwrap();
        let t0 = Instant::now();
        while process::session_and_group(pid).ok().map(|(sid, _)| sid) != Some(pid)
            && t0.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(own_group(&init(pid, false, false)), Some(pid));
        assert_eq!(own_group(&init(pid, false, true)), Some(pid));
        assert_eq!(own_group(&init(pid, true, true)), Some(pid));
        assert_eq!(
            own_group(&init(pid, true, false)),
            None,
            "an adopted init without a pidfd cannot be confirmed"
        );
        let mut ended = init(pid, false, true);
        ended.exit = Some(0);
        assert_eq!(own_group(&ended), None);
        let _ = process::kill(pid, libc::SIGKILL);
        let _ = leader.wait();
    }
}
