//! Marathon's identifiers: an app's path (`/web`, `/shop/cart`) and its tasks' IDs
//! (`web.5f3c0a9e...`, `shop_cart.…`), and the container ID a task runs as (the container
//! ID's rules forbid `.`, so the task ID's `.` becomes `_`; the mapping is checkpointed, never
//! parsed back).

use std::fmt;

use crate::containerizer::ContainerId;

/// Longest app path accepted: its task and container IDs (path + 33) must stay within the
/// container ID's bound and a cgroup name.
const MAX_PATH: usize = 200;

/// An app's absolute path, as Marathon normalises it: `web` and `/web/` are `/web`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(String);

impl AppId {
    /// Marathon's rule: segments of lowercase letters, digits, `-` and `.`, each beginning
    /// and ending with a letter or digit.
    pub fn parse(text: &str) -> Result<AppId, String> {
        let trimmed = text.trim_matches('/');
        if trimmed.is_empty() {
            return Err("An app id must not be empty".into());
        }
        if trimmed.len() > MAX_PATH {
            return Err(format!("An app id is at most {MAX_PATH} characters"));
        }
        for segment in trimmed.split('/') {
            if !valid_segment(segment) {
                return Err(format!(
                    "'{}' is not a valid app id: path segments are lowercase letters, digits, \
                     hyphens and dots, beginning and ending with a letter or digit",
                    text.escape_debug()
                ));
            }
        }
        Ok(AppId(format!("/{trimmed}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path without its leading `/`, segments joined by `_`: the stem of task IDs and of
    /// the app's checkpoint file.
    pub fn stem(&self) -> String {
        self.0[1..].replace('/', "_")
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_segment(s: &str) -> bool {
    // `.` and `..` are relative paths in Marathon; an app's own id never is one.
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.split('.').all(|part| {
        let mut chars = part.chars();
        match (chars.next(), part.chars().last()) {
            (Some(first), Some(last)) => {
                alnum(first) && alnum(last) && part.chars().all(|c| alnum(c) || c == '-')
            }
            _ => false,
        }
    })
}

/// A task (an app's instance), Marathon-style: `<stem>.<32 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(String);

impl TaskId {
    /// A new ID for an instance of `app`, unique from `nonce` (random bits and a counter).
    pub fn new(app: &AppId, nonce: u128) -> TaskId {
        TaskId(format!("{}.{nonce:032x}", app.stem()))
    }

    /// A task ID read back from a checkpoint or a request.
    pub fn from_string(s: String) -> TaskId {
        TaskId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The container it runs as.
    pub fn container_id(&self) -> Result<ContainerId, String> {
        ContainerId::parse(&self.0.replace('.', "_"))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Random bits for task IDs and deployment IDs: the kernel's, mixed with a counter so two
/// IDs made in one instant differ even if the random read failed.
#[derive(Debug, Default)]
pub struct Nonces {
    counter: u64,
}

impl Nonces {
    pub fn fresh(&mut self) -> u128 {
        self.counter = self.counter.wrapping_add(1);
        let mut bytes = [0u8; 16];
        if crate::sys::random::fill(&mut bytes).is_err() {
            bytes[..8].copy_from_slice(&crate::sys::random::now_nanos().to_le_bytes());
        }
        u128::from_le_bytes(bytes) ^ u128::from(self.counter)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_are_normalised_and_checked() {
        assert_eq!(AppId::parse("web").unwrap().as_str(), "/web");
        assert_eq!(AppId::parse("/shop/cart/").unwrap().as_str(), "/shop/cart");
        assert_eq!(AppId::parse("/shop/cart").unwrap().stem(), "shop_cart");
        assert_eq!(AppId::parse("a.b-c").unwrap().as_str(), "/a.b-c");
        for bad in [
            "", "/", "Web", "-web", "web-", "a..b", "a/./b", "we b", "a_b", "/a//b",
        ] {
            assert!(AppId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn task_ids_make_valid_container_ids() {
        let app = AppId::parse("/shop/cart.v2").unwrap();
        let task = TaskId::new(&app, 0xabc);
        assert_eq!(
            task.as_str(),
            "shop_cart.v2.00000000000000000000000000000abc"
        );
        assert_eq!(
            task.container_id().unwrap().as_str(),
            "shop_cart_v2_00000000000000000000000000000abc"
        );
        let mut n = Nonces::default();
        assert_ne!(n.fresh(), n.fresh());
    }
}
