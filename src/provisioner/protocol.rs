//! The pull mode of `mesolite-fetch`: the agent writes ONE [`PullRequest`] on its stdin (the
//! same channel as a fetch request; `"mode":"pull"` tells them apart) and reads [`PullEvent`]
//! JSON lines from its stdout; its human log goes to stderr. Exit code 0 iff the last line is
//! `done`.
//!
//! ```text
//! {"event":"resolved","reference":"library/busybox:latest","manifest_digest":"sha256:..",
//!  "layers":["sha256:..",..],"missing":["sha256:.."],"config":{"Cmd":[..],"Env":[..]}}
//! {"event":"layer","digest":"sha256:..","size":1234}        one per layer stored by this run
//! {"event":"done","complete":true}                          image record written
//! {"event":"failed","error":"..."}                          instead of done; nothing half-stored
//! ```
//!
//! `{"mode":"appc",...}` ([`AppcPullRequest`]) fetches an AppC image and its dependencies
//! into the AppC store: one `fetched` line per ACI stored, then `done` or `failed` as above.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::provisioner::appc::{AppcImage, ImageId};
use crate::provisioner::digest::Digest;
use crate::provisioner::manifest::ImageConfig;
use crate::provisioner::whiteout::WhiteoutFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullMode {
    Pull,
}

/// What the agent asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub mode: PullMode,
    /// The image name as the task gave it (`[host[:port]/]repo[:tag|@digest]`).
    pub image: String,
    /// `--docker_registry`: `http(s)://host[:port]` or a local directory of `docker save`
    /// tarballs (`<name>:<tag>.tar`) and OCI layouts (`<name>:<tag>/`). A host in `image` wins.
    pub docker_registry: String,
    /// `--docker_store_dir`.
    pub store_dir: PathBuf,
    /// How the layers are stored: `overlay` for the overlay backend, `aufs` otherwise.
    pub whiteout_format: WhiteoutFormat,
    /// `--docker_config`: a docker `config.json` with `auths`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_config: Option<PathBuf>,
    /// A transfer slower than 1 byte/s for this long is aborted.
    pub stall_timeout_secs: f64,
    /// Stop after the `resolved` line (the agent learns the layers, then asks for some).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolve_only: bool,
    /// Download only these layers (others are being pulled by another run, which the agent
    /// waits for); absent = every layer missing from the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<Digest>>,
}

/// `{"mode":"appc",...}`: an AppC image and its dependencies into `--appc_store_dir`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppcPullRequest {
    /// Always `"appc"`.
    pub mode: String,
    pub image: AppcImage,
    /// `--appc_store_dir`.
    pub store_dir: PathBuf,
    /// `--appc_simple_discovery_uri_prefix`.
    pub uri_prefix: String,
    /// False: fetch every image of the tree even when stored (Mesos's `cached`).
    pub cached: bool,
    /// A transfer slower than 1 byte/s for this long is aborted.
    pub stall_timeout_secs: f64,
}

/// One stdout line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PullEvent {
    /// The manifest is read: what the image is made of, before any layer is downloaded.
    Resolved {
        /// The canonical reference, the key of the image record.
        reference: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manifest_digest: Option<Digest>,
        /// Bottom layer first.
        layers: Vec<Digest>,
        /// Layers not in the store when the pull started.
        missing: Vec<Digest>,
        config: ImageConfig,
    },
    /// A layer was downloaded, verified, unpacked and moved into the store.
    Layer { digest: Digest, size: u64 },
    /// Finished. `complete`: every layer is in the store and the image record is written
    /// (false when `layers` left some to another run).
    Done { complete: bool },
    /// An AppC image (`name` as discovered) was fetched, verified and stored as `id`.
    Fetched {
        name: String,
        id: ImageId,
        size: u64,
    },
    /// The pull failed; nothing partial was stored.
    Failed { error: String },
}

/// `{"mode":"provision",...}`: build one container rootfs from stored layers (the copy
/// backend copies whole trees, which the agent's loop must never do itself). One stdout line
/// answers: [`ProvisionEvent`]. Exit code 0 iff it is `provisioned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionRequest {
    /// Always `"provision"`.
    pub mode: String,
    pub backend: crate::provisioner::BackendKind,
    /// Layer trees, bottom first, in the backend's whiteout format.
    pub layers: Vec<PathBuf>,
    pub rootfs: PathBuf,
    pub scratch: PathBuf,
}

/// The answer to a [`ProvisionRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ProvisionEvent {
    Provisioned { rootfs: PathBuf },
    Failed { error: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_the_documented_json() {
        let d = Digest::of_bytes(b"");
        let line = serde_json::to_string(&PullEvent::Layer {
            digest: d.clone(),
            size: 3,
        })
        .unwrap();
        assert_eq!(
            line,
            format!(r#"{{"event":"layer","digest":"{d}","size":3}}"#)
        );
        let done = serde_json::to_string(&PullEvent::Done { complete: true }).unwrap();
        assert_eq!(done, r#"{"event":"done","complete":true}"#);
        let request: PullRequest = serde_json::from_str(
            r#"{"mode":"pull","image":"busybox","docker_registry":"/r","store_dir":"/s",
            "whiteout_format":"overlay","stall_timeout_secs":60}"#,
        )
        .unwrap();
        assert_eq!(request.whiteout_format, WhiteoutFormat::Overlay);
        assert!(!request.resolve_only && request.layers.is_none());
        assert!(serde_json::from_str::<PullRequest>(r#"{"mode":"fetch"}"#).is_err());
        let done = serde_json::to_string(&ProvisionEvent::Provisioned {
            rootfs: "/r".into(),
        })
        .unwrap();
        assert_eq!(done, r#"{"event":"provisioned","rootfs":"/r"}"#);
        let request: ProvisionRequest = serde_json::from_str(
            r#"{"mode":"provision","backend":"copy","layers":["/l1"],"rootfs":"/r","scratch":"/s"}"#,
        )
        .unwrap();
        assert_eq!(request.backend, crate::provisioner::BackendKind::Copy);
        let request: AppcPullRequest = serde_json::from_str(
            r#"{"mode":"appc","image":{"name":"example.com/a","labels":[{"name":"version",
            "value":"1"}]},"store_dir":"/s","uri_prefix":"http://","cached":true,
            "stall_timeout_secs":60}"#,
        )
        .unwrap();
        assert_eq!(request.image.label("version"), Some("1"));
        let id = ImageId::of_bytes(b"");
        let line = serde_json::to_string(&PullEvent::Fetched {
            name: "a".into(),
            id: id.clone(),
            size: 1,
        })
        .unwrap();
        assert_eq!(
            line,
            format!(r#"{{"event":"fetched","name":"a","id":"{id}","size":1}}"#)
        );
    }
}
