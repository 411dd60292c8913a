//! FETCHING for Docker containers: `command.uris` go into the sandbox (mounted at
//! `--sandbox_directory` in the container) by the same `mesolite-fetch` child the Mesos
//! containerizer runs, before the image is looked at. The fetcher cache index belongs to the
//! Mesos containerizer, so here every URI bypasses the cache (`cache: true` is downloaded
//! straight into the sandbox).

use mio::Registry;

use super::hooks::Point;
use super::{checkpoint, DockerContainerizer};
use crate::children::{ChildEvent, ChildId, Owner, Program};
use crate::containerizer::{fetch_command, Notice, RequestParts, State};
use crate::fetcher::protocol::{Action, FetchItem, FetchOutcome, Mode, Uri};
use crate::spec::ContainerId;
use crate::timer::Timers;

/// A container's fetch child, and the first error it reported.
#[derive(Debug)]
pub(super) struct Fetch {
    pub slot: u32,
    pub child: ChildId,
    pub uris: usize,
    pub done: usize,
    pub error: Option<String>,
}

impl DockerContainerizer {
    /// Starts the fetcher of `uris` into the container's sandbox; the container is FETCHING.
    pub(super) fn start_fetch(
        &mut self,
        id: &ContainerId,
        uris: Vec<Uri>,
        registry: &Registry,
    ) -> Result<(), String> {
        let Some(c) = self.containers.get(id) else {
            return Err("the container vanished".into());
        };
        let dir = checkpoint::dir(&self.settings.work_dir, id.as_str());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cache_directory = self.settings.fetch.cache_dir.join("root");
        let parts = RequestParts {
            sandbox: &c.sandbox,
            cache_directory: &cache_directory,
            user: None,
            request_file: &dir.join("fetch.json"),
        };
        let n = uris.len();
        let items = uris
            .into_iter()
            .map(|uri| FetchItem {
                uri,
                action: Action::BypassCache,
                cache_filename: None,
            })
            .collect();
        let command = fetch_command(&self.settings.fetch, Mode::Fetch, items, &parts)
            .map_err(|e| format!("Failed to prepare the fetcher: {e}"))?;
        self.next_slot = self.next_slot.wrapping_add(1);
        let slot = self.next_slot;
        let child = self
            .children
            .spawn(Owner::Fetch(slot), Program::Exec(command), registry)
            .map_err(|e| format!("Failed to start the fetcher: {e}"))?;
        self.slots.insert(slot, id.clone());
        if let Some(c) = self.containers.get_mut(id) {
            c.state = State::Fetching;
            c.fetch = Some(Fetch {
                slot,
                child,
                uris: n,
                done: 0,
                error: None,
            });
        }
        log::info!("Container {id}: fetching {n} URIs into its sandbox");
        Ok(())
    }

    /// The fetcher of slot `slot` wrote, or ended: on a complete fetch the image comes next.
    pub(super) fn on_fetch_event(
        &mut self,
        slot: u32,
        event: ChildEvent,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(id) = self.slots.get(&slot).cloned() else {
            return Vec::new();
        };
        let Some(f) = self.containers.get_mut(&id).and_then(|c| c.fetch.as_mut()) else {
            return Vec::new();
        };
        let (lines, eof) = event.into_lines();
        for line in lines {
            match serde_json::from_str::<FetchOutcome>(&line) {
                Ok(o) if o.ok => f.done += 1,
                Ok(o) => {
                    if f.error.is_none() {
                        f.error = Some(o.error.unwrap_or_else(|| "fetching failed".into()));
                    }
                }
                Err(e) => log::warn!("Container {id}: unreadable fetcher line {line:?}: {e}"),
            }
        }
        if !eof {
            return Vec::new();
        }
        self.slots.remove(&slot);
        let Some(f) = self.containers.get_mut(&id).and_then(|c| c.fetch.take()) else {
            return Vec::new();
        };
        if f.error.is_none() && f.done == f.uris {
            log::info!("Container {id}: {} URIs fetched", f.done);
            if let Some(c) = self.containers.get_mut(&id) {
                c.state = State::Pulling;
            }
            return match self.begin_hook(&id, Point::Postfetch, None, registry, timers) {
                Ok(true) => Vec::new(),
                Ok(false) => self.obtain_image(&id, registry, timers),
                Err(msg) => self.fail(&id, msg, registry, timers),
            };
        }
        let why = f
            .error
            .unwrap_or_else(|| "the fetcher ended before every URI was fetched".into());
        let msg = format!(
            "Failed to launch container: Failed to fetch all URIs for container '{id}': {why}"
        );
        self.fail(&id, msg, registry, timers)
    }

    /// A destroyed or failed launch's fetcher is killed at once.
    pub(super) fn abort_fetch(&mut self, id: &ContainerId, registry: &Registry) {
        if let Some(f) = self.containers.get_mut(id).and_then(|c| c.fetch.take()) {
            self.slots.remove(&f.slot);
            self.children.kill(f.child, registry);
        }
    }
}
