//! The loop's events for the containerizer: container fds, helper processes, isolators' fds
//! and timers, SIGCHLD; each handed to whoever owns it, and the limitations isolators find
//! turned into destroys.

use mio::Registry;

use super::State;
use super::{slot_container, MesosContainerizer, Notice};
use crate::children::{ChildEvent, Owner};
use crate::event::Source;
use crate::isolator::{Limited, LoopParts};
use crate::status::Limitation;
use crate::timer::{TimerKind, Timers};

impl MesosContainerizer {
    /// Dispatches a container fd's readiness.
    pub fn on_event(
        &mut self,
        source: Source,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        match source {
            Source::Init(slot) => self.on_init_ready(slot, registry, timers),
            Source::ExecReport(slot) => self.on_exec_report(slot, registry),
            Source::Child(id) => {
                let events = self.children.on_ready(id, registry);
                self.on_child_events(events, registry, timers)
            }
            Source::Isolator { index, slot, tag } => {
                let limitation = {
                    let Some((_, c)) = slot_container(&self.by_slot, &mut self.containers, slot)
                    else {
                        return Vec::new();
                    };
                    let ctx = super::destroy::container_ctx(c);
                    let mut lp = LoopParts {
                        registry,
                        timers: &mut *timers,
                        children: &mut self.children,
                    };
                    self.isolators.on_ready(index, tag, &ctx, &mut lp)
                };
                match limitation {
                    Some(l) => self.limit(slot, l, false, registry, timers),
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// A timer of ours is due.
    pub fn on_timer(
        &mut self,
        kind: &TimerKind,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        match kind {
            TimerKind::DestroyRetry(slot) => match self.slot_id(*slot) {
                Some(id) => self.try_finish_destroy(&id, registry, timers),
                None => Vec::new(),
            },
            TimerKind::KillEscalate(slot) => match self.slot_id(*slot) {
                Some(id) => self.begin_destroy(&id, registry, timers),
                None => Vec::new(),
            },
            TimerKind::LaunchStep(slot) => self.on_launch_step(*slot, registry, timers),
            TimerKind::ChildDeadline(id) => {
                self.children.on_deadline(*id);
                Vec::new()
            }
            TimerKind::Isolator(index) => {
                let running: Vec<u32> = self
                    .containers
                    .values()
                    .filter(|c| c.state == State::Running)
                    .map(|c| c.slot)
                    .collect();
                let mut lp = LoopParts {
                    registry,
                    timers: &mut *timers,
                    children: &mut self.children,
                };
                let limited = self.isolators.on_timer(*index, &running, &mut lp);
                self.limit_all(limited, registry, timers)
            }
            TimerKind::ConnectionSweep
            | TimerKind::Docker(_)
            | TimerKind::AppsReconcile
            | TimerKind::AppsTick
            | TimerKind::AppsBackoff
            | TimerKind::Etcd(_)
            | TimerKind::Health(_)
            | TimerKind::FleetTick
            | TimerKind::FleetConverge => Vec::new(),
        }
    }

    /// SIGCHLD: helper processes that ended, and inits watched without a pidfd (old kernels).
    pub fn on_sigchld(&mut self, registry: &Registry, timers: &mut Timers) -> Vec<Notice> {
        let events = self.children.on_sigchld();
        let mut notices = self.on_child_events(events, registry, timers);
        let slots: Vec<u32> = self
            .containers
            .values()
            .filter(|c| {
                c.init
                    .as_ref()
                    .is_some_and(|i| i.pidfd.is_none() && i.exit.is_none())
            })
            .map(|c| c.slot)
            .collect();
        for s in slots {
            notices.extend(self.on_init_ready(s, registry, timers));
        }
        notices
    }

    /// Hands what helper processes wrote, and their ends, to their owners.
    fn on_child_events(
        &mut self,
        events: Vec<ChildEvent>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        for event in events {
            let owner = match &event {
                ChildEvent::Lines { owner, .. } | ChildEvent::Finished { owner, .. } => *owner,
            };
            notices.extend(match owner {
                Owner::Fetch(slot) => self.on_fetch_event(slot, event, registry, timers),
                Owner::Pull(slot) => self.on_pull_event(slot, event, registry, timers),
                Owner::Rootfs(slot) => self.on_rootfs_event(slot, event, registry, timers),
                Owner::User(slot) => self.on_user_event(slot, event, timers),
                Owner::Hook(slot) => self.on_hook_event(slot, event, registry, timers),
                Owner::RemoveHook => {
                    super::hooks::on_remove_hook_event(event);
                    Vec::new()
                }
                Owner::Deleter => {
                    self.on_deleter_event(event, registry);
                    Vec::new()
                }
                Owner::CgroupHelper => self.on_cgroup_helper_event(event, registry, timers),
                // The health checker's children are its own runner's, never this one's.
                Owner::Health(_) => Vec::new(),
                Owner::Isolator { index, slot } => {
                    let mut lp = LoopParts {
                        registry,
                        timers: &mut *timers,
                        children: &mut self.children,
                    };
                    let outcome = self.isolators.on_child(index, slot, event, &mut lp);
                    let mut n = self.limit_all(outcome.limited, registry, timers);
                    n.extend(self.on_isolated(index, outcome.isolated, registry, timers));
                    n
                }
            });
        }
        notices
    }

    fn limit_all(
        &mut self,
        limited: Vec<Limited>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        for (slot, l) in limited {
            notices.extend(self.limit(slot, l, true, registry, timers));
        }
        notices
    }

    /// A limit the container hit ends it (the first one found is its reason). A periodic check
    /// (`running_only`) concerns RUNNING containers only; a notification any live one.
    fn limit(
        &mut self,
        slot: u32,
        limitation: Limitation,
        running_only: bool,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        let ignored = c.limitation.is_some()
            || c.state == State::Terminated
            || (running_only && c.state != State::Running);
        if ignored {
            return Vec::new();
        }
        log::warn!("Container {id}: {}", limitation.message);
        c.limitation = Some(limitation);
        self.begin_destroy(&id, registry, timers)
    }
}
