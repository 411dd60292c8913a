//! PROVISIONING: the agent's side of container images. A launch whose container names an image
//! waits here until the image is in the store (pulled by a `mesolite-fetch` child in pull
//! mode, one pull per image however many launches wait for it) and its rootfs is made (bind and
//! overlay are mounts done here; copy runs in a `mesolite-fetch` child in provision mode, since
//! copying trees would block the loop). Nothing here blocks on the network or on big trees.

mod child;
pub mod error;
mod flow;
mod lookup;
pub mod runtime;

use crate::children::ChildId;
use crate::deleter::trash::Trash;
use std::collections::HashMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ContainerId;
use crate::config::ImageProvider;
use crate::provisioner::appc::AppcStore;
use crate::provisioner::backend::{self, BackendKind};
use crate::provisioner::{ImageConfig, Store};
use crate::spec::{Image, LaunchRequest};
use crate::sys::user::User;

/// How the agent provisions images (from `--image_*`, `--docker_*` and `--appc_*`).
#[derive(Debug, Clone)]
pub struct ImageSettings {
    /// `--image_providers`: launches of other kinds of images are refused.
    pub providers: Vec<ImageProvider>,
    /// The `mesolite-fetch` binary.
    pub binary: PathBuf,
    /// `--docker_store_dir`.
    pub store_dir: PathBuf,
    /// `--docker_registry`.
    pub registry: String,
    /// `--docker_config`.
    pub docker_config: Option<PathBuf>,
    /// `--appc_store_dir`.
    pub appc_store_dir: PathBuf,
    /// `--appc_simple_discovery_uri_prefix`.
    pub appc_uri_prefix: String,
    /// `--image_provisioner_backend`, or the default chosen for the store.
    pub backend: BackendKind,
    pub stall_timeout: Duration,
    /// Where pull requests are written for the children's stdin.
    pub requests_dir: PathBuf,
}

/// The store and the pulls in flight.
#[derive(Debug)]
pub struct Images {
    pub settings: ImageSettings,
    pub store: Store,
    /// When `appc` is among the providers.
    pub appc: Option<AppcStore>,
    /// By [`Image::key`]: launches of one image share its pull.
    pulls: HashMap<String, PullRun>,
    next_slot: u32,
    /// Pulls started since the agent started (each serves every waiting launch).
    pub pulls_started: u64,
}

/// One `mesolite-fetch` pull and the launches waiting for it.
#[derive(Debug)]
struct PullRun {
    slot: u32,
    child: ChildId,
    waiters: Vec<ContainerId>,
    done: bool,
    error: Option<String>,
}

impl Images {
    pub fn new(settings: ImageSettings) -> Images {
        let store = Store::new(&settings.store_dir);
        // What killed pulls left half-unpacked.
        if let Err(e) = store.clear_staging() {
            log::warn!("Failed to clear the image store's staging area: {e}");
        }
        let appc = settings
            .providers
            .contains(&ImageProvider::Appc)
            .then(|| AppcStore::new(&settings.appc_store_dir));
        if let Some(Err(e)) = appc.as_ref().map(AppcStore::clear_staging) {
            log::warn!("Failed to clear the AppC store's staging area: {e}");
        }
        Images {
            settings,
            store,
            appc,
            pulls: HashMap::new(),
            next_slot: 1,
            pulls_started: 0,
        }
    }
}

/// The provisioned image of a launch: its rootfs and what docker/runtime or appc/runtime
/// takes from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRun {
    pub rootfs: PathBuf,
    pub config: ImageConfig,
    /// Which runtime isolator applies `config`.
    pub provider: ImageProvider,
}

/// A launch in PROVISIONING: everything it needs to go on.
#[derive(Debug)]
pub struct Pending {
    pub req: LaunchRequest,
    pub user: Option<User>,
    /// The task's stdout and stderr, and the runtime directory, opened by STARTING.
    pub stdio: Option<(OwnedFd, OwnedFd, OwnedFd)>,
    pub image: Image,
    /// Waiting for a pull.
    pulling: bool,
    /// A pull for this launch finished: the store must now have the image.
    pulled: bool,
    /// The copy backend's child, while it copies.
    copy: Option<ChildId>,
    /// The runtime config of the image being made into a rootfs.
    config: Option<ImageConfig>,
    /// Set once the rootfs exists.
    run: Option<ImageRun>,
    /// When PROVISIONING began: the log reports how long making the rootfs took.
    began: std::time::Instant,
}

impl Pending {
    pub fn new(
        req: LaunchRequest,
        user: Option<User>,
        stdio: (OwnedFd, OwnedFd, OwnedFd),
        image: Image,
    ) -> Pending {
        Pending {
            req,
            user,
            stdio: Some(stdio),
            image,
            pulling: false,
            pulled: false,
            copy: None,
            config: None,
            run: None,
            began: std::time::Instant::now(),
        }
    }
}

/// The file naming the image a container's rootfs came from (what `PRUNE_IMAGES` keeps).
fn image_file(work_dir: &Path, id: &str) -> PathBuf {
    backend::container_dir(work_dir, id).join("image")
}

/// The images of every provisioned container still on disk.
pub fn images_in_use(work_dir: &Path) -> Vec<String> {
    let dir = work_dir.join("provisioner").join("containers");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("image")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

/// Removes a container's rootfs (idempotent). Mounts (bind, overlay) are undone here, which is
/// quick (overlay is mounted volatile: no sync); what is left on disk (a copied tree, an overlay
/// upper dir holding whatever the task wrote) is renamed into the trash, for the deleter: its
/// path there is returned.
pub fn remove_rootfs(work_dir: &Path, id: &str, trash: &Trash) -> Option<PathBuf> {
    let dir = backend::container_dir(work_dir, id);
    if !dir.exists() {
        return None;
    }
    if let Err(e) = backend::unmount_all_under(&dir) {
        // Nothing under a mount may be deleted: it stays for the next REMOVE or restart.
        log::warn!("Failed to remove the rootfs of container {id}: {e}");
        return None;
    }
    match trash.take(&dir) {
        Ok(moved) => moved,
        Err(e) => {
            log::warn!("Failed to remove {}: {e}", dir.display());
            None
        }
    }
}

/// The provisioner directories of containers the agent does not know (or knows ended).
pub fn stale_rootfses(work_dir: &Path, live: &[String]) -> Vec<String> {
    let dir = work_dir.join("provisioner").join("containers");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|name| !live.contains(name))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_removal_is_idempotent_and_lists_what_is_in_use() {
        let work = std::env::temp_dir().join(format!("mesolite-prov-{}", std::process::id()));
        let _ = fs::remove_dir_all(&work);
        let rootfs = backend::container_dir(&work, "c1").join("backends/copy/rootfses/r");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::write(image_file(&work, "c1"), "library/busybox:latest\n").unwrap();
        assert_eq!(
            images_in_use(&work),
            vec!["library/busybox:latest".to_string()]
        );
        assert_eq!(stale_rootfses(&work, &[]), vec!["c1".to_string()]);
        assert!(stale_rootfses(&work, &["c1".to_string()]).is_empty());
        let trash = Trash::new(vec![work.join("trash")]);
        let moved = remove_rootfs(&work, "c1", &trash).unwrap();
        assert!(moved.starts_with(work.join("trash")) && moved.join("backends").is_dir());
        assert!(!backend::container_dir(&work, "c1").exists());
        assert!(remove_rootfs(&work, "c1", &trash).is_none());
        assert!(images_in_use(&work).is_empty());
        fs::remove_dir_all(&work).unwrap();
    }
}
