//! A container's networks and their checkpoint, laid out as Mesos does under
//! `<runtime_dir>/isolators/network/cni/<container_id>/`: `ns` (the bind mount of its network
//! namespace), `<network>/network.conf` (the configuration the ADD used, so that DEL works
//! after the file is gone) and `<network>/<ifname>/network.info` (the result). mesolite adds
//! `<network>/<ifname>/request.json`, the NetworkInfo asked for (for the status and the DEL's
//! args after a restart).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::{self, NetworkConfig};
use crate::spec::NetworkInfo;

/// One network of a container.
#[derive(Debug, Clone)]
pub struct Net {
    pub request: NetworkInfo,
    pub ifname: String,
    pub config: NetworkConfig,
    /// The chain's result so far (the last plugin's), then the whole ADD's.
    pub result: Option<Value>,
    /// An ADD was started: a DEL is due.
    pub added: bool,
}

impl Net {
    pub fn name(&self) -> &str {
        &self.config.name
    }
}

pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

pub fn netns_path(dir: &Path) -> PathBuf {
    dir.join("ns")
}

fn write_atomic(path: &Path, body: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, body)?;
    fs::rename(&tmp, path)
}

/// Checkpoints the configuration and request of `net` (before its ADD).
pub fn write_config(dir: &Path, net: &Net) -> io::Result<()> {
    let ifdir = dir.join(net.name()).join(&net.ifname);
    fs::create_dir_all(&ifdir)?;
    let conf = serde_json::to_vec(&net.config.list).unwrap_or_default();
    write_atomic(&dir.join(net.name()).join("network.conf"), &conf)?;
    let req = serde_json::to_vec(&net.request.to_json()).unwrap_or_default();
    write_atomic(&ifdir.join("request.json"), &req)
}

/// Checkpoints the result of `net`'s ADD.
pub fn write_result(dir: &Path, net: &Net) -> io::Result<()> {
    let Some(result) = &net.result else {
        return Ok(());
    };
    let body = serde_json::to_vec(result).unwrap_or_default();
    write_atomic(
        &dir.join(net.name()).join(&net.ifname).join("network.info"),
        &body,
    )
}

fn read_json(path: &Path) -> Option<Value> {
    let bytes = crate::sys::bounded::read_file(path, 1 << 20).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The networks checkpointed in `dir`, by interface order (eth0, eth1, ...).
pub fn load(dir: &Path) -> Vec<Net> {
    let mut nets = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return nets;
    };
    for entry in rd.flatten() {
        let netdir = entry.path();
        if !netdir.is_dir() {
            continue;
        }
        let text = match fs::read_to_string(netdir.join("network.conf")) {
            Ok(t) => t,
            Err(_) => continue,
        };
        let config = match config::parse(&text) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("network/cni: {}: {e}", netdir.display());
                continue;
            }
        };
        let Ok(ifs) = fs::read_dir(&netdir) else {
            continue;
        };
        for ifdir in ifs.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            let ifname = ifdir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let request = read_json(&ifdir.join("request.json"))
                .and_then(|v| crate::spec::parse_network_infos(&Value::Array(vec![v])).ok())
                .and_then(|mut l| l.pop())
                .unwrap_or_else(|| NetworkInfo {
                    name: Some(config.name.clone()),
                    ..NetworkInfo::default()
                });
            nets.push(Net {
                request,
                ifname,
                config: config.clone(),
                result: read_json(&ifdir.join("network.info")),
                added: true,
            });
        }
    }
    nets.sort_by_key(|n| if_order(&n.ifname));
    nets
}

fn if_order(ifname: &str) -> (u32, String) {
    let n = ifname
        .strip_prefix("eth")
        .and_then(|d| d.parse().ok())
        .unwrap_or(u32::MAX);
    (n, ifname.to_string())
}

/// The IDs of the containers with a checkpoint under `root`.
pub fn checkpointed_ids(root: &Path) -> Vec<String> {
    match fs::read_dir(root) {
        Ok(rd) => rd
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}
