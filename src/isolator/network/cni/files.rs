//! `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` for a container on CNI networks, as
//! Mesos writes them: the hostname is `container.hostname` or the container ID; hosts has
//! localhost and each address of the container under its hostname; resolv.conf comes from the
//! first CNI result with DNS, else `--default_container_dns`, else the host's.

use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

/// The files' names, in the container's network directory and under the container's `/etc`.
pub const NAMES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

pub fn hosts(hostname: &str, ips: &[IpAddr]) -> String {
    let mut s = String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
    for ip in ips {
        s.push_str(&format!("{ip} {hostname}\n"));
    }
    s
}

/// resolv.conf from a CNI result's `dns`, if it names a nameserver.
fn from_dns(dns: &Value) -> Option<String> {
    let servers = dns.get("nameservers")?.as_array()?;
    if servers.is_empty() {
        return None;
    }
    let mut s = String::new();
    for n in servers.iter().filter_map(Value::as_str) {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if let Some(d) = dns.get("domain").and_then(Value::as_str) {
        s.push_str(&format!("domain {d}\n"));
    }
    let list = |key: &str| -> Vec<&str> {
        dns.get(key)
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let search = list("search");
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    let options = list("options");
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    Some(s)
}

pub fn resolv_conf<'a>(
    results: impl Iterator<Item = &'a Value>,
    default_dns: Option<&str>,
    host: &Path,
) -> String {
    for r in results {
        if let Some(s) = r.get("dns").and_then(from_dns) {
            return s;
        }
    }
    if let Some(d) = default_dns.filter(|d| !d.trim().is_empty()) {
        // One line per entry; ';' separates them on a flag's single line.
        let mut s: String = d
            .split(';')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        s.push('\n');
        return s;
    }
    crate::sys::bounded::read_file(host, 64 * 1024)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cni_dns_beats_the_default_which_beats_the_host() {
        let with =
            json!({"dns": {"nameservers": ["10.0.0.2"], "domain": "d", "search": ["a", "b"]}});
        let without = json!({"ips": []});
        assert_eq!(
            resolv_conf(
                [&without, &with].into_iter(),
                Some("nameserver 9.9.9.9"),
                Path::new("/x")
            ),
            "nameserver 10.0.0.2\ndomain d\nsearch a b\n"
        );
        assert_eq!(
            resolv_conf(
                [&without].into_iter(),
                Some("nameserver 9.9.9.9; search x"),
                Path::new("/x")
            ),
            "nameserver 9.9.9.9\nsearch x\n"
        );
        assert_eq!(
            resolv_conf([&without].into_iter(), None, Path::new("/nonexistent")),
            ""
        );
        let h = hosts("web", &["10.0.0.5".parse().unwrap()]);
        assert!(h.starts_with("127.0.0.1 localhost\n"));
        assert!(h.ends_with("10.0.0.5 web\n"));
    }
}
