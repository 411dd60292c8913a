//! Resource limits (setrlimit), by Mesos's RLimitInfo names.

use std::io;

use nix::sys::resource::{getrlimit, setrlimit, Resource as Raw};

/// A limit with no bound (RLIM_INFINITY).
pub const UNLIMITED: u64 = libc::RLIM_INFINITY;

/// Mesos's `RLimitInfo.RLimit.Type` names and the kernel's resource numbers.
const RESOURCES: &[(&str, Raw)] = &[
    ("RLMT_AS", Raw::RLIMIT_AS),
    ("RLMT_CORE", Raw::RLIMIT_CORE),
    ("RLMT_CPU", Raw::RLIMIT_CPU),
    ("RLMT_DATA", Raw::RLIMIT_DATA),
    ("RLMT_FSIZE", Raw::RLIMIT_FSIZE),
    ("RLMT_LOCKS", Raw::RLIMIT_LOCKS),
    ("RLMT_MEMLOCK", Raw::RLIMIT_MEMLOCK),
    ("RLMT_MSGQUEUE", Raw::RLIMIT_MSGQUEUE),
    ("RLMT_NICE", Raw::RLIMIT_NICE),
    ("RLMT_NOFILE", Raw::RLIMIT_NOFILE),
    ("RLMT_NPROC", Raw::RLIMIT_NPROC),
    ("RLMT_RSS", Raw::RLIMIT_RSS),
    ("RLMT_RTPRIO", Raw::RLIMIT_RTPRIO),
    ("RLMT_RTTIME", Raw::RLIMIT_RTTIME),
    ("RLMT_SIGPENDING", Raw::RLIMIT_SIGPENDING),
    ("RLMT_STACK", Raw::RLIMIT_STACK),
];

/// One kind of limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource(Raw);

impl Resource {
    pub fn parse(name: &str) -> Option<Resource> {
        RESOURCES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| Resource(*r))
    }

    pub fn name(&self) -> &'static str {
        RESOURCES
            .iter()
            .find(|(_, r)| *r == self.0)
            .map(|(n, _)| *n)
            .unwrap_or("RLMT_UNKNOWN")
    }
}

/// setrlimit(2).
pub fn set(resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
    setrlimit(resource.0, soft, hard)?;
    Ok(())
}

/// The soft limit on open files (getrlimit(2) of RLIMIT_NOFILE).
pub fn open_files_soft_limit() -> io::Result<u64> {
    let (soft, _hard) = getrlimit(Raw::RLIMIT_NOFILE)?;
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names() {
        let r = Resource::parse("RLMT_NOFILE");
        assert_eq!(r, Some(Resource(Raw::RLIMIT_NOFILE)));
        assert_eq!(r.map(|r| r.name()), Some("RLMT_NOFILE"));
        assert_eq!(Resource::parse("NOFILE"), None);
    }
}
