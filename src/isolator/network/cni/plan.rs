//! What a launch's networks are (the configurations as the directory has them now) and the
//! container's /etc files once they are attached.

use std::fs;
use std::path::Path;

use super::state::Net;
use super::{config, files, invoke, Attached, NetworkCni};
use crate::isolator::IsolatorError;
use crate::spec::NetworkInfo;

impl NetworkCni {
    /// The networks `container` names, with their configurations as the directory has them now.
    pub(super) fn plan_networks(
        &self,
        requests: &[&NetworkInfo],
    ) -> Result<Vec<Net>, IsolatorError> {
        let Some(dirs) = &self.dirs else {
            return Err(IsolatorError::Request(
                "the container names a network, but no --network_cni_config_dir is set".into(),
            ));
        };
        let configs = config::load_all(dirs).map_err(IsolatorError::Config)?;
        let mut nets = Vec::new();
        for (i, req) in requests.iter().enumerate() {
            let name = req.name.as_deref().unwrap_or("");
            let config = configs.iter().find(|c| c.name == name).ok_or_else(|| {
                IsolatorError::Request(format!(
                    "unknown CNI network '{name}' (no usable configuration in {})",
                    dirs.config_dir.display()
                ))
            })?;
            if nets.iter().any(|n: &Net| n.name() == name) {
                return Err(IsolatorError::Request(format!(
                    "network '{name}' is named twice in 'network_infos'"
                )));
            }
            invoke::check_labels(req).map_err(IsolatorError::Request)?;
            nets.push(Net {
                request: (*req).clone(),
                ifname: format!("eth{i}"),
                config: config.clone(),
                result: None,
                added: false,
            });
        }
        Ok(nets)
    }

    /// Writes the container's /etc files once its networks are attached.
    pub(super) fn write_files(&self, att: &Attached) -> std::io::Result<()> {
        let ips: Vec<std::net::IpAddr> = att
            .nets
            .iter()
            .filter_map(|n| n.result.as_ref())
            .flat_map(invoke::result_ips)
            .map(|(_, ip)| ip)
            .collect();
        let results = att.nets.iter().filter_map(|n| n.result.as_ref());
        let resolv = files::resolv_conf(
            results,
            self.default_dns.as_deref(),
            Path::new("/etc/resolv.conf"),
        );
        fs::write(att.dir.join("hostname"), format!("{}\n", att.hostname))?;
        fs::write(att.dir.join("hosts"), files::hosts(&att.hostname, &ips))?;
        fs::write(att.dir.join("resolv.conf"), resolv)
    }
}
