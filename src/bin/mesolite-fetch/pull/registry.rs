//! The Docker Registry HTTP API v2 client over libcurl: manifests (with the Accept list of
//! every kind we read), blobs streamed to a file with their sha256 verified on the way, Basic
//! credentials from a docker `config.json`, Bearer tokens after a 401 challenge.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use curl::easy::{Easy, HttpVersion, List};
use mesolite::provisioner::auth::{self, Scheme};
use mesolite::provisioner::digest::{Digest, Hasher};
use mesolite::provisioner::manifest::ACCEPT;

use super::error::{io_err, PullError};

#[derive(Debug)]
pub struct Registry {
    /// `scheme://host[:port]`.
    base: String,
    repository: String,
    /// base64 `user:password` from `--docker_config`, sent first (as Mesos does).
    basic: Option<String>,
    bearer: Option<String>,
    stall_timeout_secs: f64,
    easy: Easy,
}

struct Response {
    code: u32,
    content_type: Option<String>,
    challenge: Option<String>,
}

impl Registry {
    pub fn new(
        base: String,
        repository: String,
        basic: Option<String>,
        stall_timeout_secs: f64,
    ) -> Registry {
        Registry {
            base,
            repository,
            basic,
            bearer: None,
            stall_timeout_secs,
            easy: Easy::new(),
        }
    }

    /// `GET /v2/<repo>/manifests/<reference>`: the body and its `Content-Type`.
    pub fn manifest(&mut self, reference: &str) -> Result<(Option<String>, Vec<u8>), PullError> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let mut body = Vec::new();
        let response = self.get_authorized(&url, Some(ACCEPT), &mut |data| {
            body.extend_from_slice(data);
            Ok(())
        })?;
        Ok((response.content_type, body))
    }

    /// `GET /v2/<repo>/blobs/<digest>` in memory (configs), verified.
    pub fn blob(&mut self, digest: &Digest) -> Result<Vec<u8>, PullError> {
        let url = self.blob_url(digest);
        let mut body = Vec::new();
        self.get_authorized(&url, None, &mut |data| {
            body.extend_from_slice(data);
            Ok(())
        })?;
        let actual = Digest::of_bytes(&body);
        if actual != *digest {
            return Err(PullError::DigestMismatch {
                what: format!("blob '{url}'"),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(body)
    }

    /// Streams a blob into `path`, hashing as it arrives. A mismatch is an error (the caller
    /// removes the file). Returns the size.
    pub fn blob_to_file(&mut self, digest: &Digest, path: &Path) -> Result<u64, PullError> {
        let url = self.blob_url(digest);
        let mut hasher = Hasher::new();
        let mut file = File::create(path).map_err(io_err("create", path))?;
        self.get_authorized(&url, None, &mut |data| {
            hasher.update(data);
            file.write_all(data)
        })?;
        file.flush().map_err(io_err("write", path))?;
        let size = hasher.bytes();
        let actual = hasher.finish();
        if actual != *digest {
            return Err(PullError::DigestMismatch {
                what: format!("blob '{url}'"),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(size)
    }

    fn blob_url(&self, digest: &Digest) -> String {
        format!("{}/v2/{}/blobs/{digest}", self.base, self.repository)
    }

    /// A GET with the credentials we have; on a 401, one more try after answering its
    /// challenge (a Bearer token, or Basic credentials not sent yet).
    fn get_authorized(
        &mut self,
        url: &str,
        accept: Option<&str>,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<Response, PullError> {
        let first = self.get(url, accept, self.authorization(), sink)?;
        if first.code != 401 {
            return expect_ok(url, first);
        }
        let unauthorized = |detail: String| PullError::Unauthorized {
            url: url.to_string(),
            detail,
        };
        let header = first
            .challenge
            .ok_or_else(|| unauthorized("no WWW-Authenticate challenge".to_string()))?;
        let challenge = auth::parse_challenge(&header)
            .ok_or_else(|| unauthorized(format!("unsupported challenge '{header}'")))?;
        match challenge.scheme {
            Scheme::Bearer => {
                let token_url = auth::token_url(&challenge, &self.repository)
                    .ok_or_else(|| unauthorized(format!("no realm in '{header}'")))?;
                self.bearer = Some(self.token(&token_url)?);
            }
            Scheme::Basic if self.basic.is_some() && self.bearer.is_some() => {
                // A token was refused: fall back to plain credentials.
                self.bearer = None;
            }
            Scheme::Basic => {
                return Err(unauthorized("credentials refused or missing".to_string()));
            }
        }
        let second = self.get(url, accept, self.authorization(), sink)?;
        if second.code == 401 {
            return Err(unauthorized("the registry refused the token".to_string()));
        }
        expect_ok(url, second)
    }

    fn authorization(&self) -> Option<String> {
        match (&self.bearer, &self.basic) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, Some(basic)) => Some(format!("Basic {basic}")),
            (None, None) => None,
        }
    }

    fn token(&mut self, token_url: &str) -> Result<String, PullError> {
        eprintln!("Requesting a registry token from '{token_url}'");
        let basic = self.basic.as_ref().map(|b| format!("Basic {b}"));
        let mut body = Vec::new();
        let response = self.get(token_url, None, basic, &mut |data| {
            body.extend_from_slice(data);
            Ok(())
        })?;
        expect_ok(token_url, response)?;
        auth::parse_token_response(&body).ok_or_else(|| PullError::Unauthorized {
            url: token_url.to_string(),
            detail: "no token in the token server's answer".to_string(),
        })
    }

    /// One GET. The body goes to `sink` only for a 2xx final answer (the body of a 401 or of
    /// a redirect never lands in a blob file).
    fn get(
        &mut self,
        url: &str,
        accept: Option<&str>,
        authorization: Option<String>,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<Response, PullError> {
        let curl_err = |source| PullError::Curl {
            url: url.to_string(),
            source,
        };
        let easy = &mut self.easy;
        easy.reset();
        easy.url(url).map_err(curl_err)?;
        // MESOS-8907: HTTP/2 answers broke Mesos's curl-based puller; plain 1.1 is enough.
        easy.http_version(HttpVersion::V11).map_err(curl_err)?;
        easy.follow_location(true).map_err(curl_err)?;
        crate::download::trust_system_cas(easy).map_err(curl_err)?;
        let secs = if self.stall_timeout_secs.is_finite() && self.stall_timeout_secs >= 1.0 {
            self.stall_timeout_secs
        } else {
            1.0
        };
        easy.low_speed_limit(1).map_err(curl_err)?;
        easy.low_speed_time(Duration::from_secs_f64(secs))
            .map_err(curl_err)?;
        easy.connect_timeout(Duration::from_secs_f64(secs))
            .map_err(curl_err)?;
        let mut headers = List::new();
        if let Some(accept) = accept {
            headers
                .append(&format!("Accept: {accept}"))
                .map_err(curl_err)?;
        }
        if let Some(authorization) = &authorization {
            headers
                .append(&format!("Authorization: {authorization}"))
                .map_err(curl_err)?;
        }
        easy.http_headers(headers).map_err(curl_err)?;
        // Shared by the header and body callbacks.
        let code = std::cell::Cell::new(0u32);
        let mut content_type = None;
        let mut challenge = None;
        let mut sink_error = None;
        let performed = {
            let mut transfer = easy.transfer();
            transfer
                .header_function(|line| {
                    let line = String::from_utf8_lossy(line);
                    let line = line.trim_end();
                    if line.starts_with("HTTP/") {
                        // A new response (after a redirect): forget the previous one's headers.
                        code.set(
                            line.split_whitespace()
                                .nth(1)
                                .and_then(|c| c.parse().ok())
                                .unwrap_or(0),
                        );
                        content_type = None;
                        challenge = None;
                    } else if let Some((name, value)) = line.split_once(':') {
                        let value = value.trim().to_string();
                        if name.eq_ignore_ascii_case("content-type") {
                            content_type = Some(value);
                        } else if name.eq_ignore_ascii_case("www-authenticate") {
                            challenge = Some(value);
                        }
                    }
                    true
                })
                .map_err(curl_err)?;
            transfer
                .write_function(|data| {
                    if !(200..300).contains(&code.get()) {
                        return Ok(data.len());
                    }
                    match sink(data) {
                        Ok(()) => Ok(data.len()),
                        Err(err) => {
                            sink_error = Some(err);
                            Ok(0)
                        }
                    }
                })
                .map_err(curl_err)?;
            transfer.perform()
        };
        if let Some(err) = sink_error {
            return Err(PullError::Io {
                op: "write the download of",
                path: url.into(),
                source: err,
            });
        }
        performed.map_err(curl_err)?;
        Ok(Response {
            code: code.get(),
            content_type,
            challenge,
        })
    }
}

fn expect_ok(url: &str, response: Response) -> Result<Response, PullError> {
    if (200..300).contains(&response.code) {
        Ok(response)
    } else {
        Err(PullError::HttpStatus {
            url: url.to_string(),
            code: response.code,
        })
    }
}

/// The registry base URL for an image: a host in the image name wins over `--docker_registry`
/// (with the flag's scheme if it names the same host; plain http for loopback; else https).
pub fn base_url(image_host: Option<&str>, docker_registry: &str) -> String {
    let flag = docker_registry.trim_end_matches('/');
    let flag_host = flag
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""));
    match image_host {
        None => flag.to_string(),
        Some(host) if flag_host == Some(host) => flag.to_string(),
        Some("docker.io" | "index.docker.io") => "https://registry-1.docker.io".to_string(),
        Some(host) => {
            let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
            if name == "localhost" || name.starts_with("127.") {
                format!("http://{host}")
            } else {
                format!("https://{host}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_host_wins_over_the_flag() {
        let flag = "http://127.0.0.1:5000/";
        assert_eq!(base_url(None, flag), "http://127.0.0.1:5000");
        assert_eq!(
            base_url(Some("127.0.0.1:5000"), flag),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            base_url(Some("localhost:6000"), flag),
            "http://localhost:6000"
        );
        assert_eq!(base_url(Some("quay.io"), flag), "https://quay.io");
        assert_eq!(
            base_url(Some("docker.io"), flag),
            "https://registry-1.docker.io"
        );
    }
}
