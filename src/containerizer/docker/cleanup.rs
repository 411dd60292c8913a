//! Deletion of removed Docker containers' sandboxes and checkpoints: renamed into the trash in
//! the loop, deleted by a deleter of this containerizer's own (as the Mesos containerizer's),
//! so a REMOVE never waits on an unlink.

use std::path::Path;

use mio::Registry;

use super::DockerContainerizer;
use crate::children::{ChildEvent, Owner};
use crate::containerizer::Notice;
use crate::deleter::What;
use crate::timer::Timers;

impl DockerContainerizer {
    /// Renames `path` into the trash and has the deleter remove it (started on first use).
    pub(super) fn trash_and_delete(&mut self, path: &Path, registry: &Registry) {
        if let Err(e) = self.deleter.start(&mut self.children, registry) {
            log::warn!("Cannot start the deleter: {e}; it is retried at the next removal");
        }
        match self.trash.take(path) {
            Ok(Some(moved)) => {
                self.deleter.submit(What::Tree(moved));
            }
            Ok(None) => {}
            Err(e) => log::warn!("Failed to move {} into the trash: {e}", path.display()),
        }
    }

    /// Hands the deleter what a previous agent left in the trash (a Docker-only agent: else the
    /// Mesos containerizer does, on the same trash directory).
    pub(super) fn empty_trash(&mut self, registry: &Registry) {
        let left = self.trash.leftovers();
        if left.is_empty() {
            return;
        }
        if let Err(e) = self.deleter.start(&mut self.children, registry) {
            log::warn!("Cannot start the deleter: {e}; the trash is emptied at the next removal");
        }
        for path in left {
            log::info!("Deleting {}, left in the trash", path.display());
            self.deleter.submit(What::Tree(path));
        }
    }

    /// What this containerizer's children (the deleter) wrote, or their ends.
    pub(super) fn on_child_events(
        &mut self,
        events: Vec<ChildEvent>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        for event in events {
            let (ChildEvent::Lines { owner, .. } | ChildEvent::Finished { owner, .. }) = &event;
            match *owner {
                Owner::Fetch(slot) => {
                    notices.extend(self.on_fetch_event(slot, event, registry, timers));
                    continue;
                }
                Owner::Hook(slot) => {
                    notices.extend(self.on_hook_event(slot, event, registry, timers));
                    continue;
                }
                Owner::RemoveHook => {
                    crate::containerizer::mesos::on_remove_hook_event(event);
                    continue;
                }
                _ => {}
            }
            if *owner != Owner::Deleter {
                continue;
            }
            for (_, result) in self.deleter.on_event(event, &mut self.children, registry) {
                if let Err(e) = result {
                    log::warn!("Deleter: {e}");
                }
            }
        }
        notices
    }
}
