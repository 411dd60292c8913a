//! HTTP Basic authentication for the TCP listener, as Mesos's `--http_credentials`,
//! `--authenticate_http_readonly` and `--authenticate_http_readwrite` do it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::http::base64::{self, Alphabet};
use crate::http::{Request, Response};

/// A credentials file larger than this is not a credentials file.
const MAX_CREDENTIALS_BYTES: u64 = 1 << 20;

/// At most one failed-login line per this long; the ones in between are counted into it.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(1);

/// The realm Mesos's agent names in its challenge.
pub const REALM: &str = "mesos";

/// Why `--http_credentials` could not be used.
#[derive(Debug)]
pub enum CredentialsError {
    Read(crate::sys::bounded::ReadError),
    Parse(PathBuf, String),
    Empty(PathBuf),
    /// An entry with an empty principal, by index.
    NoPrincipal(PathBuf, usize),
    /// An `--authenticate_http_*` flag without `--http_credentials`.
    NeedsCredentials(&'static str),
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::Read(e) => write!(f, "Failed to read --http_credentials {e}"),
            CredentialsError::Parse(p, e) => write!(
                f,
                "Failed to parse --http_credentials {}: {e} (expecting \
                 {{\"credentials\": [{{\"principal\": ..., \"secret\": ...}}]}})",
                p.display()
            ),
            CredentialsError::Empty(p) => {
                write!(f, "--http_credentials {} lists no credentials", p.display())
            }
            CredentialsError::NoPrincipal(p, i) => write!(
                f,
                "--http_credentials {}: credential {i} has an empty principal",
                p.display()
            ),
            CredentialsError::NeedsCredentials(flag) => {
                write!(f, "--{flag} needs --http_credentials")
            }
        }
    }
}

impl std::error::Error for CredentialsError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    credentials: Vec<Credential>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credential {
    principal: String,
    #[serde(default)]
    secret: String,
}

/// The logins of `--http_credentials`.
pub struct Credentials {
    entries: Vec<(String, String)>,
}

// By hand: secrets stay out of every log line.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("principals", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads Mesos's JSON credentials file (bounded, non-blocking open).
    pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
        let bytes = crate::sys::bounded::read_named(path, MAX_CREDENTIALS_BYTES)
            .map_err(CredentialsError::Read)?;
        Self::parse(path, &bytes)
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Credentials, CredentialsError> {
        let file: CredentialsFile = serde_json::from_slice(bytes)
            .map_err(|e| CredentialsError::Parse(path.to_path_buf(), e.to_string()))?;
        if file.credentials.is_empty() {
            return Err(CredentialsError::Empty(path.to_path_buf()));
        }
        let mut entries = Vec::with_capacity(file.credentials.len());
        for (i, c) in file.credentials.into_iter().enumerate() {
            if c.principal.is_empty() {
                return Err(CredentialsError::NoPrincipal(path.to_path_buf(), i));
            }
            entries.push((c.principal, c.secret));
        }
        Ok(Credentials { entries })
    }

    /// The principal whose login this is. Every entry is compared, each in time that does
    /// not depend on where the bytes differ, so the answer's timing tells nothing of a secret.
    fn check(&self, principal: &str, secret: &str) -> Option<&str> {
        let mut found = None;
        for (p, s) in &self.entries {
            let same =
                ct_eq(p.as_bytes(), principal.as_bytes()) & ct_eq(s.as_bytes(), secret.as_bytes());
            if same && found.is_none() {
                found = Some(p.as_str());
            }
        }
        found
    }
}

/// Byte equality whose time depends on the lengths only.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    // Kept from being turned into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// `Authorization: Basic <base64(principal:secret)>` taken apart; None for anything else.
fn basic_login(req: &Request) -> Option<(String, String)> {
    let value = req.header("authorization")?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::decode(token.trim(), Alphabet::Standard).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (principal, secret) = text.split_once(':')?;
    Some((principal.to_string(), secret.to_string()))
}

/// The 401 that asks for a login.
pub fn challenge(message: &str) -> Response {
    Response::text(401, message.to_string())
        .with_header("WWW-Authenticate", format!("Basic realm=\"{REALM}\""))
}

/// Checks logins and logs the failed ones, at most one line a second.
#[derive(Debug)]
pub struct Authenticator {
    credentials: Credentials,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl Authenticator {
    pub fn new(credentials: Credentials) -> Authenticator {
        Authenticator {
            credentials,
            last_log: None,
            unlogged: 0,
        }
    }

    /// The authenticated principal, or the 401 to answer.
    pub fn authenticate(&mut self, req: &Request, peer: SocketAddr) -> Result<String, Response> {
        let Some((principal, secret)) = basic_login(req) else {
            let why = if req.header("authorization").is_some() {
                "a malformed Authorization header"
            } else {
                "no credentials"
            };
            self.log_failure(peer, why, None);
            return Err(challenge(
                "Authentication required: HTTP Basic credentials of --http_credentials",
            ));
        };
        match self.credentials.check(&principal, &secret) {
            Some(p) => Ok(p.to_string()),
            None => {
                self.log_failure(peer, "wrong credentials", Some(&principal));
                Err(challenge(
                    "Authentication failed: unknown principal or wrong secret",
                ))
            }
        }
    }

    fn log_failure(&mut self, peer: SocketAddr, why: &str, principal: Option<&str>) {
        let now = Instant::now();
        if self
            .last_log
            .is_some_and(|t| now.duration_since(t) < FAILURE_LOG_EVERY)
        {
            self.unlogged += 1;
            return;
        }
        let more = match self.unlogged {
            0 => String::new(),
            n => format!(" ({n} more failed logins since the last line)"),
        };
        let who = principal
            .map(|p| format!(" for principal '{}'", p.escape_debug()))
            .unwrap_or_default();
        log::warn!("Failed HTTP login from {peer}{who}: {why}{more}");
        self.last_log = Some(now);
        self.unlogged = 0;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn creds(json: &str) -> Result<Credentials, CredentialsError> {
        Credentials::parse(Path::new("creds.json"), json.as_bytes())
    }

    #[test]
    fn credentials_parse_in_mesos_format_and_refuse_the_rest() {
        let c = creds(r#"{"credentials": [{"principal": "ops", "secret": "s3cret"}, {"principal": "ro", "secret": ""}]}"#).unwrap();
        assert_eq!(c.check("ops", "s3cret"), Some("ops"));
        assert_eq!(c.check("ro", ""), Some("ro"));
        assert_eq!(c.check("ops", "s3cre"), None);
        assert_eq!(c.check("ops", "s3cret!"), None);
        assert_eq!(c.check("", ""), None);
        assert!(matches!(creds("{"), Err(CredentialsError::Parse(..))));
        assert!(matches!(
            creds(r#"{"credentials": []}"#),
            Err(CredentialsError::Empty(_))
        ));
        assert!(matches!(
            creds(r#"{"credentials": [{"principal": "", "secret": "x"}]}"#),
            Err(CredentialsError::NoPrincipal(_, 0))
        ));
        assert!(matches!(
            creds(r#"{"credentials": [{"principal": "a", "password": "x"}]}"#),
            Err(CredentialsError::Parse(..))
        ));
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"ab\0", b"ab"));
    }

    fn request_with(auth: Option<&str>) -> Request {
        let mut raw = String::from("GET /metrics HTTP/1.1\r\nHost: x\r\n");
        if let Some(a) = auth {
            raw.push_str(&format!("Authorization: {a}\r\n"));
        }
        raw.push_str("\r\n");
        match crate::http::parse_request(raw.as_bytes(), &crate::http::Limits::default()) {
            crate::http::Parse::Complete { request, .. } => request,
            _ => panic!("unparsable test request"),
        }
    }

    #[test]
    fn basic_logins_are_taken_apart_and_garbage_is_none() {
        let ok = format!("Basic {}", base64::encode(b"ops:a:b", Alphabet::Standard));
        assert_eq!(
            basic_login(&request_with(Some(&ok))),
            Some(("ops".into(), "a:b".into()))
        );
        let lower = format!("basic {}", base64::encode(b"x:y", Alphabet::Standard));
        assert!(basic_login(&request_with(Some(&lower))).is_some());
        for bad in [
            "Basic",
            "Basic !!!",
            "Bearer abc",
            "Basic Zm9v",
            "garbage",
            "Basic w6g=",
        ] {
            assert_eq!(basic_login(&request_with(Some(bad))), None, "{bad}");
        }
        assert_eq!(basic_login(&request_with(None)), None);
    }
}
