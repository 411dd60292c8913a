//! The CNI network configurations in `--network_cni_config_dir`, read afresh on each attach
//! (networks come and go without a restart): every regular file is a `.conflist` (a `plugins`
//! array) or a single-plugin `.conf`, which is made a list of one, as libcni does. A name seen
//! twice keeps its first file (in file name order); a network whose plugin (or IPAM plugin) is
//! not in `--network_cni_plugins_dir` is skipped, as Mesos does.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Where the configurations and plugins are.
#[derive(Debug, Clone)]
pub struct CniDirs {
    pub config_dir: PathBuf,
    pub plugins_dir: PathBuf,
}

/// One network: its name and its configuration as a list (`cniVersion`, `name`, `plugins`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    pub name: String,
    pub list: Value,
}

impl NetworkConfig {
    /// The plugins of the chain, in order.
    pub fn plugins(&self) -> &[Value] {
        self.list
            .get("plugins")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// Makes a network configuration list of one file's JSON, or says why it is not one.
pub fn parse(text: &str) -> Result<NetworkConfig, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("no 'name'")?
        .to_string();
    let list = if v.get("plugins").is_some() {
        let plugins = v
            .get("plugins")
            .and_then(Value::as_array)
            .ok_or("'plugins' is not an array")?;
        if plugins.is_empty() {
            return Err("'plugins' is empty".into());
        }
        v.clone()
    } else {
        json!({
            "cniVersion": v.get("cniVersion").cloned().unwrap_or(json!("0.4.0")),
            "name": name,
            "plugins": [v.clone()],
        })
    };
    let config = NetworkConfig { name, list };
    for p in config.plugins() {
        if p.get("type").and_then(Value::as_str).is_none() {
            return Err("a plugin without 'type'".into());
        }
    }
    Ok(config)
}

/// The plugin executables a configuration needs: each plugin's `type` and `ipam.type`.
fn needed_plugins(config: &NetworkConfig) -> Vec<&str> {
    let mut out = Vec::new();
    for p in config.plugins() {
        out.extend(p.get("type").and_then(Value::as_str));
        out.extend(p.pointer("/ipam/type").and_then(Value::as_str));
    }
    out
}

/// The executable `name` in the plugins directory, if there is one.
pub fn plugin_path(plugins_dir: &Path, name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let path = plugins_dir.join(name);
    path.is_file().then_some(path)
}

/// Reads every configuration in the directory; a file that is not one is logged and skipped.
pub fn load_all(dirs: &CniDirs) -> Result<Vec<NetworkConfig>, String> {
    let rd = fs::read_dir(&dirs.config_dir)
        .map_err(|e| format!("cannot read {}: {e}", dirs.config_dir.display()))?;
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut out: Vec<NetworkConfig> = Vec::new();
    for path in files {
        let text = match crate::sys::bounded::read_file(&path, 1 << 20) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                log::warn!("network/cni: skipping {}: {e}", path.display());
                continue;
            }
        };
        let config = match parse(&text) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("network/cni: skipping {}: {e}", path.display());
                continue;
            }
        };
        if out.iter().any(|c| c.name == config.name) {
            log::warn!(
                "network/cni: skipping {}: network '{}' is defined by an earlier file",
                path.display(),
                config.name
            );
            continue;
        }
        if let Some(missing) = needed_plugins(&config)
            .into_iter()
            .find(|p| plugin_path(&dirs.plugins_dir, p).is_none())
        {
            log::warn!(
                "network/cni: skipping network '{}' ({}): plugin '{missing}' is not in {}",
                config.name,
                path.display(),
                dirs.plugins_dir.display()
            );
            continue;
        }
        out.push(config);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_conf_becomes_a_list_of_one_and_a_conflist_stays() {
        let c = parse(r#"{"cniVersion": "1.0.0", "name": "n1", "type": "bridge"}"#).unwrap();
        assert_eq!(c.name, "n1");
        assert_eq!(c.list["cniVersion"], "1.0.0");
        assert_eq!(c.plugins().len(), 1);
        assert_eq!(c.plugins()[0]["type"], "bridge");
        let l = parse(
            r#"{"cniVersion": "0.4.0", "name": "n2",
                "plugins": [{"type": "bridge", "ipam": {"type": "host-local"}}, {"type": "portmap"}]}"#,
        )
        .unwrap();
        assert_eq!(l.plugins().len(), 2);
        assert_eq!(needed_plugins(&l), ["bridge", "host-local", "portmap"]);
        assert!(parse("{}").is_err());
        assert!(parse(r#"{"name": "x", "plugins": []}"#).is_err());
        assert!(parse(r#"{"name": "x", "plugins": [{"ipam": {}}]}"#).is_err());
        assert!(parse("nope").is_err());
    }

    #[test]
    fn duplicates_and_missing_plugins_are_skipped() {
        let dir = std::env::temp_dir().join(format!("cni-config-test-{}", std::process::id()));
        let (conf, plugins) = (dir.join("conf"), dir.join("plugins"));
        fs::create_dir_all(&conf).unwrap();
        fs::create_dir_all(&plugins).unwrap();
        fs::write(plugins.join("bridge"), "").unwrap();
        fs::write(conf.join("a.conf"), r#"{"name": "n", "type": "bridge"}"#).unwrap();
        fs::write(conf.join("b.conf"), r#"{"name": "n", "type": "other"}"#).unwrap();
        fs::write(conf.join("c.conf"), r#"{"name": "m", "type": "missing"}"#).unwrap();
        fs::write(conf.join("d.conf"), "garbage").unwrap();
        let all = load_all(&CniDirs {
            config_dir: conf,
            plugins_dir: plugins,
        })
        .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].plugins()[0]["type"], "bridge");
        fs::remove_dir_all(&dir).unwrap();
    }
}
