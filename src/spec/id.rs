//! Container IDs, validated as Mesos validates them (`src/slave/validation.cpp`).

use std::fmt;

/// Mesos's MAX_CONTAINER_ID_LENGTH.
const MAX_LEN: usize = 242;

/// A validated container ID: safe as a path component and a cgroup name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(String);

impl ContainerId {
    /// Validates an ID: non-empty, at most 242 bytes, not `.`/`..`, no `/`, `\`, `.`, space or
    /// control characters (Mesos rejects `.` so IDs never look like hidden files or `..`).
    pub fn parse(s: &str) -> Result<ContainerId, String> {
        if s.is_empty() {
            return Err("ContainerID must not be empty".into());
        }
        if s.len() > MAX_LEN {
            return Err(format!(
                "ContainerID '{s}' is longer than {MAX_LEN} characters"
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| matches!(c, '/' | '\\' | '.' | ' ') || c.is_control())
        {
            return Err(format!(
                "ContainerID '{}' contains invalid character {c:?}",
                s.escape_debug()
            ));
        }
        Ok(ContainerId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::ContainerId;

    #[test]
    fn accepts_mesos_style_ids() {
        for ok in ["web-1", "f0f97041-1860-4b4a-b279-91fec4e0ebd8", "a_b"] {
            assert!(ContainerId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_mesos_rejects() {
        let long = "x".repeat(243);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a.b",
            "a b",
            "a\nb",
            long.as_str(),
        ] {
            assert!(ContainerId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
