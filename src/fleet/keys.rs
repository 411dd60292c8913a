//! The fleet's keys in etcd, all under `--etcd_prefix` (P):
//!
//! | key | written by | lease | value |
//! |---|---|---|---|
//! | `P/nodes/<host>` | the node | its own | [`NodeRecord`](super::records::NodeRecord) |
//! | `P/leader` | the scheduler | its own | its hostname |
//! | `P/apps/<stem>` | any node's API | none | [`StoredApp`](super::records::StoredApp) |
//! | `P/assign/<host>/<stem>` | the scheduler | none | [`Assignment`](super::records::Assignment) |
//! | `P/status/<host>/<stem>` | the node | its own | the node's tasks of the app |
//! | `P/waiting/<stem>` | the scheduler | none | [`WaitingRecord`](super::records::WaitingRecord) |
//!
//! What lives under a node's lease vanishes with it; what the scheduler decided stays until
//! a scheduler changes it.

/// A key of the fleet, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Node(&'a str),
    Leader,
    App(&'a str),
    Assign { host: &'a str, stem: &'a str },
    Status { host: &'a str, stem: &'a str },
    Waiting(&'a str),
}

#[derive(Debug, Clone)]
pub struct Keys {
    /// With its trailing '/'.
    root: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            root: format!("{}/", prefix.trim_end_matches('/')),
        }
    }

    /// Every key of the fleet starts with this.
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn node(&self, host: &str) -> String {
        format!("{}nodes/{host}", self.root)
    }

    pub fn leader(&self) -> String {
        format!("{}leader", self.root)
    }

    pub fn app(&self, stem: &str) -> String {
        format!("{}apps/{stem}", self.root)
    }

    pub fn assign(&self, host: &str, stem: &str) -> String {
        format!("{}assign/{host}/{stem}", self.root)
    }

    pub fn status(&self, host: &str, stem: &str) -> String {
        format!("{}status/{host}/{stem}", self.root)
    }

    pub fn waiting(&self, stem: &str) -> String {
        format!("{}waiting/{stem}", self.root)
    }

    pub fn parse<'k>(&self, key: &'k str) -> Option<Key<'k>> {
        let rest = key.strip_prefix(self.root.as_str())?;
        if rest == "leader" {
            return Some(Key::Leader);
        }
        let (kind, rest) = rest.split_once('/')?;
        let pair = || {
            rest.split_once('/')
                .filter(|(h, s)| !h.is_empty() && !s.is_empty())
        };
        match kind {
            "nodes" if !rest.is_empty() => Some(Key::Node(rest)),
            "apps" if !rest.is_empty() => Some(Key::App(rest)),
            "waiting" if !rest.is_empty() => Some(Key::Waiting(rest)),
            "assign" => pair().map(|(host, stem)| Key::Assign { host, stem }),
            "status" => pair().map(|(host, stem)| Key::Status { host, stem }),
            _ => None,
        }
    }
}

/// Whether `name` can be a node's name in keys: no '/', nothing empty, printable.
pub fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = Keys::new("/fleet/");
        assert_eq!(k.node("a"), "/fleet/nodes/a");
        assert_eq!(k.parse(&k.node("a")), Some(Key::Node("a")));
        assert_eq!(k.parse(&k.leader()), Some(Key::Leader));
        assert_eq!(k.parse(&k.app("web")), Some(Key::App("web")));
        assert_eq!(
            k.parse(&k.assign("a", "web")),
            Some(Key::Assign {
                host: "a",
                stem: "web"
            })
        );
        assert_eq!(
            k.parse(&k.status("a", "web")),
            Some(Key::Status {
                host: "a",
                stem: "web"
            })
        );
        assert_eq!(k.parse(&k.waiting("web")), Some(Key::Waiting("web")));
        assert_eq!(k.parse("/fleet/assign/a"), None);
        assert_eq!(k.parse("/other/nodes/a"), None);
        assert_eq!(k.parse("/fleet/nodes/"), None);
    }

    #[test]
    fn hostnames_must_fit_in_a_key() {
        assert!(valid_hostname("node-a.example"));
        assert!(!valid_hostname("a/b"));
        assert!(!valid_hostname(""));
    }
}
