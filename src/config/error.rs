//! Errors of loading the agent's flags, each saying where the bad setting came from.

use std::fmt;
use std::path::PathBuf;

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    CommandLine,
    /// The environment variable's name, e.g. `MESOLITE_WORK_DIR`.
    Env(String),
    File {
        path: PathBuf,
        line: usize,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("built-in default"),
            Self::CommandLine => f.write_str("command line"),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

/// Why the flags could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// A name that is not a flag.
    UnknownFlag { source: Source, name: String },
    /// A value the flag's type does not accept.
    BadValue {
        source: Source,
        name: String,
        value: String,
        reason: String,
    },
    /// `--name` alone for a flag that is not boolean.
    MissingValue { name: String },
    /// `--no-name` for a flag that is not boolean, or `--no-name=value`.
    NotBoolean { name: String },
    /// A command-line word that is not `--name[=value]`.
    UnexpectedArgument(String),
    /// The same flag twice in one source.
    Duplicate { source: Source, name: String },
    /// A conf-file line that is not `name = value`, a comment or blank.
    Syntax {
        path: PathBuf,
        line: usize,
        text: String,
    },
    /// A flag that cannot be set from where it was set (`config` inside the conf file).
    NotAllowed { source: Source, name: String },
    /// The conf file could not be read.
    /// The conf file: missing, not a regular file (a FIFO never blocks the start), or larger
    /// than the bound.
    ReadConfig(crate::sys::bounded::ReadError),
    /// Values that are fine alone but not together, or a path that must be absolute.
    Invalid { name: &'static str, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFlag { source, name } => write!(f, "{source}: unknown flag '{name}'"),
            Self::BadValue {
                source,
                name,
                value,
                reason,
            } => write!(
                f,
                "{source}: bad value '{value}' for flag '{name}': {reason}"
            ),
            Self::MissingValue { name } => {
                write!(f, "command line: flag '--{name}' needs a value (--{name}=...)")
            }
            Self::NotBoolean { name } => write!(
                f,
                "command line: '--no-{name}' is only for boolean flags without a value"
            ),
            Self::UnexpectedArgument(arg) => {
                write!(f, "command line: unexpected argument '{arg}' (flags are --name=value)")
            }
            Self::Duplicate { source, name } => {
                write!(f, "{source}: flag '{name}' is given more than once")
            }
            Self::Syntax { path, line, text } => write!(
                f,
                "{}:{line}: cannot parse '{text}': expected 'name = value', a '#' comment or a blank line",
                path.display()
            ),
            Self::NotAllowed { source, name } => {
                write!(f, "{source}: flag '{name}' cannot be set here")
            }
            Self::ReadConfig(e) => write!(f, "failed to read conf file {e}"),
            Self::Invalid { name, reason } => write!(f, "flag '{name}': {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ReadConfig(e) => Some(e),
            _ => None,
        }
    }
}
