//! Flag types of container images: `--image_providers` and `--image_provisioner_backend`.

use super::spec::FlagValue;

/// An image format the agent can provision (Mesos's `--image_providers` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageProvider {
    Docker,
}

/// `--image_providers`: a comma list; `docker` only (APPC is refused by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageProviders(pub Vec<ImageProvider>);

impl FlagValue for ImageProviders {
    fn parse_flag(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let provider = match name.to_ascii_lowercase().as_str() {
                "docker" => ImageProvider::Docker,
                "appc" => return Err("image provider 'appc' is not supported yet".into()),
                _ => return Err(format!("Unknown image provider '{name}'")),
            };
            if !out.contains(&provider) {
                out.push(provider);
            }
        }
        Ok(ImageProviders(out))
    }

    fn render_flag(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                ImageProvider::Docker => "docker",
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `--image_provisioner_backend` (Mesos's names; `aufs` is not built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionerBackend {
    Copy,
    Bind,
    Overlay,
}

impl FlagValue for ProvisionerBackend {
    fn parse_flag(text: &str) -> Result<Self, String> {
        match text {
            "copy" => Ok(ProvisionerBackend::Copy),
            "bind" => Ok(ProvisionerBackend::Bind),
            "overlay" => Ok(ProvisionerBackend::Overlay),
            "aufs" => Err("the aufs backend is not supported; use overlay".into()),
            other => Err(format!(
                "Unknown provisioner backend '{other}': expected copy, bind or overlay"
            )),
        }
    }

    fn render_flag(&self) -> String {
        match self {
            ProvisionerBackend::Copy => "copy",
            ProvisionerBackend::Bind => "bind",
            ProvisionerBackend::Overlay => "overlay",
        }
        .to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn providers_and_backends_parse() {
        assert_eq!(
            ImageProviders::parse_flag("docker, DOCKER").unwrap(),
            ImageProviders(vec![ImageProvider::Docker])
        );
        assert!(ImageProviders::parse_flag("docker,appc")
            .unwrap_err()
            .contains("not supported yet"));
        assert!(ImageProviders::parse_flag("rkt").is_err());
        assert_eq!(
            ProvisionerBackend::parse_flag("overlay").unwrap(),
            ProvisionerBackend::Overlay
        );
        assert!(ProvisionerBackend::parse_flag("aufs").is_err());
        assert_eq!(ProvisionerBackend::Bind.render_flag(), "bind");
    }
}
