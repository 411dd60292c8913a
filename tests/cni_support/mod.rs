//! Network configurations and plugin directories for the network/cni tests: each test gets its
//! own config dir, plugins dir (symlinks to Debian's /usr/lib/cni plus the test's fake plugins),
//! host-local data dir, bridge names and subnets, all removed on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

pub const SYSTEM_PLUGINS: &str = "/usr/lib/cni";

/// A test's CNI setup.
pub struct Cni {
    pub dir: PathBuf,
    pub conf_dir: PathBuf,
    pub plugins_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Distinguishes this test's bridges and subnets from every other test's.
    pub index: u32,
    bridges: Vec<String>,
}

/// Whether the plugins are installed; prints a SKIP line if not.
pub fn plugins_or_skip(test: &str) -> bool {
    let ok = Path::new(SYSTEM_PLUGINS).join("bridge").exists();
    if !ok {
        eprintln!("SKIP: {test}: containernetworking-plugins is not installed ({SYSTEM_PLUGINS})");
    }
    ok
}

/// Whether the kernel has IPv6 on.
pub fn ipv6_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

impl Cni {
    pub fn new(test: &str, index: u32) -> Cni {
        let dir = std::env::temp_dir().join(format!("mltest-cni-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (conf_dir, plugins_dir, data_dir) =
            (dir.join("conf"), dir.join("plugins"), dir.join("ipam"));
        for d in [&conf_dir, &plugins_dir, &data_dir] {
            std::fs::create_dir_all(d).unwrap();
        }
        for e in std::fs::read_dir(SYSTEM_PLUGINS).unwrap().flatten() {
            std::os::unix::fs::symlink(e.path(), plugins_dir.join(e.file_name())).unwrap();
        }
        Cni {
            dir,
            conf_dir,
            plugins_dir,
            data_dir,
            index,
            bridges: Vec::new(),
        }
    }

    /// The agent flags for this setup.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--isolation=cgroups/cpu,cgroups/mem,namespaces/pid,network/cni".into(),
            format!("--network_cni_config_dir={}", self.conf_dir.display()),
            format!("--network_cni_plugins_dir={}", self.plugins_dir.display()),
        ]
    }

    /// A unique bridge name (at most 15 bytes) for network `n` of this test.
    pub fn bridge_name(&self, n: u32) -> String {
        format!("mlc{}{}x{n}", std::process::id() % 10000, self.index)
    }

    /// The IPv4 /24 of network `n` of this test, as "10.a.b" (append ".0/24" or a host).
    pub fn prefix(&self, n: u32) -> String {
        format!(
            "10.{}.{}",
            150 + std::process::id() % 100,
            self.index * 8 + n
        )
    }

    /// An IPv6 /64 of network `n` of this test, as "fd00:a:b:c::" .
    pub fn prefix6(&self, n: u32) -> String {
        format!(
            "fd00:4d4c:{:x}:{:x}::",
            std::process::id() % 65536,
            self.index * 8 + n
        )
    }

    /// A bridge + host-local network `name` (n-th of the test), with `more` plugins chained
    /// after the bridge; written as `<name>.conflist`.
    pub fn bridge_network(&mut self, name: &str, n: u32, ipv6: bool, more: Vec<Value>) -> PathBuf {
        let bridge = self.bridge_name(n);
        self.bridges.push(bridge.clone());
        let mut ranges = vec![json!([{"subnet": format!("{}.0/24", self.prefix(n))}])];
        if ipv6 {
            ranges.push(json!([{"subnet": format!("{}/64", self.prefix6(n))}]));
        }
        let mut plugins = vec![json!({
            "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
            "ipam": {"type": "host-local", "ranges": ranges,
                     "dataDir": self.data_dir.join(name)}
        })];
        plugins.extend(more);
        let conf = json!({"cniVersion": "1.0.0", "name": name, "plugins": plugins});
        self.write_config(&format!("{name}.conflist"), &conf)
    }

    /// A bridge network whose range holds one address (`<prefix>.2`): a second container gets
    /// it only once the first released it.
    pub fn single_address_network(&mut self, name: &str, n: u32, more: Vec<Value>) -> PathBuf {
        let path = self.bridge_network(name, n, false, more);
        let mut conf: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let host = format!("{}.2", self.prefix(n));
        conf["plugins"][0]["ipam"]["ranges"][0][0]["rangeStart"] = json!(host);
        conf["plugins"][0]["ipam"]["ranges"][0][0]["rangeEnd"] = json!(host);
        self.write_config(&format!("{name}.conflist"), &conf)
    }

    pub fn write_config(&self, file: &str, conf: &Value) -> PathBuf {
        let path = self.conf_dir.join(file);
        std::fs::write(&path, serde_json::to_vec_pretty(conf).unwrap()).unwrap();
        path
    }

    /// A fake plugin `name`: a shell script.
    pub fn fake_plugin(&self, name: &str, body: &str) {
        let path = self.plugins_dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The IP leases host-local holds for network `name`.
    pub fn leases(&self, name: &str) -> Vec<String> {
        // host-local keeps them in <dataDir>/<network name>/<ip>.
        match std::fs::read_dir(self.data_dir.join(name).join(name)) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Cni {
    fn drop(&mut self) {
        for b in &self.bridges {
            let _ = Command::new("ip").args(["link", "del", b]).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The interfaces enslaved to `bridge` (the veths of its containers).
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|s| s.trim().to_string()))
        .collect()
}

/// The iptables nat rules that mention `text`.
pub fn nat_rules_with(text: &str) -> Vec<String> {
    let out = Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(text))
        .map(str::to_string)
        .collect()
}

/// The network/cni checkpoint root of an agent's runtime directory.
pub fn cni_root(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("isolators/network/cni")
}

/// Unmounts the shared bind mount the isolator makes of its root (for the agent's teardown).
pub fn unmount_root(runtime_dir: &Path) {
    let root = cni_root(runtime_dir);
    let _ = Command::new("umount").arg("-l").arg(&root).output();
}
