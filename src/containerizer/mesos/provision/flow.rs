//! The PROVISIONING step, driven by the loop: look the image up, join or start its pull, make
//! the rootfs, then go on with the launch (PREPARING) or fail it.

use mio::Registry;

use super::error::ProvisionError;
use super::{child, image_file, lookup, ImageRun, Images, PullRun};
use crate::children::ChildStart;
use crate::children::{ChildEvent, Children, Owner, Program};
use crate::containerizer::mesos::error::LaunchError;
use crate::containerizer::mesos::{slot_container, MesosContainerizer};
use crate::containerizer::Notice;
use crate::provisioner::appc::AppcStore;
use crate::provisioner::backend::{self, BackendKind, RootfsPaths};
use crate::provisioner::protocol::{ProvisionEvent, ProvisionRequest, PullEvent};
use crate::spec::ContainerId;
use crate::timer::Timers;

/// What to do next for a launch in PROVISIONING.
enum Step {
    Wait,
    Go(Box<super::Pending>),
}

impl MesosContainerizer {
    /// Turns container images on (`--image_providers`).
    pub fn enable_images(&mut self, settings: super::ImageSettings) {
        log::info!(
            "Container images: store {}, registry {}, backend {}",
            settings.store_dir.display(),
            settings.registry,
            settings.backend
        );
        if settings
            .providers
            .contains(&crate::config::ImageProvider::Appc)
        {
            log::info!(
                "AppC images: store {}, simple discovery {}",
                settings.appc_store_dir.display(),
                settings.appc_uri_prefix
            );
        }
        self.images = Some(Images::new(settings));
    }

    /// Pulls started since the agent started (None: images are off).
    pub fn image_pulls(&self) -> Option<u64> {
        self.images.as_ref().map(|i| i.pulls_started)
    }

    /// Moves a launch in PROVISIONING on as far as it can go without waiting.
    pub(in crate::containerizer::mesos) fn advance_provisioning(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), LaunchError> {
        match self.provision_step(id, registry)? {
            Step::Wait => Ok(()),
            Step::Go(mut p) => {
                let stdio = p
                    .stdio
                    .take()
                    .ok_or_else(|| ProvisionError::LostStdio(id.clone()))?;
                let staged = crate::containerizer::mesos::launch::Staged {
                    stdio,
                    image: p.run.take(),
                };
                let p = *p;
                self.continue_launch(id, p.req, p.user, staged, timers)
            }
        }
    }

    fn provision_step(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
    ) -> Result<Step, LaunchError> {
        let images = self.images.as_mut().ok_or(ProvisionError::ImagesOff)?;
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| LaunchError::Vanished(id.clone()))?;
        let slot = c.slot;
        let p = c
            .provisioning
            .as_mut()
            .ok_or_else(|| ProvisionError::NotProvisioning(id.clone()))?;
        loop {
            if p.run.is_some() {
                // What the benchmark reads: a warm image's whole provisioning step.
                log::info!(
                    "Container {id}: rootfs ready ({}) {:.3} ms after PROVISIONING began{}",
                    images.settings.backend.name(),
                    p.began.elapsed().as_secs_f64() * 1e3,
                    if p.pulled {
                        ", image pulled meanwhile"
                    } else {
                        ""
                    }
                );
                return match c.provisioning.take() {
                    Some(p) => Ok(Step::Go(p)),
                    None => Err(ProvisionError::NotProvisioning(id.clone()).into()),
                };
            }
            if p.copy.is_some() || p.pulling {
                return Ok(Step::Wait);
            }
            let backend = images.settings.backend;
            let found = match lookup::lookup(images, &p.image, p.pulled)? {
                Some(found) => found,
                None if p.pulled => {
                    return Err(ProvisionError::Incomplete {
                        image: p.image.key(),
                    }
                    .into())
                }
                None => {
                    p.pulling = true;
                    join_or_start_pull(images, &mut self.children, &p.image, id, registry)?;
                    return Ok(Step::Wait);
                }
            };
            let work_dir = &self.settings.work_dir;
            let paths = RootfsPaths::new(work_dir, id.as_str(), backend, &rootfs_id(slot));
            let image_path = image_file(work_dir, id.as_str());
            if let Some(dir) = image_path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| ProvisionError::ImageFile {
                    what: "create",
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(&image_path, format!("{}\n", found.in_use)).map_err(|source| {
                ProvisionError::ImageFile {
                    what: "write",
                    path: image_path.clone(),
                    source,
                }
            })?;
            if backend == BackendKind::Copy {
                let request = ProvisionRequest {
                    mode: "provision".into(),
                    backend,
                    layers: found.layers,
                    rootfs: paths.rootfs.clone(),
                    scratch: paths.scratch.clone(),
                };
                let file = images
                    .settings
                    .requests_dir
                    .join(format!("rootfs-{slot}.json"));
                let command = child::command(&images.settings.binary, &request, &file)
                    .map_err(|e| ProvisionError::CopyStart(ChildStart::Request(e)))?;
                let copy = self
                    .children
                    .spawn(Owner::Rootfs(slot), Program::Exec(command), registry)
                    .map_err(|e| ProvisionError::CopyStart(ChildStart::Spawn(e)))?;
                p.copy = Some(copy);
                p.config = Some(found.config);
                return Ok(Step::Wait);
            }
            backend::provision(backend, &found.layers, &paths).map_err(ProvisionError::Backend)?;
            p.run = Some(ImageRun {
                rootfs: paths.rootfs,
                config: found.config,
                provider: lookup::kind(&p.image),
            });
        }
    }

    /// An image pull wrote, or ended: on its end every launch waiting for it goes on or fails.
    pub(in crate::containerizer::mesos) fn on_pull_event(
        &mut self,
        pull_slot: u32,
        event: ChildEvent,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some(images) = self.images.as_mut() else {
            return Vec::new();
        };
        let Some(key) = images
            .pulls
            .iter()
            .find(|(_, r)| r.slot == pull_slot)
            .map(|(k, _)| k.clone())
        else {
            return Vec::new();
        };
        let Some(run) = images.pulls.get_mut(&key) else {
            return Vec::new();
        };
        let (lines, eof) = event.into_lines();
        for line in lines {
            match serde_json::from_str::<PullEvent>(&line) {
                Ok(PullEvent::Done { complete }) => run.done = complete,
                Ok(PullEvent::Failed { error }) => run.error = Some(error),
                Ok(PullEvent::Layer { digest, size }) => {
                    log::info!("Pull of {key}: layer {digest} ({size} bytes) stored")
                }
                Ok(PullEvent::Fetched { name, id, size }) => {
                    log::info!("Pull of {key}: image {name} ({size} bytes) stored as {id}")
                }
                Ok(PullEvent::Resolved {
                    layers, missing, ..
                }) => log::info!(
                    "Pull of {key}: {} layers, {} to download",
                    layers.len(),
                    missing.len()
                ),
                Err(e) => log::warn!("Pull of {key}: unreadable line {line:?}: {e}"),
            }
        }
        if !eof {
            return Vec::new();
        }
        let Some(run) = images.pulls.remove(&key) else {
            return Vec::new();
        };
        let outcome = match (&run.error, run.done) {
            (Some(e), _) => Err(e.clone()),
            (None, true) => Ok(()),
            (None, false) => Err("the puller ended without finishing".to_string()),
        };
        log::info!("Pull of {key} ended: {outcome:?}");
        // The fetcher stored AppC images (dependencies too, even of a failed pull).
        if let Some(Err(e)) = images.appc.as_mut().map(AppcStore::refresh) {
            log::warn!("AppC store: failed to index what the pull of {key} stored: {e}");
        }
        let mut notices = Vec::new();
        for waiter in run.waiters {
            let went_on = match &outcome {
                Ok(()) => {
                    if let Some(p) = self
                        .containers
                        .get_mut(&waiter)
                        .and_then(|c| c.provisioning.as_mut())
                    {
                        p.pulling = false;
                        p.pulled = true;
                    }
                    self.advance_provisioning(&waiter, registry, timers)
                }
                Err(e) => Err(ProvisionError::Pull {
                    image: key.clone(),
                    error: e.clone(),
                }
                .into()),
            };
            if let Err(why) = went_on {
                notices.extend(self.provisioning_failed(&waiter, &why, registry, timers));
            }
        }
        notices
    }

    /// A container's rootfs copy wrote, or ended.
    pub(in crate::containerizer::mesos) fn on_rootfs_event(
        &mut self,
        slot: u32,
        event: ChildEvent,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        let Some(p) = c.provisioning.as_mut() else {
            return Vec::new();
        };
        if p.copy.is_none() {
            return Vec::new();
        }
        let (lines, eof) = event.into_lines();
        let mut result = None;
        for line in lines {
            result = Some(match serde_json::from_str::<ProvisionEvent>(&line) {
                Ok(ProvisionEvent::Provisioned { rootfs }) => Ok(rootfs),
                Ok(ProvisionEvent::Failed { error }) => Err(ProvisionError::Copy(error)),
                Err(source) => Err(ProvisionError::CopyOutput { line, source }),
            });
        }
        if !eof && result.is_none() {
            return Vec::new();
        }
        if let Some(copy) = p.copy.take() {
            // It said how it went: it ends on its own, unheard.
            self.children.detach(copy, registry);
        }
        let went_on = match result {
            Some(Ok(rootfs)) => {
                let config = p.config.take().unwrap_or_default();
                p.run = Some(ImageRun {
                    rootfs,
                    config,
                    provider: lookup::kind(&p.image),
                });
                self.advance_provisioning(&id, registry, timers)
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(ProvisionError::CopySilent.into()),
        };
        match went_on {
            Ok(()) => Vec::new(),
            Err(why) => self.provisioning_failed(&id, &why, registry, timers),
        }
    }

    /// The launch fails after its ID was taken: 400, REASON_CONTAINER_LAUNCH_FAILED, sandbox kept.
    fn provisioning_failed(
        &mut self,
        id: &ContainerId,
        why: &LaunchError,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        // Dropped first, so that the destroy does not report the launch a second time.
        if let Some(c) = self.containers.get_mut(id) {
            c.provisioning = None;
        }
        self.metrics.launch_failures += 1;
        let msg = format!("Failed to launch container: {why}");
        log::warn!("Container {id}: {msg}");
        let mut notices = vec![Notice::LaunchFailed(id.clone(), msg.clone())];
        notices.extend(self.fail_launch(id, &msg, registry, timers));
        notices
    }

    /// DESTROYING during PROVISIONING: the rootfs copy is killed, and the pull too when no
    /// other launch waits for it; the pending LAUNCH is answered.
    pub(in crate::containerizer::mesos) fn abort_provisioning(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
    ) -> Vec<Notice> {
        let Some(c) = self.containers.get_mut(id) else {
            return Vec::new();
        };
        let Some(mut p) = c.provisioning.take() else {
            return Vec::new();
        };
        if let Some(copy) = p.copy.take() {
            self.children.kill(copy, registry);
        }
        if let Some(images) = self.images.as_mut() {
            for run in images.pulls.values_mut() {
                run.waiters.retain(|w| w != id);
            }
            let idle: Vec<String> = images
                .pulls
                .iter()
                .filter(|(_, r)| r.waiters.is_empty())
                .map(|(k, _)| k.clone())
                .collect();
            for key in idle {
                if let Some(run) = images.pulls.remove(&key) {
                    log::info!("Pull of {key} killed: no launch waits for it any more");
                    self.children.kill(run.child, registry);
                }
            }
        }
        let msg =
            "Failed to launch container: the container was destroyed while provisioning its image";
        match self.containers.get_mut(id) {
            // A launch failing on its own already says why, and is answered by its caller.
            Some(c) if c.launch_failure.is_some() => Vec::new(),
            Some(c) => {
                if !c.killed {
                    c.launch_failure = Some(msg.to_string());
                }
                vec![Notice::LaunchFailed(id.clone(), msg.to_string())]
            }
            None => Vec::new(),
        }
    }
}

/// Adds `id` to the pull of `image`, starting it if none runs.
fn join_or_start_pull(
    images: &mut Images,
    children: &mut Children,
    image: &crate::spec::Image,
    id: &ContainerId,
    registry: &Registry,
) -> Result<(), ProvisionError> {
    let key = image.key();
    if let Some(run) = images.pulls.get_mut(&key) {
        run.waiters.push(id.clone());
        return Ok(());
    }
    let slot = images.next_slot;
    images.next_slot = images.next_slot.wrapping_add(1).max(1);
    let request = lookup::pull_request(&images.settings, image);
    let file = images
        .settings
        .requests_dir
        .join(format!("pull-{slot}.json"));
    let command = child::command(&images.settings.binary, &request, &file)
        .map_err(|e| ProvisionError::PullerStart(ChildStart::Request(e)))?;
    let child = children
        .spawn(Owner::Pull(slot), Program::Exec(command), registry)
        .map_err(|e| ProvisionError::PullerStart(ChildStart::Spawn(e)))?;
    log::info!("Pulling image {key} ({child})");
    images.pulls_started += 1;
    images.pulls.insert(
        key,
        PullRun {
            slot,
            child,
            waiters: vec![id.clone()],
            done: false,
            error: None,
        },
    );
    Ok(())
}

/// A rootfs id unique among the container's rootfses (Mesos uses a UUID).
fn rootfs_id(slot: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{slot}")
}

impl MesosContainerizer {
    /// After recovery: rootfses of containers that are gone or ended are removed (a crash
    /// between a container's end and its cleanup leaves them).
    pub fn remove_stale_rootfses(&mut self) {
        let live: Vec<String> = self
            .containers
            .values()
            .filter(|c| c.state != crate::containerizer::State::Terminated)
            .map(|c| c.id.to_string())
            .collect();
        for id in super::stale_rootfses(&self.settings.work_dir, &live) {
            log::info!("Removing the rootfs of container {id}: it is not running");
            if let Some(moved) = super::remove_rootfs(&self.settings.work_dir, &id, &self.trash) {
                self.deleter.submit(crate::deleter::What::Tree(moved));
            }
        }
    }

    /// PRUNE_IMAGES: forgets images no container uses and removes their layers (AppC images
    /// too). Returns how many layers (AppC images count as one) were removed.
    pub fn prune_images(&mut self) -> Result<usize, ProvisionError> {
        let images = self.images.as_mut().ok_or(ProvisionError::ImagesOff)?;
        if !images.pulls.is_empty() {
            return Err(ProvisionError::PullsInProgress);
        }
        let keep = super::images_in_use(&self.settings.work_dir);
        // The stores only rename what goes; the trees are deleted by the deleter, so the loop
        // never walks them.
        let (removed, trash) = images.store.prune(&keep).map_err(ProvisionError::Prune)?;
        let (appc_removed, appc_trash) = match &mut images.appc {
            Some(store) => {
                let (ids, trash) = store.prune(&keep).map_err(ProvisionError::PruneAppc)?;
                (ids.len(), trash)
            }
            None => (0, None),
        };
        // Under staging/, which the next start clears if the deleter could not.
        for dir in trash.into_iter().chain(appc_trash) {
            self.deleter.submit(crate::deleter::What::Tree(dir));
        }
        log::info!(
            "PRUNE_IMAGES: kept {} images in use, removed {} layers and {appc_removed} AppC images",
            keep.len(),
            removed.len()
        );
        Ok(removed.len() + appc_removed)
    }
}
