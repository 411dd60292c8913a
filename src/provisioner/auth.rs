//! Registry authentication, the parts that are plain text: the `WWW-Authenticate` challenge, the
//! token request URL, and credentials from a docker `config.json` (`--docker_config`).

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Basic,
}

/// A parsed `WWW-Authenticate` header. Registries may omit `service` and `scope` (MESOS-10092).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: Scheme,
    pub realm: Option<String>,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Parses `Bearer realm="...",service="...",scope="..."` (or `Basic realm=...`). Values may be
/// quoted (with `\` escapes) or bare tokens; unknown parameters are ignored.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("basic") {
        Scheme::Basic
    } else {
        return None;
    };
    let params = parse_params(rest);
    let get = |name: &str| params.get(name).cloned();
    Some(Challenge {
        scheme,
        realm: get("realm"),
        service: get("service"),
        scope: get("scope"),
    })
}

fn parse_params(text: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if name.is_empty() {
            return params;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        params.insert(name, value);
    }
}

fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token endpoint URL for a Bearer challenge: `realm?service=..&scope=..`, each parameter
/// only when known. Without a scope in the challenge, pull access to `repository` is asked.
pub fn token_url(challenge: &Challenge, repository: &str) -> Option<String> {
    let realm = challenge.realm.as_deref()?;
    let mut query = Vec::new();
    if let Some(service) = &challenge.service {
        query.push(format!("service={}", percent_encode(service)));
    }
    let scope = challenge
        .scope
        .clone()
        .unwrap_or_else(|| format!("repository:{repository}:pull"));
    query.push(format!("scope={}", percent_encode(&scope)));
    let separator = if realm.contains('?') { '&' } else { '?' };
    Some(format!("{realm}{separator}{}", query.join("&")))
}

/// The token from a token endpoint's JSON answer (`token`, or OAuth2's `access_token`).
pub fn parse_token_response(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct TokenResponse {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
    }
    let response: TokenResponse = serde_json::from_slice(body).ok()?;
    response
        .token
        .or(response.access_token)
        .filter(|t| !t.is_empty())
}

/// The base64 `user:password` for `registry_host` (`host[:port]`) in a docker `config.json`
/// (`{"auths":{"<host or URL>":{"auth":"..."}}}`), ready for `Authorization: Basic`.
pub fn basic_credentials(config_json: &[u8], registry_host: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        auth: Option<String>,
    }
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        auths: HashMap<String, Entry>,
    }
    let config: Config = serde_json::from_slice(config_json).ok()?;
    let host_of = |key: &str| {
        let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
        without_scheme
            .split('/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let wanted = registry_host.to_ascii_lowercase();
    let docker_hub = ["registry-1.docker.io", "docker.io", "index.docker.io"];
    config.auths.iter().find_map(|(key, entry)| {
        let host = host_of(key);
        let matches = host == wanted
            || (docker_hub.contains(&host.as_str()) && docker_hub.contains(&wanted.as_str()));
        if matches {
            entry.auth.clone().filter(|a| !a.is_empty())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_all_or_some_parameters() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, Scheme::Bearer);
        assert_eq!(c.realm.as_deref(), Some("https://auth.docker.io/token"));
        assert_eq!(c.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(
            token_url(&c, "ignored").unwrap(),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull"
        );
        // MESOS-10092: neither service nor scope.
        let c = parse_challenge(r#"bearer realm="http://127.0.0.1:9/token""#).unwrap();
        assert_eq!((c.service.as_deref(), c.scope.as_deref()), (None, None));
        assert_eq!(
            token_url(&c, "library/x").unwrap(),
            "http://127.0.0.1:9/token?scope=repository%3Alibrary%2Fx%3Apull"
        );
        let c = parse_challenge(r#"Bearer realm=http://h/t?a=1, service = "s\"q""#).unwrap();
        assert_eq!(c.realm.as_deref(), Some("http://h/t?a=1"));
        assert_eq!(c.service.as_deref(), Some("s\"q"));
        assert!(token_url(&c, "r")
            .unwrap()
            .starts_with("http://h/t?a=1&service=s%22q&"));
        assert_eq!(
            parse_challenge(r#"Basic realm="r""#).unwrap().scheme,
            Scheme::Basic
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn tokens_and_credentials() {
        assert_eq!(
            parse_token_response(br#"{"token":"t1"}"#).as_deref(),
            Some("t1")
        );
        assert_eq!(
            parse_token_response(br#"{"access_token":"t2"}"#).as_deref(),
            Some("t2")
        );
        assert_eq!(parse_token_response(br#"{"token":""}"#), None);
        let config = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3"},
            "127.0.0.1:5000":{"auth":"dTpw"},"http://r.example:8080/x":{"auth":"eDp5"}}}"#;
        assert_eq!(
            basic_credentials(config, "127.0.0.1:5000").as_deref(),
            Some("dTpw")
        );
        assert_eq!(
            basic_credentials(config, "registry-1.docker.io").as_deref(),
            Some("aHViOnB3")
        );
        assert_eq!(
            basic_credentials(config, "r.example:8080").as_deref(),
            Some("eDp5")
        );
        assert_eq!(basic_credentials(config, "other:1"), None);
        assert_eq!(basic_credentials(b"not json", "x"), None);
    }
}
