//! The FETCHING step of a launch, driven by the loop: probe the sizes of uncached URIs, wait
//! for other launches' downloads of the same URIs, run the fetch, then release the container's
//! init (RUNNING) or fail the launch.

use std::os::fd::AsRawFd;

use mio::Registry;

use super::child::{self, RequestParts};
use super::plan::{FetchRun, Phase, Planned};
use crate::children::ChildStart;
use crate::children::{ChildEvent, Owner, Program};
use crate::containerizer::mesos::error::{FetchError, LaunchError};
use crate::containerizer::mesos::{slot_container, MesosContainerizer};
use crate::containerizer::Notice;
use crate::containerizer::State;
use crate::fetcher::protocol::{Action, FetchItem, FetchOutcome, Mode, ProbeOutcome, Uri};
use crate::spec::ContainerId;
use crate::timer::Timers;

impl MesosContainerizer {
    /// Enters FETCHING: the init waits on its release pipe until every URI is in the sandbox.
    pub(in crate::containerizer::mesos) fn start_fetch(
        &mut self,
        id: &ContainerId,
        uris: Vec<Uri>,
        user: Option<String>,
        registry: &Registry,
    ) -> Result<(), LaunchError> {
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| LaunchError::Vanished(id.clone()))?;
        c.fetch = Some(FetchRun::new(uris, user, c.sandbox.clone()));
        c.state = State::Fetching;
        Ok(self.advance_fetch(id, registry)?)
    }

    /// Moves a run on: probe sizes, wait for others' downloads, or fetch.
    fn advance_fetch(&mut self, id: &ContainerId, registry: &Registry) -> Result<(), FetchError> {
        let Some(c) = self.containers.get_mut(id) else {
            return Ok(());
        };
        let slot = c.slot;
        let request_file = c.ckpt.runtime.join("fetch.json");
        let Some(run) = c.fetch.as_mut() else {
            return Ok(());
        };
        run.plan(&mut self.fetcher);
        let probe = run.needs_probe();
        let (mode, indexes, phase) = if !probe.is_empty() {
            (Mode::Probe, probe, Phase::Probing)
        } else if run.waiting() {
            run.phase = Phase::Waiting;
            return Ok(());
        } else {
            (Mode::Fetch, (0..run.uris.len()).collect(), Phase::Fetching)
        };
        let all = run.items();
        let items: Vec<FetchItem> = match mode {
            Mode::Probe => indexes
                .iter()
                .map(|i| FetchItem {
                    uri: run.uris[*i].clone(),
                    action: Action::BypassCache,
                    cache_filename: None,
                })
                .collect(),
            Mode::Fetch => all,
        };
        let cache_directory = self.fetcher.user_cache_dir(run.user.as_deref());
        let parts = RequestParts {
            sandbox: &run.sandbox,
            cache_directory: &cache_directory,
            user: run.user.as_deref(),
            request_file: &request_file,
        };
        let command = child::command(&self.fetcher.settings, mode, items, &parts)
            .map_err(|e| FetchError::Start(ChildStart::Request(e)))?;
        let child = self
            .children
            .spawn(Owner::Fetch(slot), Program::Exec(command), registry)
            .map_err(|e| FetchError::Start(ChildStart::Spawn(e)))?;
        run.child = Some((child, mode));
        run.child_items = indexes;
        run.phase = phase;
        Ok(())
    }

    /// The fetcher of a container wrote, or ended.
    pub(in crate::containerizer::mesos) fn on_fetch_event(
        &mut self,
        slot: u32,
        event: ChildEvent,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        let Some(run) = c.fetch.as_mut() else {
            return Vec::new();
        };
        let Some((_, mode)) = run.child else {
            return Vec::new();
        };
        let (lines, eof) = event.into_lines();
        let mut woke = false;
        for line in lines {
            match mode {
                Mode::Probe => match serde_json::from_str::<ProbeOutcome>(&line) {
                    Ok(p) => {
                        if let Some(&i) = run.child_items.get(p.index) {
                            run.plans[i] = Planned::Sized(p.size);
                        }
                    }
                    Err(e) => log::warn!("Container {id}: unreadable fetcher line {line:?}: {e}"),
                },
                Mode::Fetch => match serde_json::from_str::<FetchOutcome>(&line) {
                    Ok(o) => woke |= record_outcome(run, &mut self.fetcher, &o),
                    Err(e) => log::warn!("Container {id}: unreadable fetcher line {line:?}: {e}"),
                },
            }
        }
        if !eof {
            if woke {
                return self.wake_waiting(registry, timers);
            }
            return Vec::new();
        }
        run.child = None;
        let mut notices = match mode {
            Mode::Probe => match self.advance_fetch(&id, registry) {
                Ok(()) => Vec::new(),
                Err(e) => self.fetch_failed(&id, &e, registry, timers),
            },
            Mode::Fetch => self.finish_fetch(&id, registry, timers),
        };
        if woke {
            notices.extend(self.wake_waiting(registry, timers));
        }
        notices
    }

    /// The fetch child is done: release the container, or fail its launch.
    fn finish_fetch(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        let Some(mut run) = c.fetch.take() else {
            return Vec::new();
        };
        let complete = run.done.iter().all(|d| *d);
        let woke = run.release(&mut self.fetcher);
        let mut notices = Vec::new();
        if complete && run.error.is_none() {
            self.fetcher.metrics.succeeded += 1;
            notices.extend(match self.begin_postfetch(id, registry, timers) {
                Ok(true) => Vec::new(),
                Ok(false) => self.release_fetched(id, registry, timers),
                Err(e) => self.step_failed(id, e, registry, timers),
            });
        } else {
            let why = match run.error.take() {
                Some(msg) => FetchError::Uri(msg),
                None => FetchError::Incomplete,
            };
            notices.extend(self.fetch_failed(id, &why, registry, timers));
        }
        if woke {
            notices.extend(self.wake_waiting(registry, timers));
        }
        notices
    }

    /// The URIs are in the sandbox (and the `postfetch` hook, if any, content): the task goes.
    pub(in crate::containerizer::mesos) fn release_fetched(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        let released = match c.release.take() {
            Some(fd) => {
                crate::sys::fd::write_all(fd.as_raw_fd(), b"1").map_err(FetchError::Release)
            }
            None => Err(FetchError::InitGone),
        };
        match released {
            Ok(()) => {
                c.state = State::Running;
                c.released = true;
                Vec::new()
            }
            Err(e) => self.fetch_failed(id, &e, registry, timers),
        }
    }

    fn fetch_failed(
        &mut self,
        id: &ContainerId,
        why: &FetchError,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        self.fetcher.metrics.failed += 1;
        self.metrics.launch_failures += 1;
        let msg = format!(
            "Failed to launch container: Failed to fetch all URIs for container '{id}': {why}"
        );
        log::warn!("{msg}");
        let mut notices = vec![Notice::LaunchFailed(id.clone(), msg.clone())];
        notices.extend(self.fail_launch(id, &msg, registry, timers));
        notices
    }

    /// Runs waiting on downloads that just ended go on.
    fn wake_waiting(&mut self, registry: &Registry, timers: &mut Timers) -> Vec<Notice> {
        let waiting: Vec<ContainerId> = self
            .containers
            .values()
            .filter(|c| c.fetch.as_ref().is_some_and(|r| r.phase == Phase::Waiting))
            .map(|c| c.id.clone())
            .collect();
        let mut notices = Vec::new();
        for id in waiting {
            if let Err(e) = self.advance_fetch(&id, registry) {
                notices.extend(self.fetch_failed(&id, &e, registry, timers));
            }
        }
        notices
    }

    /// DESTROYING during FETCHING: the fetcher is killed at once and its references dropped.
    pub(in crate::containerizer::mesos) fn abort_fetch(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        c.release = None;
        let Some(mut run) = c.fetch.take() else {
            return Vec::new();
        };
        if let Some((child, _)) = run.child.take() {
            self.children.kill(child, registry);
        }
        if run.release(&mut self.fetcher) {
            return self.wake_waiting(registry, timers);
        }
        Vec::new()
    }
}

/// Books one item's result; true if it ended a cache download (others may be waiting on it).
fn record_outcome(run: &mut FetchRun, fetcher: &mut super::Fetcher, o: &FetchOutcome) -> bool {
    let Some(i) = run.uris.get(o.index).map(|_| o.index) else {
        return false;
    };
    let mut ended = false;
    if let Planned::Download { ticket, .. } = &run.plans[i] {
        let result = if o.ok { o.size.ok_or(()) } else { Err(()) };
        for stale in fetcher.cache.download_finished(ticket, result) {
            fetcher.delete(&stale);
        }
        ended = true;
    }
    if o.ok {
        run.done[i] = true;
    } else {
        if o.cache_file_missing {
            fetcher
                .cache
                .missing_file(run.user.as_deref(), &run.uris[i].value);
        }
        if run.error.is_none() {
            run.error = Some(
                o.error
                    .clone()
                    .unwrap_or_else(|| format!("fetching '{}' failed", run.uris[i].value)),
            );
        }
    }
    ended
}
