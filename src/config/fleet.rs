//! Flag types of the fleet: `--etcd_endpoints` and `--attributes`.

use super::spec::FlagValue;
use crate::etcd::Endpoint;
use crate::fleet::attributes::Attributes;

/// `--etcd_endpoints`: the members of one etcd cluster, tried in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdEndpoints(pub Vec<Endpoint>);

impl FlagValue for EtcdEndpoints {
    fn parse_flag(text: &str) -> Result<Self, String> {
        let list = Endpoint::parse_list(text).map_err(|e| e.to_string())?;
        if list.is_empty() {
            return Err("no etcd endpoint given".into());
        }
        Ok(EtcdEndpoints(list))
    }

    fn render_flag(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        parts.join(",")
    }
}

impl FlagValue for Attributes {
    fn parse_flag(text: &str) -> Result<Self, String> {
        Attributes::parse(text).map_err(|e| e.to_string())
    }

    fn render_flag(&self) -> String {
        self.to_text()
    }
}
