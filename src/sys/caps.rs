//! Linux capabilities through raw syscalls (capset, prctl): the sets a container's task keeps.

use std::fmt;
use std::io;

use super::cvt;

/// Capability names in kernel order (include/uapi/linux/capability.h): the index is the number.
const NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

pub const CAP_SYS_ADMIN: Capability = Capability(21);

/// One capability, by kernel number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability(u8);

impl Capability {
    /// A Mesos name (`NET_RAW`), also with the `CAP_` prefix, in any case.
    pub fn parse(name: &str) -> Result<Capability, String> {
        let upper = name.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        NAMES
            .iter()
            .position(|n| *n == bare)
            .and_then(|i| u8::try_from(i).ok())
            .map(Capability)
            .ok_or_else(|| format!("unknown capability '{name}'"))
    }

    pub fn name(&self) -> &'static str {
        NAMES.get(usize::from(self.0)).copied().unwrap_or("UNKNOWN")
    }

    pub fn number(&self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of capabilities as the kernel's 64-bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    pub fn of(caps: &[Capability]) -> CapSet {
        CapSet(caps.iter().fold(0, |m, c| m | (1u64 << c.0)))
    }

    pub fn contains(&self, cap: Capability) -> bool {
        self.0 & (1u64 << cap.0) != 0
    }

    pub fn is_subset_of(&self, other: CapSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Names, comma-separated, for messages.
    pub fn names(&self) -> String {
        (0..64u8)
            .filter(|i| self.0 & (1u64 << i) != 0)
            .map(|i| Capability(i).name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).
pub fn last_cap() -> io::Result<u32> {
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad cap_last_cap"))
}

const PR_CAPBSET_DROP: i32 = 24;
const PR_SET_SECUREBITS: i32 = 28;
const PR_CAP_AMBIENT: i32 = 47;
const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;
const CAPGET_VERSION_3: u32 = 0x2008_0522;

/// Keep the permitted set across the switch away from uid 0.
pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
/// uid 0 gets no capabilities for being uid 0 at exec: only what the sets say.
pub const SECBIT_NOROOT: u32 = 1 << 0;

/// Drops every capability up to `last` that `keep` lacks from the bounding set.
pub fn drop_bounding(keep: CapSet, last: u32) -> io::Result<()> {
    for cap in 0..=last.min(63) {
        if keep.0 & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments only.
            cvt(unsafe { libc::prctl(PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) })?;
        }
    }
    Ok(())
}

/// prctl(PR_SET_SECUREBITS).
pub fn set_securebits(bits: u32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(PR_SET_SECUREBITS, libc::c_ulong::from(bits), 0, 0, 0) })?;
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets effective, permitted and inheritable to `caps`, then the ambient set to `caps`, so
/// that the next exec keeps exactly them whatever the uid.
pub fn set_all(caps: CapSet) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPGET_VERSION_3,
        pid: 0,
    };
    let lo = caps.0 as u32;
    let hi = (caps.0 >> 32) as u32;
    let data = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: lo,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: hi,
        },
    ];
    // SAFETY: header and data are the kernel's v3 structs (two data elements), alive for the call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    } as i64)?;
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) })?;
    for cap in 0..64u32 {
        if caps.0 & (1u64 << cap) != 0 {
            // SAFETY: prctl with integer arguments only.
            cvt(unsafe {
                libc::prctl(
                    PR_CAP_AMBIENT,
                    PR_CAP_AMBIENT_RAISE,
                    libc::c_ulong::from(cap),
                    0,
                    0,
                )
            })?;
        }
    }
    Ok(())
}

/// The caller's effective set.
pub fn effective() -> io::Result<CapSet> {
    let mut header = CapHeader {
        version: CAPGET_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are the kernel's v3 structs (two data elements), alive for the call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    } as i64)?;
    Ok(CapSet(
        u64::from(data[0].effective) | (u64::from(data[1].effective) << 32),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_names() {
        assert_eq!(Capability::parse("CHOWN").unwrap().number(), 0);
        assert_eq!(Capability::parse("cap_net_raw").unwrap().number(), 13);
        assert_eq!(Capability::parse("CAP_SYS_ADMIN").unwrap(), CAP_SYS_ADMIN);
        assert_eq!(
            Capability::parse("CHECKPOINT_RESTORE").unwrap().number(),
            40
        );
        assert!(Capability::parse("FLY").is_err());
        assert_eq!(Capability::parse("NET_RAW").unwrap().to_string(), "NET_RAW");
    }

    #[test]
    fn test_sets() {
        let a = CapSet::of(&[Capability(0), Capability(13)]);
        assert_eq!(a.0, 1 | (1 << 13));
        assert!(a.contains(Capability(13)));
        assert!(!a.contains(Capability(12)));
        assert!(CapSet::of(&[Capability(0)]).is_subset_of(a));
        assert!(!a.is_subset_of(CapSet::of(&[Capability(0)])));
        assert_eq!(a.names(), "CHOWN,NET_RAW");
    }

    #[test]
    fn test_effective_reads() {
        // Whoever runs the tests has some effective set; reading it must work.
        assert!(effective().is_ok());
    }
}
