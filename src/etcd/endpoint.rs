//! Where an etcd member listens for clients: `http://127.0.0.1:2379` as in `--etcd_endpoints`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// An endpoint that cannot be used (`--etcd_endpoints`): what was given and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEndpoint {
    pub endpoint: String,
    pub reason: String,
}

impl fmt::Display for BadEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad etcd endpoint {:?}: {}", self.endpoint, self.reason)
    }
}

impl std::error::Error for BadEndpoint {}

/// A member's client URL, resolved to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint(SocketAddr);

impl Endpoint {
    pub fn new(addr: SocketAddr) -> Endpoint {
        Endpoint(addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.0
    }

    /// `http://host:port` or `host:port`. A host name is resolved here, once (at start, not
    /// from the loop); TLS (`https://`) is not spoken.
    pub fn parse(text: &str) -> Result<Endpoint, BadEndpoint> {
        let bad = |reason: &str| BadEndpoint {
            endpoint: text.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = text.trim();
        if trimmed.starts_with("https://") {
            return Err(bad("https is not supported (use http)"));
        }
        let rest = trimmed.strip_prefix("http://").unwrap_or(trimmed);
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad("expected http://host:port"));
        }
        if let Ok(addr) = authority.parse::<SocketAddr>() {
            return Ok(Endpoint(addr));
        }
        let Some((_, port)) = authority.rsplit_once(':') else {
            return Err(bad("no port"));
        };
        if port.parse::<u16>().is_err() {
            return Err(bad("bad port"));
        }
        let mut addrs = authority
            .to_socket_addrs()
            .map_err(|e| bad(&format!("cannot resolve: {e}")))?;
        addrs.next().map(Endpoint).ok_or_else(|| bad("no address"))
    }

    /// A comma-separated list, as `--etcd_endpoints` takes it.
    pub fn parse_list(text: &str) -> Result<Vec<Endpoint>, BadEndpoint> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Endpoint::parse)
            .collect()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.0)
    }
}
