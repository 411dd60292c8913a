//! What a container may ask for that only an isolator can provide. Each isolator declares the
//! features it serves; a container that needs one no enabled isolator serves is refused rather
//! than run without it.

use crate::config::ImageProvider;
use crate::spec::{ContainerInfo, Seccomp, VolumeSource};

/// A request feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// The legacy `host_path` volume field.
    LegacyVolume,
    /// A HOST_PATH volume source.
    HostPathVolume,
    /// A SANDBOX_PATH volume source.
    SandboxPathVolume,
    /// A container image as the root filesystem.
    Image,
    /// `rlimit_info`.
    Rlimits,
    /// `linux_info`'s effective or bounding capabilities.
    Capabilities,
    /// A named seccomp profile.
    SeccompProfile,
    /// A Docker image's own config (command, environment, working directory, user).
    DockerRuntime,
    /// An AppC image's own config.
    AppcRuntime,
    /// `network_infos`: a network of the container's own.
    Network,
}

impl Feature {
    /// The isolator a user enables to get this feature (named when a container is refused).
    pub fn isolator(self) -> &'static str {
        match self {
            Feature::LegacyVolume => "filesystem/shared",
            Feature::HostPathVolume => "volume/host_path",
            Feature::SandboxPathVolume => "volume/sandbox_path",
            Feature::Image => "filesystem/linux",
            Feature::Rlimits => "posix/rlimits",
            Feature::Capabilities => "linux/capabilities",
            Feature::SeccompProfile => "linux/seccomp",
            Feature::DockerRuntime => "docker/runtime",
            Feature::AppcRuntime => "appc/runtime",
            Feature::Network => "network/cni",
        }
    }

    /// The runtime feature of an image of `provider`'s kind.
    pub fn runtime_of(provider: ImageProvider) -> Feature {
        match provider {
            ImageProvider::Docker => Feature::DockerRuntime,
            ImageProvider::Appc => Feature::AppcRuntime,
        }
    }

    /// What `container` needs that must be served, each with how a refusal names it. The
    /// runtime features are not among them: an image runs without its config applied when its
    /// runtime isolator is off, as in Mesos.
    pub fn needed_by(container: &ContainerInfo) -> Vec<(Feature, String)> {
        let mut needs = Vec::new();
        for v in &container.volumes {
            let (feature, what) = match v.source {
                VolumeSource::Legacy(_) => (Feature::LegacyVolume, "a 'host_path' volume"),
                VolumeSource::HostPath(_) => (Feature::HostPathVolume, "a HOST_PATH volume"),
                VolumeSource::SandboxPath(_) => {
                    (Feature::SandboxPathVolume, "a SANDBOX_PATH volume")
                }
            };
            needs.push((feature, format!("{what} ({})", v.container_path.display())));
        }
        if container.image.is_some() {
            needs.push((Feature::Image, "a container image".into()));
        }
        if !container.rlimits.is_empty() {
            needs.push((Feature::Rlimits, "'rlimit_info'".into()));
        }
        let linux = &container.linux;
        if linux.effective_capabilities.is_some() || linux.bounding_capabilities.is_some() {
            needs.push((Feature::Capabilities, "capabilities".into()));
        }
        if matches!(linux.seccomp, Some(Seccomp::Profile(_))) {
            needs.push((Feature::SeccompProfile, "a seccomp profile".into()));
        }
        // A nameless NetworkInfo is the host's network, which every container has.
        let joins = |n: &crate::spec::NetworkInfo| n.name.is_some() || !n.port_mappings.is_empty();
        if container.network_infos.iter().any(joins) {
            needs.push((Feature::Network, "'network_infos'".into()));
        }
        needs
    }
}
