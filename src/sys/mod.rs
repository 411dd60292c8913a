//! The OS layer: every libc call of the agent lives below this module, each `unsafe` block with a
//! `SAFETY:` comment. Everything above calls the safe, typed functions exported here.
//!
//! Through `nix` (its safe wrappers; none of them allocates for the `&CStr`/slice arguments
//! used between clone and exec): mount, umount2, pivot_root, sethostname, setresuid/setresgid,
//! signal masks (sigprocmask), SO_PEERCRED, getpwnam_r/getgrnam_r/getgrouplist (`User`,
//! `Group`), getrlimit/setrlimit, geteuid.
//!
//! Raw libc, where nix has nothing or does not fit:
//! * clone3 (CLONE_INTO_CGROUP, CLONE_PIDFD), pidfd_open, pidfd_send_signal, close_range,
//!   quotactl (XFS project quotas), seccomp, capabilities, prctl, inotify, eventfd,
//!   perf_event_open, poll of one fd for POLLPRI: no nix API.
//! * kill and sigwaitinfo: nix's `Signal` enum has no real-time signals, which the init
//!   forwards to the task; the disposition reset calls rt_sigaction itself (glibc's refuses
//!   signals 32 and 33, see `signal::reset_dispositions`).
//! * setgroups: nix's takes `&[Gid]`, and the child that calls it holds `&[u32]` and must not
//!   allocate a converted copy.
//! * clone(CLONE_VM | CLONE_VFORK) with mmap'd stacks (`spawn`, the container's task: nix's
//!   clone takes a closure, and the child here must run fixed code, see that module).
//! * fork, execve, waitpid, _exit, pipe2, dup2, read/write/open/openat, renameat, flock,
//!   fcntl: on the path between clone and exec, on raw descriptors (nix's take `AsFd`), or
//!   plain enough that a wrapper would add nothing.
//! * openat2 (`RESOLVE_IN_ROOT` for an image's own files, `RESOLVE_BENEATH` for a sandbox's):
//!   no nix API.
//! * openat/unlinkat/renameat2/statx on directory descriptors for tree removal
//!   (`tree`): relative to descriptors, never following a symlink.
//! * statfs/statvfs, mknod, xattrs, FICLONE, sysconf, chown: small, already typed here.
//! * setns into a container's namespaces (`ns`, for a health check's command): nix's is
//!   behind its `sched` feature, not enabled for one call.
//!
//! `process::clone_child` and `process::fork_child` are safe functions because of one
//! invariant of the whole crate: the agent and its container inits never start a thread (one
//! mio loop; slow work goes to child processes), so a forked child may run arbitrary code
//! before exec. Their child closures return `Infallible`: they exec or call `exit_now`, and
//! never unwind back into the parent's stack.

pub mod bounded;
pub mod caps;
pub mod fd;
pub mod fs;
pub mod inroot;
pub mod mount;
pub mod mountinfo;
pub mod netlink;
pub mod notify;
pub mod ns;
pub mod open;
pub mod perf;
pub mod process;
pub mod quota;
pub mod random;
pub mod rlimit;
pub mod seccomp;
mod seccomp_x86_64;
pub mod signal;
pub mod socket;
pub mod spawn;
pub mod tree;
pub mod user;
pub mod worker;

use std::io;

/// Turns a C return value into an `io::Result`, reading `errno` on `-1`.
pub(crate) fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Retries a call interrupted by a signal.
pub(crate) fn cvt_retry<T: IsMinusOne, F: FnMut() -> T>(mut f: F) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

pub(crate) trait IsMinusOne {
    fn is_minus_one(&self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ident)*) => ($(impl IsMinusOne for $t {
        fn is_minus_one(&self) -> bool { *self == -1 }
    })*)
}
impl_is_minus_one! { i32 i64 isize }

/// The current process id.
pub fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf takes an integer name and touches no memory of ours.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// Clock ticks per second (USER_HZ, the unit of /proc stat times and v1 `cpuacct.stat`);
/// `None` if sysconf does not know it.
pub fn clock_ticks() -> Option<u64> {
    sysconf(libc::_SC_CLK_TCK)
}

/// The page size in bytes, if sysconf knows it.
pub fn page_size() -> Option<u64> {
    sysconf(libc::_SC_PAGESIZE)
}

/// The number of online CPUs, if sysconf knows it.
pub fn online_cpus() -> Option<u64> {
    sysconf(libc::_SC_NPROCESSORS_ONLN)
}

/// The CPU time the calling thread has used (kernel and user), to tell an iteration of the
/// loop that worked long from one that was only preempted.
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a writable timespec; CLOCK_THREAD_CPUTIME_ID exists on every kernel we
    // run on, and on a failure `ts` stays zero.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Seconds since the epoch, as Mesos's `timestamp` fields.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
