//! Errors of parsing and detecting resources.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a resource spec (text or JSON) was refused, or detection failed.
#[derive(Debug)]
pub enum ResourcesError {
    /// A text item that is not `name:value` or `name(role):value`.
    Syntax { item: String, reason: &'static str },
    /// A name other than cpus, mem, disk, ports.
    UnknownName(String),
    /// A role other than `*`: standalone resources are unreserved.
    Role { name: String, role: String },
    /// A scalar that is not a finite, non-negative number.
    BadScalar { name: &'static str, value: String },
    /// A port range that is malformed, out of 0-65535, or with begin > end.
    BadRange { name: &'static str, range: String },
    /// JSON that does not parse, or is not the expected shape.
    Json { reason: String },
    /// The JSON resources are not an array.
    NotAnArray,
    /// The value type does not match the name (`cpus` must be SCALAR, `ports` RANGES).
    WrongType {
        name: &'static str,
        expected: &'static str,
        found: String,
    },
    /// A `reservations`/`reservation` entry: standalone resources must be unreserved.
    Reserved { name: &'static str },
    /// `revocable` present: there is no revocable capacity on a standalone node.
    Revocable { name: &'static str },
    /// `disk.persistence` present: persistent volumes are not supported.
    Persistent { name: &'static str },
    /// A file under the proc dir could not be read.
    ReadProc { path: PathBuf, err: io::Error },
    /// A file under the proc dir does not hold what we look for.
    ParseProc { path: PathBuf, reason: &'static str },
    /// statvfs on the filesystem holding the work dir failed.
    Statvfs { path: PathBuf, err: io::Error },
}

impl fmt::Display for ResourcesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { item, reason } => write!(f, "bad resource '{item}': {reason}"),
            Self::UnknownName(name) => write!(
                f,
                "unknown resource '{name}' (known: cpus, mem, disk, ports)"
            ),
            Self::Role { name, role } => write!(
                f,
                "resource '{name}' has role '{role}': only unreserved resources (role '*') are supported"
            ),
            Self::BadScalar { name, value } => write!(
                f,
                "resource '{name}' has value '{value}': expected a non-negative number"
            ),
            Self::BadRange { name, range } => write!(
                f,
                "resource '{name}' has bad range '{range}': expected begin-end within 0-65535, begin <= end"
            ),
            Self::Json { reason } => write!(f, "bad resources JSON: {reason}"),
            Self::NotAnArray => write!(f, "bad resources JSON: expected an array of Resource objects"),
            Self::WrongType { name, expected, found } => write!(
                f,
                "resource '{name}' has type '{found}': expected {expected}"
            ),
            Self::Reserved { name } => write!(
                f,
                "resource '{name}' is reserved: only unreserved resources are supported"
            ),
            Self::Revocable { name } => {
                write!(f, "resource '{name}' is revocable: revocable resources are not supported")
            }
            Self::Persistent { name } => write!(
                f,
                "resource '{name}' is a persistent volume: persistent volumes are not supported"
            ),
            Self::ReadProc { path, err } => write!(f, "failed to read {}: {err}", path.display()),
            Self::ParseProc { path, reason } => {
                write!(f, "failed to parse {}: {reason}", path.display())
            }
            Self::Statvfs { path, err } => {
                write!(f, "failed to statvfs {}: {err}", path.display())
            }
        }
    }
}

impl std::error::Error for ResourcesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ReadProc { err, .. } | Self::Statvfs { err, .. } => Some(err),
            _ => None,
        }
    }
}
