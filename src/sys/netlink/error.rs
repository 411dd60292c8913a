//! What went wrong talking to the kernel, with the request, the namespace and the interface it
//! concerns.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The request that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Opening the socket (in a namespace).
    Open,
    SetLinkUp,
    Links,
    Qdiscs,
}

impl Op {
    fn describe(self) -> &'static str {
        match self {
            Op::Open => "open a netlink socket",
            Op::SetLinkUp => "bring up a link",
            Op::Links => "list the links",
            Op::Qdiscs => "list the qdiscs",
        }
    }
}

#[derive(Debug)]
pub enum NetlinkError {
    /// A system call failed (`call`: socket, setns, send, recv, ...).
    Sys {
        op: Op,
        call: &'static str,
        netns: Option<PathBuf>,
        errno: i32,
    },
    /// The kernel refused the request: NLMSG_ERROR's code, as a positive errno.
    Kernel {
        op: Op,
        netns: Option<PathBuf>,
        ifname: Option<Cow<'static, str>>,
        errno: i32,
    },
    /// The kernel's answer did not parse (truncated, lengths out of bounds, ...).
    Malformed {
        op: Op,
        netns: Option<PathBuf>,
        what: &'static str,
    },
    /// No link of that name in the namespace.
    NoSuchLink {
        netns: Option<PathBuf>,
        ifname: String,
    },
    /// An interface name that is empty, longer than IFNAMSIZ - 1 bytes or has a NUL.
    BadName(String),
    /// A namespace path with a NUL byte.
    BadPath(PathBuf),
    /// The return to the agent's own network namespace after making a socket in `netns`
    /// failed: this thread is left in the wrong namespace.
    Restore { netns: PathBuf, errno: i32 },
}

impl NetlinkError {
    pub(super) fn sys(op: Op, call: &'static str, netns: Option<&Path>, e: &io::Error) -> Self {
        NetlinkError::Sys {
            op,
            call,
            netns: netns.map(Path::to_path_buf),
            errno: e.raw_os_error().unwrap_or(0),
        }
    }

    /// The errno of a failed call or of the kernel's refusal, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Sys { errno, .. }
            | NetlinkError::Kernel { errno, .. }
            | NetlinkError::Restore { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// " in network namespace <path>", or nothing for the agent's own.
struct In<'a>(&'a Option<PathBuf>);

impl fmt::Display for In<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, " in network namespace {}", p.display()),
            None => Ok(()),
        }
    }
}

/// strerror without io::Error's " (os error N)".
struct Errno(i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = io::Error::from_raw_os_error(self.0).to_string();
        f.write_str(s.split(" (os error").next().unwrap_or(&s))
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetlinkError::Sys {
                op,
                call,
                netns,
                errno,
            } => write!(
                f,
                "Failed to {}{}: {call}: {}",
                op.describe(),
                In(netns),
                Errno(*errno)
            ),
            NetlinkError::Kernel {
                op,
                netns,
                ifname,
                errno,
            } => {
                write!(f, "Failed to {}", op.describe())?;
                if let Some(name) = ifname {
                    write!(f, " '{name}'")?;
                }
                write!(f, "{}: {}", In(netns), Errno(*errno))
            }
            NetlinkError::Malformed { op, netns, what } => write!(
                f,
                "Failed to {}{}: malformed answer from the kernel ({what})",
                op.describe(),
                In(netns)
            ),
            NetlinkError::NoSuchLink { netns, ifname } => {
                write!(f, "No link '{ifname}'{}", In(netns))
            }
            NetlinkError::BadName(name) => write!(f, "Invalid interface name '{name}'"),
            NetlinkError::BadPath(p) => write!(f, "Namespace path {} has a NUL byte", p.display()),
            NetlinkError::Restore { netns, errno } => write!(
                f,
                "Failed to return to the agent's network namespace after opening a socket in {}: {}",
                netns.display(),
                Errno(*errno)
            ),
        }
    }
}

impl std::error::Error for NetlinkError {}
