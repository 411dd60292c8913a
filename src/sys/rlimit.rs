//! Resource limits (setrlimit), by Mesos's RLimitInfo names.

use std::io;

use super::cvt;

/// The C type of a resource number (glibc: an enum).
type Raw = libc::__rlimit_resource_t;

/// A limit with no bound (RLIM_INFINITY).
pub const UNLIMITED: u64 = libc::RLIM_INFINITY;

/// Mesos's `RLimitInfo.RLimit.Type` names and the kernel's resource numbers.
const RESOURCES: &[(&str, Raw)] = &[
    ("RLMT_AS", libc::RLIMIT_AS),
    ("RLMT_CORE", libc::RLIMIT_CORE),
    ("RLMT_CPU", libc::RLIMIT_CPU),
    ("RLMT_DATA", libc::RLIMIT_DATA),
    ("RLMT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLMT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLMT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLMT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLMT_NICE", libc::RLIMIT_NICE),
    ("RLMT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLMT_NPROC", libc::RLIMIT_NPROC),
    ("RLMT_RSS", libc::RLIMIT_RSS),
    ("RLMT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLMT_RTTIME", libc::RLIMIT_RTTIME),
    ("RLMT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLMT_STACK", libc::RLIMIT_STACK),
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
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit for the call; the resource number comes from libc.
    cvt(unsafe { libc::setrlimit(resource.0, &limit) })?;
    Ok(())
}

/// The soft limit on open files (getrlimit(2) of RLIMIT_NOFILE).
pub fn open_files_soft_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out pointer for the call.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names() {
        let r = Resource::parse("RLMT_NOFILE");
        assert_eq!(r, Some(Resource(libc::RLIMIT_NOFILE)));
        assert_eq!(r.map(|r| r.name()), Some("RLMT_NOFILE"));
        assert_eq!(Resource::parse("NOFILE"), None);
    }
}
