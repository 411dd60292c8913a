//! The small typed values of flags: enums with their Mesos spellings, and the cgroups root.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// `--containerizers` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Containerizer {
    Mesos,
    Docker,
}

impl Containerizer {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mesos => "mesos",
            Self::Docker => "docker",
        }
    }

    pub(super) fn parse_list(text: &str) -> Result<Vec<Containerizer>, String> {
        let mut list = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let containerizer = match name {
                "mesos" => Containerizer::Mesos,
                "docker" => Containerizer::Docker,
                other => return Err(format!("unknown containerizer '{other}'")),
            };
            if list.contains(&containerizer) {
                return Err(format!("duplicate containerizer '{name}'"));
            }
            list.push(containerizer);
        }
        if list.is_empty() {
            return Err("at least one containerizer is needed".to_string());
        }
        Ok(list)
    }
}

/// `--launcher`: how container processes are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// clone(2) with namespaces, processes tracked by cgroup.
    Linux,
    /// Plain fork/exec, processes tracked by session.
    Posix,
}

impl Launcher {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Posix => "posix",
        }
    }

    pub(super) fn parse(text: &str) -> Result<Launcher, String> {
        match text {
            "linux" => Ok(Self::Linux),
            "posix" => Ok(Self::Posix),
            _ => Err("expected 'linux' or 'posix'".to_string()),
        }
    }
}

/// `--container_logger`: where tasks' stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerLogger {
    /// Plain files in the sandbox (Mesos's default, the sandbox logger).
    Sandbox,
    /// Through a pipe to a logger process that rotates them (Mesos's logrotate module).
    Logrotate,
}

impl ContainerLogger {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Logrotate => "logrotate",
        }
    }

    /// Also Mesos's module name, so an agent's flags carry over.
    pub(super) fn parse(text: &str) -> Result<ContainerLogger, String> {
        match text {
            "sandbox" => Ok(Self::Sandbox),
            "logrotate" | "org_apache_mesos_LogrotateContainerLogger" => Ok(Self::Logrotate),
            _ => Err("expected 'sandbox' or 'logrotate'".to_string()),
        }
    }
}

/// `--recover`: what to do at start with containers left by a previous agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recover {
    Reconnect,
    Cleanup,
}

impl Recover {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reconnect => "reconnect",
            Self::Cleanup => "cleanup",
        }
    }

    pub(super) fn parse(text: &str) -> Result<Recover, String> {
        match text {
            "reconnect" => Ok(Self::Reconnect),
            "cleanup" => Ok(Self::Cleanup),
            _ => Err("expected 'reconnect' or 'cleanup'".to_string()),
        }
    }
}

/// `--logging_level`: Mesos's INFO, WARNING, ERROR, plus DEBUG and TRACE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoggingLevel {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
}

impl LoggingLevel {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
        }
    }

    /// Case-insensitive, as glog's level names are usually written either way.
    pub(super) fn parse(text: &str) -> Result<LoggingLevel, String> {
        match text.to_ascii_uppercase().as_str() {
            "TRACE" => Ok(Self::Trace),
            "DEBUG" => Ok(Self::Debug),
            "INFO" => Ok(Self::Info),
            "WARNING" => Ok(Self::Warning),
            "ERROR" => Ok(Self::Error),
            _ => Err("expected one of TRACE, DEBUG, INFO, WARNING, ERROR".to_string()),
        }
    }

    pub fn to_level_filter(&self) -> log::LevelFilter {
        match self {
            Self::Trace => log::LevelFilter::Trace,
            Self::Debug => log::LevelFilter::Debug,
            Self::Info => log::LevelFilter::Info,
            Self::Warning => log::LevelFilter::Warn,
            Self::Error => log::LevelFilter::Error,
        }
    }
}

/// `--cgroups_root`: a relative path without `..`, so every container cgroup stays under
/// `<hierarchy>/<root>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupsRoot(PathBuf);

impl CgroupsRoot {
    pub(super) fn parse(text: &str) -> Result<CgroupsRoot, String> {
        let path = Path::new(text);
        if text.is_empty() {
            return Err("must not be empty".to_string());
        }
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err("must be a relative path without '..' or '.'".to_string());
        }
        Ok(CgroupsRoot(path.to_path_buf()))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for CgroupsRoot {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for CgroupsRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_containerizers() {
        assert_eq!(
            Containerizer::parse_list("mesos"),
            Ok(vec![Containerizer::Mesos])
        );
        assert_eq!(
            Containerizer::parse_list("docker, mesos"),
            Ok(vec![Containerizer::Docker, Containerizer::Mesos])
        );
        assert!(Containerizer::parse_list("lxc")
            .unwrap_err()
            .contains("unknown"));
        assert!(Containerizer::parse_list("mesos,mesos")
            .unwrap_err()
            .contains("duplicate"));
        assert!(Containerizer::parse_list("").is_err());
    }

    #[test]
    fn test_logging_level_is_case_insensitive() {
        assert_eq!(LoggingLevel::parse("warning"), Ok(LoggingLevel::Warning));
        assert_eq!(LoggingLevel::parse("Debug"), Ok(LoggingLevel::Debug));
        assert!(LoggingLevel::parse("WARN").is_err());
        assert_eq!(
            LoggingLevel::Warning.to_level_filter(),
            log::LevelFilter::Warn
        );
    }

    #[test]
    fn test_cgroups_root() {
        assert_eq!(
            CgroupsRoot::parse("mesolite").unwrap().to_string(),
            "mesolite"
        );
        assert_eq!(
            CgroupsRoot::parse("a/b").unwrap().as_path(),
            Path::new("a/b")
        );
        assert!(CgroupsRoot::parse("/mesolite").is_err());
        assert!(CgroupsRoot::parse("a/../b").is_err());
        assert!(CgroupsRoot::parse("..").is_err());
        assert!(CgroupsRoot::parse("").is_err());
    }
}
