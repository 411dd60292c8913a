//! PULLING: `POST /images/create` of the container's image, with the `--docker_config`
//! credentials of its registry in `X-Registry-Auth`, and dockerd's progress stream (JSON lines)
//! in the agent's log: every status change, byte counts at most every few seconds a layer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mio::Registry;

use super::engine::{Call, EngineError, Mode, ReqId};
use super::{DockerContainerizer, Purpose};
use crate::http::base64::{self, Alphabet};
use crate::http::percent_encode;
use crate::provisioner::auth::basic_credentials;
use crate::spec::ContainerId;
use crate::timer::Timers;

/// A layer's byte counts are logged no more often than this.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The pull's stream so far.
#[derive(Debug, Default)]
pub(super) struct PullLog {
    /// A line not yet complete.
    pending: Vec<u8>,
    /// The error the stream reported (dockerd answers 200, then an `error` line).
    pub error: Option<String>,
    /// When each layer's byte counts were last logged.
    logged: HashMap<String, Instant>,
}

impl PullLog {
    /// Logs the lines `data` completes; keeps the error one reports.
    pub fn feed(&mut self, id: &ContainerId, data: &[u8]) {
        self.pending.extend_from_slice(data);
        while let Some(eol) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=eol).collect();
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                self.error = Some(e.to_string());
                continue;
            }
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
            let layer = field("id");
            let counting = v
                .get("progressDetail")
                .is_some_and(|p| p.get("current").is_some());
            if !counting {
                log::info!("Container {id}: pull: {layer} {}", field("status"));
                continue;
            }
            let now = Instant::now();
            let due = self
                .logged
                .get(layer)
                .is_none_or(|t| now.duration_since(*t) >= PROGRESS_EVERY);
            if due {
                self.logged.insert(layer.to_string(), now);
                let (status, progress) = (field("status"), field("progress"));
                log::info!("Container {id}: pull: {layer} {status} {progress}");
            }
        }
    }
}

impl DockerContainerizer {
    pub(super) fn pull(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<ReqId, EngineError> {
        let image = self
            .containers
            .get(id)
            .map(|c| c.image.clone())
            .unwrap_or_default();
        log::info!("Container {id}: pulling image {image}");
        let (from, tag) = split_tag(&image);
        let mut path = format!("/images/create?fromImage={}", percent_encode(from));
        if let Some(tag) = tag {
            path.push_str(&format!("&tag={}", percent_encode(tag)));
        }
        let mut call = Call::post(path, None, self.settings.api_timeout)
            .streaming(Mode::Stream, Some(self.settings.pull_stall));
        if let Some(auth) = self.registry_auth(id, &image) {
            call = call.header("X-Registry-Auth", auth);
        }
        self.send(
            Some(id),
            Purpose::Pull(PullLog::default()),
            call,
            registry,
            timers,
        )
    }

    /// The `X-Registry-Auth` of the image's registry from `--docker_config` (a small local
    /// file, read at each pull so that new credentials need no restart).
    fn registry_auth(&self, id: &ContainerId, image: &str) -> Option<String> {
        let path = self.settings.docker_config.as_ref()?;
        let config = std::fs::read(path)
            .map_err(|e| log::warn!("Container {id}: cannot read {}: {e}", path.display()))
            .ok()?;
        let host = registry_host(image);
        let basic = basic_credentials(&config, host)?;
        let Some(auth) = registry_auth_header(&basic, host) else {
            log::warn!(
                "Container {id}: the credentials of {host} in {} are not base64 user:password",
                path.display()
            );
            return None;
        };
        log::info!("Container {id}: pulling with the credentials of {host}");
        Some(auth)
    }
}

/// Docker's `X-Registry-Auth`: URL-safe base64 of `{"username","password","serveraddress"}`,
/// from a `config.json` `auth` (standard base64 of `user:password`).
fn registry_auth_header(basic: &str, host: &str) -> Option<String> {
    let plain = base64::decode(basic, Alphabet::Standard).ok()?;
    let plain = String::from_utf8(plain).ok()?;
    let (username, password) = plain.split_once(':')?;
    let json = serde_json::json!({
        "username": username,
        "password": password,
        "serveraddress": host,
    });
    Some(base64::encode(
        json.to_string().as_bytes(),
        Alphabet::UrlSafe,
    ))
}

/// The registry an image name names: its first component when that looks like a host
/// (a dot, a port or `localhost`), else Docker Hub.
fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// `name[:tag]` (a registry's port is not a tag; a digest stays in the name).
fn split_tag(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (image, Some("latest")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags() {
        assert_eq!(split_tag("busybox"), ("busybox", Some("latest")));
        assert_eq!(split_tag("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            split_tag("127.0.0.1:5000/a/b"),
            ("127.0.0.1:5000/a/b", Some("latest"))
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/a/b:2"),
            ("127.0.0.1:5000/a/b", Some("2"))
        );
        assert_eq!(split_tag("a@sha256:00"), ("a@sha256:00", None));
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(registry_host("busybox"), "docker.io");
        assert_eq!(registry_host("library/busybox:1"), "docker.io");
        assert_eq!(registry_host("127.0.0.1:5000/a/b:2"), "127.0.0.1:5000");
        assert_eq!(registry_host("quay.io/x/y"), "quay.io");
        assert_eq!(registry_host("localhost/x"), "localhost");
    }

    #[test]
    fn registry_auth_is_url_safe_json() {
        let basic = base64::encode(b"u:p:w", Alphabet::Standard);
        let header = registry_auth_header(&basic, "127.0.0.1:5000").unwrap();
        let json = base64::decode(&header, Alphabet::UrlSafe).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["username"], "u");
        assert_eq!(v["password"], "p:w");
        assert_eq!(v["serveraddress"], "127.0.0.1:5000");
        assert_eq!(registry_auth_header("!!", "h"), None);
    }

    #[test]
    fn pull_progress_keeps_the_error() {
        let id = ContainerId::parse("c").unwrap();
        let mut log = PullLog::default();
        log.feed(
            &id,
            b"{\"status\":\"Pulling from library/x\",\"id\":\"1\"}\n{\"error\":\"manifest for x:9 not found\"}\n{\"sta",
        );
        assert_eq!(log.error.as_deref(), Some("manifest for x:9 not found"));
        assert_eq!(log.pending, b"{\"sta");
    }
}
