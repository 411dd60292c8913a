//! `container.network_infos` (Mesos's NetworkInfo): the networks a container joins, with the
//! addresses it asks for (a protocol alone: the IPAM picks one), its groups, labels and port
//! mappings. Parsed and checked here; the network isolator acts on it.

use std::net::IpAddr;

use serde_json::Value;

/// IPv4 or IPv6 (`ip_addresses[].protocol`, IPv4 when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpProtocol {
    V4,
    V6,
}

/// One requested address: a protocol, and optionally the address itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRequest {
    pub protocol: IpProtocol,
    pub address: Option<IpAddr>,
}

/// TCP or UDP (`port_mappings[].protocol`, tcp when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortProtocol {
    Tcp,
    Udp,
}

impl PortProtocol {
    pub fn name(self) -> &'static str {
        match self {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
        }
    }
}

/// A host port forwarded to a container port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: PortProtocol,
}

/// One network of the container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkInfo {
    /// The network's name (a CNI network's); None: the host's network.
    pub name: Option<String>,
    pub ip_addresses: Vec<IpRequest>,
    pub groups: Vec<String>,
    pub labels: Vec<(String, String)>,
    pub port_mappings: Vec<PortMapping>,
}

impl IpProtocol {
    pub fn name(self) -> &'static str {
        match self {
            IpProtocol::V4 => "IPv4",
            IpProtocol::V6 => "IPv6",
        }
    }
}

impl NetworkInfo {
    /// In Mesos's JSON shape (what `network_infos` in a ContainerStatus holds).
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        if let Some(name) = &self.name {
            m.insert("name".into(), Value::from(name.as_str()));
        }
        let ips: Vec<Value> = self
            .ip_addresses
            .iter()
            .map(|ip| {
                let mut a = serde_json::json!({"protocol": ip.protocol.name()});
                if let Some(addr) = ip.address {
                    a["ip_address"] = Value::from(addr.to_string());
                }
                a
            })
            .collect();
        m.insert("ip_addresses".into(), Value::Array(ips));
        if !self.groups.is_empty() {
            m.insert("groups".into(), serde_json::json!(self.groups));
        }
        if !self.labels.is_empty() {
            let labels: Vec<Value> = self
                .labels
                .iter()
                .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                .collect();
            m.insert("labels".into(), serde_json::json!({ "labels": labels }));
        }
        if !self.port_mappings.is_empty() {
            let pm: Vec<Value> = self
                .port_mappings
                .iter()
                .map(|p| {
                    serde_json::json!({"host_port": p.host_port,
                        "container_port": p.container_port, "protocol": p.protocol.name()})
                })
                .collect();
            m.insert("port_mappings".into(), Value::Array(pm));
        }
        Value::Object(m)
    }
}

/// Parses `container.network_infos`.
pub fn parse_network_infos(v: &Value) -> Result<Vec<NetworkInfo>, String> {
    let items = v
        .as_array()
        .ok_or("'container.network_infos' must be an array")?;
    items
        .iter()
        .enumerate()
        .map(|(i, n)| parse_one(n, &format!("container.network_infos[{i}]")))
        .collect()
}

fn parse_one(v: &Value, at: &str) -> Result<NetworkInfo, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("'{at}' must be an object"))?;
    let name = match obj.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && !s.contains(['/', '\0']) => Some(s.clone()),
        Some(_) => return Err(format!("'{at}.name' must be a network name")),
    };
    let ip_addresses = array(obj.get("ip_addresses"), &format!("{at}.ip_addresses"))?
        .iter()
        .enumerate()
        .map(|(i, a)| parse_ip(a, &format!("{at}.ip_addresses[{i}]")))
        .collect::<Result<_, _>>()?;
    let groups = array(obj.get("groups"), &format!("{at}.groups"))?
        .iter()
        .enumerate()
        .map(|(i, g)| {
            g.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("'{at}.groups[{i}]' must be a string"))
        })
        .collect::<Result<_, _>>()?;
    let labels = match obj.get("labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(l) => array(l.get("labels"), &format!("{at}.labels.labels"))?
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let key = l.get("key").and_then(Value::as_str);
                let value = l.get("value").and_then(Value::as_str).unwrap_or("");
                key.map(|k| (k.to_string(), value.to_string()))
                    .ok_or_else(|| format!("'{at}.labels.labels[{i}].key' must be a string"))
            })
            .collect::<Result<_, _>>()?,
    };
    let port_mappings = array(obj.get("port_mappings"), &format!("{at}.port_mappings"))?
        .iter()
        .enumerate()
        .map(|(i, p)| parse_port_mapping(p, &format!("{at}.port_mappings[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(NetworkInfo {
        name,
        ip_addresses,
        groups,
        labels,
        port_mappings,
    })
}

/// An optional JSON array (absent or null: empty).
pub(super) fn array<'a>(v: Option<&'a Value>, at: &str) -> Result<&'a [Value], String> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("'{at}' must be an array")),
    }
}

fn parse_ip(v: &Value, at: &str) -> Result<IpRequest, String> {
    let protocol = match v.get("protocol").and_then(Value::as_str) {
        None | Some("IPv4") => IpProtocol::V4,
        Some("IPv6") => IpProtocol::V6,
        Some(other) => {
            return Err(format!(
                "'{at}.protocol' must be IPv4 or IPv6, not '{other}'"
            ))
        }
    };
    let address = match v.get("ip_address") {
        None | Some(Value::Null) => None,
        Some(a) => {
            let text = a
                .as_str()
                .ok_or_else(|| format!("'{at}.ip_address' must be a string"))?;
            let ip: IpAddr = text
                .parse()
                .map_err(|_| format!("'{at}.ip_address' '{text}' is not an IP address"))?;
            if ip.is_ipv4() != (protocol == IpProtocol::V4) {
                return Err(format!(
                    "'{at}.ip_address' {text} is not an {} address",
                    if protocol == IpProtocol::V4 {
                        "IPv4"
                    } else {
                        "IPv6"
                    }
                ));
            }
            Some(ip)
        }
    };
    Ok(IpRequest { protocol, address })
}

pub(super) fn parse_port_mapping(v: &Value, at: &str) -> Result<PortMapping, String> {
    let port = |field: &str| -> Result<u16, String> {
        v.get(field)
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("'{at}.{field}' must be a port number from 1 to 65535"))
    };
    let protocol = match v.get("protocol").and_then(Value::as_str) {
        None => PortProtocol::Tcp,
        Some(p) if p.eq_ignore_ascii_case("tcp") => PortProtocol::Tcp,
        Some(p) if p.eq_ignore_ascii_case("udp") => PortProtocol::Udp,
        Some(other) => return Err(format!("'{at}.protocol' must be tcp or udp, not '{other}'")),
    };
    Ok(PortMapping {
        host_port: port("host_port")?,
        container_port: port("container_port")?,
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_api_example_parses() {
        let v = json!([{"name": "bridge-net", "ip_addresses": [{"protocol": "IPv4"}],
            "groups": ["web"], "labels": {"labels": [{"key": "tier", "value": "front"}]},
            "port_mappings": [{"host_port": 31000, "container_port": 8080, "protocol": "tcp"}]}]);
        let n = parse_network_infos(&v).expect("parses");
        assert_eq!(
            n,
            [NetworkInfo {
                name: Some("bridge-net".into()),
                ip_addresses: vec![IpRequest {
                    protocol: IpProtocol::V4,
                    address: None
                }],
                groups: vec!["web".into()],
                labels: vec![("tier".into(), "front".into())],
                port_mappings: vec![PortMapping {
                    host_port: 31000,
                    container_port: 8080,
                    protocol: PortProtocol::Tcp
                }],
            }]
        );
    }

    #[test]
    fn static_addresses_must_match_their_protocol() {
        let ok = json!([{"name": "n", "ip_addresses": [{"protocol": "IPv6", "ip_address": "fd00::5"},
            {"ip_address": "10.88.0.5"}]}]);
        let n = parse_network_infos(&ok).expect("parses");
        assert_eq!(n[0].ip_addresses[0].address, "fd00::5".parse().ok());
        assert_eq!(n[0].ip_addresses[1].protocol, IpProtocol::V4);
        for (bad, msg) in [
            (json!([{"ip_addresses": [{"protocol": "IPv6", "ip_address": "10.0.0.1"}]}]),
             "'container.network_infos[0].ip_addresses[0].ip_address' 10.0.0.1 is not an IPv6 address"),
            (json!([{"ip_addresses": [{"ip_address": "10.0.0.300"}]}]),
             "'container.network_infos[0].ip_addresses[0].ip_address' '10.0.0.300' is not an IP address"),
            (json!([{"ip_addresses": [{"protocol": "IPX"}]}]),
             "'container.network_infos[0].ip_addresses[0].protocol' must be IPv4 or IPv6, not 'IPX'"),
        ] {
            assert_eq!(parse_network_infos(&bad), Err(msg.to_string()));
        }
    }

    #[test]
    fn bad_shapes_and_ports_name_the_field() {
        for (bad, msg) in [
            (json!({}), "'container.network_infos' must be an array"),
            (json!([1]), "'container.network_infos[0]' must be an object"),
            (json!([{"name": ""}]), "'container.network_infos[0].name' must be a network name"),
            (json!([{"name": "../x"}]), "'container.network_infos[0].name' must be a network name"),
            (json!([{"groups": [1]}]), "'container.network_infos[0].groups[0]' must be a string"),
            (json!([{"port_mappings": [{"host_port": 0, "container_port": 80}]}]),
             "'container.network_infos[0].port_mappings[0].host_port' must be a port number from 1 to 65535"),
            (json!([{"port_mappings": [{"host_port": 80, "container_port": 70000}]}]),
             "'container.network_infos[0].port_mappings[0].container_port' must be a port number from 1 to 65535"),
            (json!([{"port_mappings": [{"host_port": 80, "container_port": 80, "protocol": "sctp"}]}]),
             "'container.network_infos[0].port_mappings[0].protocol' must be tcp or udp, not 'sctp'"),
            (json!([{"labels": {"labels": [{"value": "v"}]}}]),
             "'container.network_infos[0].labels.labels[0].key' must be a string"),
        ] {
            assert_eq!(parse_network_infos(&bad), Err(msg.to_string()), "{bad}");
        }
    }
}
