//! One plugin invocation, as libcni makes it: the plugin's own config with the network's
//! `name` and `cniVersion`, `prevResult` (the previous plugin's result on ADD, the cached
//! result on DEL), and `runtimeConfig` holding each capability the plugin declares that the
//! request fills (`portMappings`, `ips`, `bandwidth`). Mesos's `args.org.apache.mesos` carries
//! the NetworkInfo, and `args.cni.ips` the static addresses (host-local reads them there).
//! The plugin answers on stdout: a result, or an error `{"code", "msg", "details"}`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Map, Value};

use crate::spec::{IpProtocol, NetworkInfo};

/// ADD or DEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Add,
    Del,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Del => "DEL",
        }
    }
}

/// What the runtime gives every plugin of a network's chain.
#[derive(Debug)]
pub struct Runtime<'a> {
    pub container_id: &'a str,
    pub netns: &'a Path,
    pub ifname: &'a str,
    pub plugins_dir: &'a Path,
    pub request: &'a NetworkInfo,
}

/// The labels that name the bandwidth plugin's rates (bits per second, bursts in bits).
const BANDWIDTH_LABELS: &[(&str, &str)] = &[
    ("bandwidth.ingressRate", "ingressRate"),
    ("bandwidth.ingressBurst", "ingressBurst"),
    ("bandwidth.egressRate", "egressRate"),
    ("bandwidth.egressBurst", "egressBurst"),
];

/// The values of the capabilities this request fills.
fn capability_args(request: &NetworkInfo) -> Map<String, Value> {
    let mut caps = Map::new();
    if !request.port_mappings.is_empty() {
        let pm: Vec<Value> = request
            .port_mappings
            .iter()
            .map(|p| {
                json!({"hostPort": p.host_port, "containerPort": p.container_port,
                       "protocol": p.protocol.name()})
            })
            .collect();
        caps.insert("portMappings".into(), Value::Array(pm));
    }
    let ips = static_ips(request);
    if !ips.is_empty() {
        caps.insert("ips".into(), json!(ips));
    }
    let mut bw = Map::new();
    for (label, field) in BANDWIDTH_LABELS {
        if let Some((_, v)) = request.labels.iter().find(|(k, _)| k == label) {
            if let Ok(n) = v.parse::<u64>() {
                bw.insert((*field).into(), json!(n));
            }
        }
    }
    if !bw.is_empty() {
        caps.insert("bandwidth".into(), Value::Object(bw));
    }
    caps
}

/// The static addresses asked for.
fn static_ips(request: &NetworkInfo) -> Vec<String> {
    request
        .ip_addresses
        .iter()
        .filter_map(|ip| ip.address.map(|a| a.to_string()))
        .collect()
}

/// The request names a bandwidth label that is not a number.
pub fn check_labels(request: &NetworkInfo) -> Result<(), String> {
    for (label, _) in BANDWIDTH_LABELS {
        if let Some((_, v)) = request.labels.iter().find(|(k, _)| k == label) {
            if v.parse::<u64>().is_err() {
                return Err(format!("label '{label}' must be a number, not '{v}'"));
            }
        }
    }
    Ok(())
}

/// The stdin of one plugin of the chain `list`.
pub fn plugin_config(
    list: &Value,
    plugin: &Value,
    prev_result: Option<&Value>,
    rt: &Runtime<'_>,
) -> Value {
    let mut conf = plugin.as_object().cloned().unwrap_or_default();
    conf.insert(
        "name".into(),
        list.get("name").cloned().unwrap_or(Value::Null),
    );
    conf.insert(
        "cniVersion".into(),
        list.get("cniVersion").cloned().unwrap_or(json!("0.4.0")),
    );
    if let Some(prev) = prev_result {
        conf.insert("prevResult".into(), prev.clone());
    }
    let caps = capability_args(rt.request);
    let mut runtime_config = Map::new();
    if let Some(declared) = plugin.get("capabilities").and_then(Value::as_object) {
        for (cap, on) in declared {
            if on.as_bool() == Some(true) {
                if let Some(v) = caps.get(cap) {
                    runtime_config.insert(cap.clone(), v.clone());
                }
            }
        }
    }
    if !runtime_config.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(runtime_config));
    }
    let args = conf
        .entry("args")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(args) = args.as_object_mut() {
        args.insert(
            "org.apache.mesos".into(),
            json!({"network_info": rt.request.to_json()}),
        );
        let ips = static_ips(rt.request);
        if !ips.is_empty() {
            args.insert("cni".into(), json!({ "ips": ips }));
        }
    }
    Value::Object(conf)
}

/// The plugin as a child: its stdin a file (the loop writes no pipe), stderr kept in a file,
/// in a process group of its own (what it starts dies with it at its timeout).
pub fn command(plugin: &Path, verb: Verb, rt: &Runtime<'_>, stdin: File, stderr: File) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(plugin);
    cmd.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("CNI_COMMAND", verb.name())
        .env("CNI_CONTAINERID", rt.container_id)
        .env("CNI_NETNS", rt.netns)
        .env("CNI_IFNAME", rt.ifname)
        .env("CNI_PATH", rt.plugins_dir)
        .stdin(Stdio::from(stdin))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    cmd
}

/// What a plugin's run came to.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// A result (ADD), or nothing (DEL).
    Result(Option<Value>),
    Failed(String),
}

/// Judges a plugin's end from its wait status and stdout (`stderr`: the tail of its stderr).
pub fn judge(verb: Verb, status: i32, stdout: &str, stderr: &str) -> Answer {
    let parsed: Option<Value> = serde_json::from_str(stdout.trim()).ok();
    let (code, _) = crate::sys::process::decode_status(status);
    if code != Some(0) {
        if let Some(e) = parsed.as_ref().and_then(error_message) {
            return Answer::Failed(e);
        }
        let tail = stderr.trim();
        let out = stdout.trim();
        let said = if !tail.is_empty() {
            tail
        } else if !out.is_empty() {
            out
        } else {
            "(no output)"
        };
        return Answer::Failed(format!("it exited with wait status {status}: {said}"));
    }
    match (verb, parsed) {
        (Verb::Del, _) => Answer::Result(None),
        (Verb::Add, Some(v)) if v.is_object() => match error_message(&v) {
            Some(e) => Answer::Failed(e),
            None => Answer::Result(Some(v)),
        },
        (Verb::Add, _) => Answer::Failed(format!(
            "its result is not a JSON object: {:?}",
            stdout.chars().take(200).collect::<String>()
        )),
    }
}

/// The message of a CNI error result.
fn error_message(v: &Value) -> Option<String> {
    let msg = v.get("msg").and_then(Value::as_str)?;
    let mut text = msg.to_string();
    if let Some(d) = v
        .get("details")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        text.push_str(": ");
        text.push_str(d);
    }
    if let Some(c) = v.get("code").and_then(Value::as_u64) {
        text.push_str(&format!(" (CNI error code {c})"));
    }
    Some(text)
}

/// The addresses a result gives (prefix lengths dropped), as Mesos reports them.
pub fn result_ips(result: &Value) -> Vec<(IpProtocol, std::net::IpAddr)> {
    let mut out = Vec::new();
    let mut push = |cidr: &str| {
        let addr = cidr.split('/').next().unwrap_or("");
        if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
            let proto = if ip.is_ipv4() {
                IpProtocol::V4
            } else {
                IpProtocol::V6
            };
            out.push((proto, ip));
        }
    };
    if let Some(ips) = result.get("ips").and_then(Value::as_array) {
        for ip in ips {
            if let Some(a) = ip.get("address").and_then(Value::as_str) {
                push(a);
            }
        }
    }
    // CNI 0.2.0 and older.
    for key in ["/ip4/ip", "/ip6/ip"] {
        if let Some(a) = result.pointer(key).and_then(Value::as_str) {
            push(a);
        }
    }
    out
}

/// The host-side interfaces a result lists (those without a `sandbox`), e.g. the veth's peer
/// and the bandwidth plugin's ifb.
pub fn host_interfaces(result: &Value) -> Vec<String> {
    result
        .get("interfaces")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter(|i| {
                    i.get("sandbox")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                })
                .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Files for one invocation's stdin and stderr, under the container's checkpoint directory.
pub fn io_paths(dir: &Path, network: &str, index: usize, verb: Verb) -> (PathBuf, PathBuf) {
    let base = dir.join(network);
    let v = verb.name().to_ascii_lowercase();
    (
        base.join(format!("{v}-{index}.stdin")),
        base.join(format!("{v}-{index}.stderr")),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spec::{IpRequest, PortMapping, PortProtocol};

    fn request() -> NetworkInfo {
        NetworkInfo {
            name: Some("n".into()),
            ip_addresses: vec![IpRequest {
                protocol: IpProtocol::V4,
                address: Some("10.1.2.3".parse().unwrap()),
            }],
            groups: vec![],
            labels: vec![("bandwidth.egressRate".into(), "1000000".into())],
            port_mappings: vec![PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: PortProtocol::Tcp,
            }],
        }
    }

    #[test]
    fn runtime_config_has_only_declared_capabilities() {
        let list = json!({"cniVersion": "1.0.0", "name": "n", "plugins": []});
        let req = request();
        let rt = Runtime {
            container_id: "c",
            netns: Path::new("/ns"),
            ifname: "eth0",
            plugins_dir: Path::new("/p"),
            request: &req,
        };
        let plugin =
            json!({"type": "portmap", "capabilities": {"portMappings": true, "ips": false}});
        let prev = json!({"ips": []});
        let c = plugin_config(&list, &plugin, Some(&prev), &rt);
        assert_eq!(c["name"], "n");
        assert_eq!(c["cniVersion"], "1.0.0");
        assert_eq!(c["prevResult"], prev);
        assert_eq!(c["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert!(c["runtimeConfig"].get("ips").is_none());
        assert_eq!(c["args"]["cni"]["ips"][0], "10.1.2.3");
        assert_eq!(c["args"]["org.apache.mesos"]["network_info"]["name"], "n");
        let bw = json!({"type": "bandwidth", "capabilities": {"bandwidth": true}});
        let c = plugin_config(&list, &bw, None, &rt);
        assert_eq!(c["runtimeConfig"]["bandwidth"]["egressRate"], 1_000_000);
        assert!(c.get("prevResult").is_none());
    }

    #[test]
    fn errors_results_and_garbage_are_told_apart() {
        let err = r#"{"code": 7, "msg": "no IP left", "details": "range full"}"#;
        assert_eq!(
            judge(Verb::Add, 256, err, ""),
            Answer::Failed("no IP left: range full (CNI error code 7)".into())
        );
        assert!(
            matches!(judge(Verb::Add, 0, "garbage", ""), Answer::Failed(m) if m.contains("not a JSON"))
        );
        assert!(
            matches!(judge(Verb::Add, 256, "", "boom"), Answer::Failed(m) if m.contains("boom"))
        );
        let ok = r#"{"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.5/24"}, {"address": "fd00::5/64"}],
                     "interfaces": [{"name": "veth1"}, {"name": "eth0", "sandbox": "/ns"}]}"#;
        let Answer::Result(Some(v)) = judge(Verb::Add, 0, ok, "") else {
            panic!("a result")
        };
        let ips = result_ips(&v);
        assert_eq!(ips[0], (IpProtocol::V4, "10.0.0.5".parse().unwrap()));
        assert_eq!(ips[1].0, IpProtocol::V6);
        assert_eq!(host_interfaces(&v), ["veth1"]);
        assert_eq!(judge(Verb::Del, 0, "", ""), Answer::Result(None));
    }
}
