//! The agent's name and, with `--etcd_endpoints`, its fleet member.

use std::net::IpAddr;

use super::{setup, AgentError};
use crate::config::Flags;
use crate::fleet::{Fleet, FleetConfig};
use crate::resources::Resources;
use crate::timer::Timers;

/// `--hostname`, else the host's name; it names the node in etcd keys and in tasks.
pub(super) fn hostname(flags: &Flags) -> Result<String, AgentError> {
    let name = match &flags.hostname {
        Some(h) => h.clone(),
        None => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into()),
    };
    if !crate::fleet::valid_hostname(&name) {
        return Err(AgentError::Fleet(format!(
            "--hostname '{name}' is not a valid node name (letters, digits, '-', '.', '_')"
        )));
    }
    Ok(name)
}

/// Where other nodes and clients reach this agent: `--advertise_ip`, else `--ip` (or the
/// hostname for 0.0.0.0), with `--port`; none without a TCP listener.
fn address(flags: &Flags, hostname: &str) -> Option<String> {
    let port = flags.port?;
    let host = match (flags.advertise_ip, flags.ip) {
        (Some(ip), _) => ip.to_string(),
        (None, ip) if ip.is_unspecified() => hostname.to_string(),
        (None, IpAddr::V6(ip)) => format!("[{ip}]"),
        (None, ip) => ip.to_string(),
    };
    Some(format!("{host}:{port}"))
}

/// The fleet member, when `--etcd_endpoints` is given.
pub(super) fn start(
    flags: &Flags,
    hostname: &str,
    total: &Resources,
    registry: &mio::Registry,
    timers: &mut Timers,
) -> Result<Option<Fleet>, AgentError> {
    let Some(endpoints) = &flags.etcd_endpoints else {
        return Ok(None);
    };
    let dir = flags.work_dir.join("fleet");
    setup::ensure_dir(&dir)?;
    if flags.etcd_lease_ttl.as_secs() < 1 {
        return Err(AgentError::Fleet(
            "--etcd_lease_ttl must be at least 1secs".into(),
        ));
    }
    let cfg = FleetConfig {
        endpoints: endpoints.0.clone(),
        timeout: flags.etcd_timeout,
        prefix: flags.etcd_prefix.clone(),
        lease_ttl: flags.etcd_lease_ttl,
        hostname: hostname.to_string(),
        address: address(flags, hostname),
        attributes: flags.attributes.clone().unwrap_or_default(),
        total: total.clone(),
        outbox: dir.join("outbox.json"),
        lease_file: dir.join("lease"),
        version: env!("CARGO_PKG_VERSION"),
    };
    Fleet::start(cfg, registry, timers)
        .map(Some)
        .map_err(|e| AgentError::Fleet(e.to_string()))
}
