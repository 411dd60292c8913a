//! Engine API versions and their negotiation.

use std::fmt;

use super::EngineError;

/// `major.minor` of the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

/// The newest version whose bodies this client writes and reads.
pub const OURS: ApiVersion = ApiVersion(1, 41);
/// The oldest dockerd we can use: `/wait?condition=` came with 1.30.
pub const OLDEST: ApiVersion = ApiVersion(1, 30);

impl ApiVersion {
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(ApiVersion(major.parse().ok()?, minor.parse().ok()?))
    }

    /// The path prefix of a versioned request.
    pub fn prefix(self) -> String {
        format!("/v{self}")
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// From `/version`'s answer: the version to speak (the lower of dockerd's and ours) and
/// dockerd's own version for the log.
pub fn agree(body: &[u8]) -> Result<(ApiVersion, String), EngineError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| EngineError::Version(format!("/version is not JSON: {e}")))?;
    let field = |name: &str| v.get(name).and_then(|x| x.as_str());
    let theirs = field("ApiVersion")
        .and_then(ApiVersion::parse)
        .ok_or_else(|| EngineError::Version("/version has no ApiVersion".into()))?;
    let engine = field("Version").unwrap_or("(unknown version)").to_string();
    let chosen = theirs.min(OURS);
    if chosen < OLDEST {
        return Err(EngineError::Version(format!(
            "dockerd {engine} speaks Engine API {theirs}; at least {OLDEST} is needed"
        )));
    }
    if let Some(min) = field("MinAPIVersion").and_then(ApiVersion::parse) {
        if chosen < min {
            return Err(EngineError::Version(format!(
                "dockerd {engine} needs Engine API {min} or newer; this agent speaks up to {OURS}"
            )));
        }
    }
    Ok((chosen, engine))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn agrees_on_the_lower_version() {
        let body = br#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#;
        assert_eq!(agree(body).unwrap(), (ApiVersion(1, 41), "20.10.24".into()));
        let newer = br#"{"Version":"27.0","ApiVersion":"1.46","MinAPIVersion":"1.24"}"#;
        assert_eq!(agree(newer).unwrap().0, OURS);
        let older = br#"{"Version":"17.03","ApiVersion":"1.26","MinAPIVersion":"1.12"}"#;
        assert!(agree(older)
            .unwrap_err()
            .to_string()
            .contains("at least 1.30"));
        let strict = br#"{"Version":"99","ApiVersion":"1.60","MinAPIVersion":"1.50"}"#;
        assert!(agree(strict)
            .unwrap_err()
            .to_string()
            .contains("1.50 or newer"));
        assert!(agree(b"{}").is_err());
        assert_eq!(ApiVersion::parse("1.9"), Some(ApiVersion(1, 9)));
        assert!(ApiVersion(1, 9) < ApiVersion(1, 10));
        assert_eq!(ApiVersion(1, 41).prefix(), "/v1.41");
    }
}
