//! What a TCP client may ask. The unix socket's permissions (its mode and group) say who may
//! connect there, and such a client may do everything; a TCP client may read, and may change
//! state only with a login when `--http_credentials` and `--authenticate_http_readwrite` are on.

use serde::Deserialize;

use super::auth::Authenticator;
use super::listen::Peer;
use crate::http::{Request, Response};

/// Whether a request reads or changes the agent's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    ReadOnly,
    ReadWrite,
}

/// Every v1 call by class: the one table of what TCP serves without a read-write login.
/// WAIT_CONTAINER only watches a container, so it reads; a call not listed is read-write.
const V1_CALLS: &[(&str, Class)] = &[
    ("GET_HEALTH", Class::ReadOnly),
    ("GET_VERSION", Class::ReadOnly),
    ("GET_FLAGS", Class::ReadOnly),
    ("GET_METRICS", Class::ReadOnly),
    ("GET_CONTAINERS", Class::ReadOnly),
    ("WAIT_CONTAINER", Class::ReadOnly),
    ("LAUNCH_CONTAINER", Class::ReadWrite),
    ("KILL_CONTAINER", Class::ReadWrite),
    ("REMOVE_CONTAINER", Class::ReadWrite),
    ("PRUNE_IMAGES", Class::ReadWrite),
];

/// A call's `type` alone, without building the rest of the body's tree.
#[derive(Deserialize)]
struct CallType<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// The class of a request. A GET or HEAD reads, any other method writes (Marathon's POST, PUT
/// and DELETE); a v1 call is classed by its `type`, and a body that does not say is read-write.
pub fn classify(req: &Request) -> (Class, String) {
    if req.path != "/api/v1" {
        // The GET endpoints read; Marathon's POST, PUT and DELETE change apps.
        let class = match req.method {
            crate::http::Method::Get | crate::http::Method::Head => Class::ReadOnly,
            _ => Class::ReadWrite,
        };
        return (class, format!("{} {}", req.method.as_str(), req.path));
    }
    let kind = serde_json::from_slice::<CallType<'_>>(&req.body)
        .ok()
        .and_then(|c| c.kind)
        .map(|k| k.into_owned())
        .unwrap_or_default();
    let class = V1_CALLS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or(Class::ReadWrite, |(_, c)| *c);
    (class, kind)
}

/// The TCP listener's policy, from the flags.
#[derive(Debug)]
pub struct TcpAccess {
    pub authenticator: Option<Authenticator>,
    pub authenticate_readonly: bool,
    pub authenticate_readwrite: bool,
}

impl TcpAccess {
    /// None when the request may go on (with the principal, if one logged in); otherwise the
    /// 401 or 403 to answer. Unix-socket requests are not asked.
    pub fn check(&mut self, req: &Request, peer: &Peer) -> Result<Option<String>, Response> {
        let Peer::Tcp(addr) = *peer else {
            return Ok(None);
        };
        let (class, what) = classify(req);
        let needs_login = match class {
            Class::ReadOnly => self.authenticate_readonly,
            Class::ReadWrite => {
                if !self.authenticate_readwrite || self.authenticator.is_none() {
                    let what = if what.is_empty() { "this call" } else { &what };
                    return Err(Response::text(
                        403,
                        format!(
                            "The TCP listener is read-only without credentials: {what} changes \
                             the agent's state; use the unix socket, or start the agent with \
                             --http_credentials and --authenticate_http_readwrite"
                        ),
                    ));
                }
                true
            }
        };
        match (&mut self.authenticator, needs_login) {
            (Some(auth), true) => auth.authenticate(req, addr).map(Some),
            // The agent refuses to start so; never let it mean "no login needed".
            (None, true) => Err(super::auth::challenge(
                "No --http_credentials to log in with",
            )),
            (_, false) => Ok(None),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn post(body: &str) -> Request {
        let raw = format!(
            "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match crate::http::parse_request(raw.as_bytes(), &crate::http::Limits::default()) {
            crate::http::Parse::Complete { request, .. } => request,
            _ => panic!("unparsable test request"),
        }
    }

    #[test]
    fn calls_are_classed_by_the_table_and_unknown_ones_write() {
        assert_eq!(
            classify(&post(r#"{"type": "GET_CONTAINERS"}"#)).0,
            Class::ReadOnly
        );
        assert_eq!(
            classify(&post(r#"{"type":"WAIT_CONTAINER","wait_container":{}}"#)).0,
            Class::ReadOnly
        );
        assert_eq!(
            classify(&post(
                r#"{"launch_container": {"x": [1]}, "type": "LAUNCH_CONTAINER"}"#
            )),
            (Class::ReadWrite, "LAUNCH_CONTAINER".to_string())
        );
        assert_eq!(
            classify(&post(r#"{"type": "SOMETHING_NEW"}"#)).0,
            Class::ReadWrite
        );
        assert_eq!(classify(&post("not json")).0, Class::ReadWrite);
        assert_eq!(classify(&post(r#"{"type": 7}"#)).0, Class::ReadWrite);
        assert_eq!(
            classify(&post(r#"{"type": "GET_\u0048EALTH"}"#)).0,
            Class::ReadOnly
        );
    }

    #[test]
    fn without_credentials_tcp_reads_and_never_writes() {
        let mut access = TcpAccess {
            authenticator: None,
            authenticate_readonly: false,
            authenticate_readwrite: false,
        };
        let tcp = Peer::Tcp("127.0.0.1:4000".parse().unwrap());
        let launch = post(r#"{"type": "LAUNCH_CONTAINER"}"#);
        let err = access.check(&launch, &tcp).unwrap_err();
        assert_eq!(err.status, 403);
        assert!(String::from_utf8_lossy(&err.body).contains("read-only without credentials"));
        assert!(access
            .check(&post(r#"{"type": "GET_HEALTH"}"#), &tcp)
            .is_ok());
        assert!(access.check(&launch, &Peer::Unix(None)).is_ok());
    }
}
