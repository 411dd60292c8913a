//! Flag types of container images: `--image_providers` and `--image_provisioner_backend`.

use super::spec::FlagValue;

/// An image format the agent can provision (Mesos's `--image_providers` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageProvider {
    Docker,
    Appc,
}

impl ImageProvider {
    /// The isolator that applies an image's own config (command, env, working dir).
    pub fn runtime_isolator(self) -> &'static str {
        match self {
            ImageProvider::Docker => "docker/runtime",
            ImageProvider::Appc => "appc/runtime",
        }
    }
}

/// `--image_providers`: a comma list of `docker` and `appc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageProviders(pub Vec<ImageProvider>);

impl FlagValue for ImageProviders {
    fn parse_flag(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let provider = match name.to_ascii_lowercase().as_str() {
                "docker" => ImageProvider::Docker,
                "appc" => ImageProvider::Appc,
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
                ImageProvider::Appc => "appc",
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `--appc_simple_discovery_uri_prefix`: `http://`, `https://`, `file://` or an absolute path
/// (checked as Mesos's appc fetcher does when it is created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppcDiscoveryPrefix(pub String);

impl FlagValue for AppcDiscoveryPrefix {
    fn parse_flag(text: &str) -> Result<Self, String> {
        crate::provisioner::appc::spec::check_prefix(text).map_err(|e| e.to_string())?;
        Ok(AppcDiscoveryPrefix(text.to_string()))
    }

    fn render_flag(&self) -> String {
        self.0.clone()
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
        let both = ImageProviders::parse_flag("docker,APPC").unwrap();
        assert_eq!(both.0, [ImageProvider::Docker, ImageProvider::Appc]);
        assert_eq!(both.render_flag(), "docker,appc");
        assert!(ImageProviders::parse_flag("rkt").is_err());
        assert_eq!(
            ProvisionerBackend::parse_flag("overlay").unwrap(),
            ProvisionerBackend::Overlay
        );
        assert!(ProvisionerBackend::parse_flag("aufs").is_err());
        for ok in ["http://", "https://h:1/x/", "/srv/aci/", "file:///srv/"] {
            assert_eq!(
                AppcDiscoveryPrefix::parse_flag(ok).unwrap().render_flag(),
                ok
            );
        }
        for bad in ["ftp://h/", "srv/", "hdfs://h/"] {
            assert!(AppcDiscoveryPrefix::parse_flag(bad).is_err(), "{bad}");
        }
        assert_eq!(ProvisionerBackend::Bind.render_flag(), "bind");
    }
}
