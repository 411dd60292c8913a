//! Processes: clone3 into namespaces (and straight into a cgroup), pidfds, waiting, signals,
//! and the calls a forked child makes before exec.

use std::convert::Infallible;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::unistd::{Gid, Uid};

use super::{cvt, cvt_retry, signal};

pub const CLONE_NEWNS: u64 = libc::CLONE_NEWNS as u64;
pub const CLONE_NEWPID: u64 = libc::CLONE_NEWPID as u64;
pub const CLONE_NEWIPC: u64 = libc::CLONE_NEWIPC as u64;
pub const CLONE_NEWUTS: u64 = libc::CLONE_NEWUTS as u64;
pub const CLONE_NEWNET: u64 = libc::CLONE_NEWNET as u64;
const CLONE_PIDFD: u64 = libc::CLONE_PIDFD as u64;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The kernel's `struct clone_args` (include/uapi/linux/sched.h), version 2 (with `cgroup`).
#[repr(C)]
#[derive(Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What `clone` returned on the parent's side.
#[derive(Debug)]
pub struct Cloned {
    pub pid: i32,
    /// None where the kernel has no pidfds (before 5.2/5.3): the caller falls back to SIGCHLD.
    pub pidfd: Option<OwnedFd>,
    /// True if the child was born in the requested cgroup (CLONE_INTO_CGROUP, Linux 5.7).
    pub in_cgroup: bool,
}

/// Which side of a clone we are on.
#[derive(Debug)]
enum CloneResult {
    Parent(Cloned),
    Child,
}

/// Clones a child process that runs `child` (which never returns, hence `Infallible`: it execs
/// or calls `exit_now`) into new namespaces (`ns_flags`, the CLONE_NEW* bits), with a pidfd, and on
/// cgroup v2 straight into the cgroup whose directory fd is `cgroup_fd`. Falls back to older
/// kernels: without clone3 a plain clone (no pidfd, no cgroup), without CLONE_INTO_CGROUP a
/// clone3 without it (`in_cgroup` false: the caller attaches the child).
///
/// Signals are handled as sudo-rs does around its fork: all are blocked before the clone, so no
/// handler of the agent's can run in the child; the parent restores its mask as soon as the
/// clone returns; the child first resets every disposition to SIG_DFL, then restores the mask,
/// then runs `child`.
///
/// Sound because mesolite's processes are single-threaded (see the module docs of `sys`): the
/// child, a copy of this process, may then run arbitrary code before exec.
pub fn clone_child<F: FnOnce() -> Infallible>(
    ns_flags: u64,
    cgroup_fd: Option<RawFd>,
    child: F,
) -> io::Result<Cloned> {
    let saved = signal::block_all_saving()?;
    // SAFETY: the process is single-threaded (module docs), and the child side never returns
    // from here: `run_child` ends in exec or `exit_now`.
    let cloned = unsafe { clone_raw(ns_flags, cgroup_fd) };
    match cloned {
        Ok(CloneResult::Child) => run_child(&saved, child),
        Ok(CloneResult::Parent(cloned)) => {
            signal::restore(&saved);
            Ok(cloned)
        }
        Err(e) => {
            signal::restore(&saved);
            Err(e)
        }
    }
}

/// Forks a child that runs `child` (which never returns), with the same signal handling as
/// [`clone_child`]: returns the child's pid.
pub fn fork_child<F: FnOnce() -> Infallible>(child: F) -> io::Result<i32> {
    let saved = signal::block_all_saving()?;
    // SAFETY: the process is single-threaded (module docs), and the child side never returns
    // from here.
    let pid = cvt(unsafe { libc::fork() });
    match pid {
        Ok(0) => run_child(&saved, child),
        other => {
            signal::restore(&saved);
            other
        }
    }
}

/// The child's side of a clone or fork: default dispositions, then the parent's mask, then
/// `child`. A panic (in a debug build; release aborts) must not unwind into the parent's
/// stack, so it ends the child too.
fn run_child<F: FnOnce() -> Infallible>(saved: &signal::SavedMask, child: F) -> ! {
    signal::reset_dispositions();
    signal::restore(saved);
    if let Ok(never) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)) {
        match never {}
    }
    exit_now(127)
}

/// # Safety
/// As for `fork`: single-threaded caller; the child must exec or `exit_now`.
unsafe fn clone_raw(ns_flags: u64, cgroup_fd: Option<RawFd>) -> io::Result<CloneResult> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: ns_flags | CLONE_PIDFD,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd).unwrap_or(0);
    }
    // SAFETY: `args` is a valid clone_args of the size passed; no stack is given so the child
    // continues on a copy of this stack, like fork. The caller upholds the single-thread rule.
    let mut ret = unsafe { clone3(&mut args) };
    let mut in_cgroup = cgroup_fd.is_some();
    if ret == -1 && cgroup_fd.is_some() {
        let err = io::Error::last_os_error().raw_os_error();
        if matches!(err, Some(libc::E2BIG) | Some(libc::EINVAL)) {
            // Kernel without CLONE_INTO_CGROUP (before 5.7).
            args.flags &= !CLONE_INTO_CGROUP;
            args.cgroup = 0;
            in_cgroup = false;
            // SAFETY: as above.
            ret = unsafe { clone3(&mut args) };
        }
    }
    if ret == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // Kernel without clone3 (before 5.3): legacy clone, fork-like, no pidfd.
        let flags = (ns_flags as libc::c_ulong) | libc::SIGCHLD as libc::c_ulong;
        // SAFETY: clone with a NULL stack behaves like fork; same contract as above.
        let r = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
        let pid = cvt(r)?;
        if pid == 0 {
            return Ok(CloneResult::Child);
        }
        return Ok(CloneResult::Parent(Cloned {
            pid: i32::try_from(pid).unwrap_or(-1),
            pidfd: None,
            in_cgroup: false,
        }));
    }
    let pid = cvt(ret)?;
    if pid == 0 {
        return Ok(CloneResult::Child);
    }
    let pidfd = if pidfd >= 0 {
        // SAFETY: the kernel returned a fresh pidfd owned by nobody else.
        Some(unsafe { OwnedFd::from_raw_fd(pidfd) })
    } else {
        None
    };
    Ok(CloneResult::Parent(Cloned {
        pid: i32::try_from(pid).unwrap_or(-1),
        pidfd,
        in_cgroup,
    }))
}

/// # Safety
/// `args` must be a valid `clone_args`; see `clone_child`.
unsafe fn clone3(args: &mut CloneArgs) -> libc::c_long {
    // SAFETY: the pointer and size describe `args`; the caller upholds the fork contract.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

/// Opens a pidfd for `pid` (Linux 5.3), close-on-exec.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(i32::try_from(fd).unwrap_or(-1)) })
}

/// Sends `sig` through a pidfd: never hits a recycled pid.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: pidfd is an open pidfd; info NULL means a plain kill-like signal.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })?;
    Ok(())
}

/// kill(2). A negative pid signals a process group.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    cvt(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// Sends `sig` to the process group `pgid`. Refuses (EINVAL) a `pgid` of 1 or less:
/// kill(2) would read 0 as the caller's own group and -1 as every process.
pub fn kill_group(pgid: i32, sig: i32) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    kill(-pgid, sig)
}

/// The session id and process group id of `pid` (getsid(2), getpgid(2)).
pub fn session_and_group(pid: i32) -> io::Result<(i32, i32)> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: getsid and getpgid take a pid and have no memory-safety preconditions.
    let sid = cvt(unsafe { libc::getsid(pid) })?;
    // SAFETY: as above.
    let pgid = cvt(unsafe { libc::getpgid(pid) })?;
    Ok((sid, pgid))
}

/// Makes the process `command` spawns die (SIGKILL) with the agent: a helper (fetcher, puller,
/// du) must not go on writing into the cache or the store behind a restarted agent. Containers
/// are never spawned this way: they outlive the agent.
pub fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the child between fork and exec and calls only prctl and
    // getppid, which are async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            set_parent_death_signal(parent)?;
            Ok(())
        });
    }
}

/// Asks for SIGKILL when the parent dies, then checks that `parent` is still the parent (it may
/// have died before the request, and then nothing would come).
fn set_parent_death_signal(parent: i32) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; the other arguments are unused.
    cvt(unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    })?;
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        return Err(io::Error::other("the parent is gone"));
    }
    Ok(())
}

/// The parent this process dies with, if `die_with_parent` armed it: a process that changes its
/// credentials (the fetcher becoming the task user) loses that, so it reads this first and calls
/// [`rearm_parent_death`] after.
pub fn armed_parent() -> Option<i32> {
    let mut sig: libc::c_int = 0;
    // SAFETY: PR_GET_PDEATHSIG writes one int through the pointer, which is valid.
    let ok = unsafe {
        libc::prctl(
            libc::PR_GET_PDEATHSIG,
            &mut sig as *mut libc::c_int,
            0,
            0,
            0,
        )
    };
    // SAFETY: getppid has no preconditions.
    (ok == 0 && sig != 0).then(|| unsafe { libc::getppid() })
}

/// Sets the death signal again for `parent` (from [`armed_parent`]).
pub fn rearm_parent_death(parent: i32) -> io::Result<()> {
    set_parent_death_signal(parent)
}

/// Reaps `pid` if it has ended: `Some(raw wait status)`, or `None` if it still runs.
pub fn try_wait(pid: i32) -> io::Result<Option<i32>> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out pointer; WNOHANG never blocks.
    let r = cvt_retry(|| unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) })?;
    Ok(if r == 0 { None } else { Some(status) })
}

/// Reaps any ended child: `Some((pid, status))`, `None` when none has ended.
pub fn try_wait_any() -> io::Result<Option<(i32, i32)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: as try_wait.
    let r = cvt_retry(|| unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) })?;
    Ok(if r == 0 { None } else { Some((r, status)) })
}

/// Blocks until `pid` ends (only in the container init, never in the agent's loop).
pub fn wait_blocking(pid: i32) -> io::Result<i32> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out pointer.
    cvt_retry(|| unsafe { libc::waitpid(pid, &mut status, 0) })?;
    Ok(status)
}

/// Ends the calling process at once, without running atexit handlers or flushing stdio
/// buffers inherited from the parent (the only correct way out of a forked child).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// setsid(2).
pub fn setsid() -> io::Result<()> {
    // SAFETY: no preconditions.
    cvt(unsafe { libc::setsid() })?;
    Ok(())
}

/// Makes the caller the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })?;
    Ok(())
}

/// Sets the process name shown by ps (PR_SET_NAME, 15 bytes).
pub fn set_name(name: &CStr) {
    // SAFETY: `name` is a valid C string; the kernel copies at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
}

/// The default CPU priority (nice 0) for this process: a container's init takes it back from
/// an agent that runs at a higher one (the systemd unit's `Nice=-5`), as it takes back the
/// default oom_score_adj. Best effort: a refusal leaves the priority as it was.
pub fn default_priority() {
    // SAFETY: setpriority on this process (who 0) with a plain value; no memory is passed.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 0) };
}

/// Lowers this process's CPU and I/O priority (nice 10, best-effort I/O at its lowest level):
/// for background work (the deleter) that must not take the agent's CPU or disk time.
/// Best effort: a kernel that refuses leaves the priority as it was.
pub fn lower_priority() {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_BEST_EFFORT_LOWEST: libc::c_int = (2 << 13) | 7;
    // SAFETY: setpriority on this process (who 0) with a plain value.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    // SAFETY: ioprio_set on this process (who 0) with a plain value; no memory is passed.
    unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            IOPRIO_BEST_EFFORT_LOWEST,
        )
    };
}

/// Changes to a user: supplementary groups, then gid, then uid (this order, since dropping the
/// uid first would forbid the rest).
pub fn switch_user(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
    // SAFETY: `groups` is a valid slice of gid_t for its length.
    cvt(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })?;
    let (gid, uid) = (Gid::from_raw(gid), Uid::from_raw(uid));
    nix::unistd::setresgid(gid, gid, gid)?;
    nix::unistd::setresuid(uid, uid, uid)?;
    Ok(())
}

/// sethostname(2) in the caller's UTS namespace.
pub fn set_hostname(name: &[u8]) -> io::Result<()> {
    nix::unistd::sethostname(std::ffi::OsStr::from_bytes(name))?;
    Ok(())
}

/// chdir(2).
pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a valid C string.
    cvt(unsafe { libc::chdir(path.as_ptr()) })?;
    Ok(())
}

/// execve(2): returns only on failure.
pub fn execve(
    path: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> io::Error {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to C strings that the caller
    // keeps alive across the call (see `CStringArray`).
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// A NULL-terminated array of C strings for execve, built before fork so the child allocates
/// nothing on its way to exec.
#[derive(Debug)]
pub struct CStringArray {
    items: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CStringArray {
    pub fn new(items: Vec<CString>) -> CStringArray {
        let mut ptrs: Vec<*const libc::c_char> = items.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStringArray { items, ptrs }
    }

    pub fn as_ptrs(&self) -> &[*const libc::c_char] {
        &self.ptrs
    }

    pub fn items(&self) -> &[CString] {
        &self.items
    }
}

/// The raw wait status of a process killed by `sig`, as waitpid reports it.
pub fn status_signaled(sig: i32) -> i32 {
    sig & 0x7f
}

/// Decodes a raw wait status: `(exit code, signal)`, one of which is set.
pub fn decode_status(status: i32) -> (Option<i32>, Option<i32>) {
    if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    }
}

/// True if pidfds work on this kernel (pidfd_open, Linux 5.3).
pub fn pidfds_supported() -> bool {
    pidfd_open(super::getpid()).is_ok()
}

/// Where this process's argv strings lie (`arg_start`, `arg_end` of `/proc/self/stat`): the
/// space [`set_cmdline`] may rewrite. The container init is a clone of the agent, so the agent
/// reads this once and every init uses it, without reading its own stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgvArea {
    start: usize,
    end: usize,
}

/// This process's [`ArgvArea`], from `<proc_dir>/self/stat`.
pub fn argv_area(proc_dir: &std::path::Path) -> Option<ArgvArea> {
    let stat = std::fs::read_to_string(proc_dir.join("self/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')': field 3 is index 0, so arg_start (48) and arg_end (49) are 45 and 46.
    let mut fields = rest.split_ascii_whitespace().skip(45);
    let start = fields.next()?.parse::<usize>().ok()?;
    let end = fields.next()?.parse::<usize>().ok()?;
    (end > start && start != 0).then_some(ArgvArea { start, end })
}

/// Rewrites this process's command line as `ps` shows it (setproctitle), within the space the
/// original argv strings occupied (`area`, read by this process or by the process it is a
/// clone of). Used by the container init, a clone of the agent, so that it is not listed as
/// `mesolite agent ...` (and caught by `pkill -f 'mesolite agent'`).
pub fn set_cmdline(area: ArgvArea, title: &str) {
    let len = area.end - area.start;
    let bytes = title.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: [arg_start, arg_end) is this process's own argv string area, on its stack and
    // writable: the kernel reported it for this process or for the one it was cloned from, at
    // the same addresses in the copy (`ArgvArea` has no other constructor than `argv_area`).
    // Nothing in the container init reads argv after this point, and the write stays within
    // the area (n < len, then zeros to len).
    unsafe {
        let p = area.start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, len - n);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn argv_area_of_this_process() {
        let area = argv_area(std::path::Path::new("/proc")).unwrap();
        assert!(area.end > area.start);
        assert!(argv_area(std::path::Path::new("/nonexistent")).is_none());
    }

    #[test]
    fn kill_group_refuses_every_process_and_our_own_group() {
        for pgid in [-1, 0, 1] {
            let err = kill_group(pgid, 0).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{pgid}");
        }
    }

    #[test]
    fn session_and_group_of_a_session_leader() {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("100").process_group(0);
        let mut child = cmd.spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let (_, pgid) = session_and_group(pid).unwrap();
        assert_eq!(pgid, pid);
        kill_group(pgid, libc::SIGKILL).unwrap();
        let _ = child.wait();
        assert!(session_and_group(0).is_err());
    }
}
