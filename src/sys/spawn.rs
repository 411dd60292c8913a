//! The container's task is spawned posix_spawn-style: `clone(CLONE_VM | CLONE_VFORK)` on a
//! stack of its own. Nothing of the init is copied (no page tables, no copy-on-write faults in
//! the init afterwards), and the init sleeps until the task has exec'd or given up.
//!
//! The child runs in the init's memory, so, as in glibc's posix_spawn, what it runs is fixed
//! here and nowhere else: [`ExecPlan`] is data the init prepared before the clone (paths,
//! argv, limits, BPF), the child only makes raw syscalls with it, and the caller cannot hand it
//! code. What the child must not do, and does not:
//! * allocate or free: the heap is the init's (and so are the allocator's thread-local caches);
//! * drop, move or write anything of the init's but the [`Slot`] it reports in;
//! * panic or unwind: nothing it calls can panic (no indexing, no unwrap, no formatting); a
//!   panic anyway (a bug) aborts in the `extern "C"` entry, killing only the child;
//! * return: it ends in `execve` or `_exit`, never back into the init's frames;
//! * run a signal handler of the caller's: every signal is blocked across the clone, and the
//!   child sets every disposition to SIG_DFL before it unblocks them (its dispositions are its
//!   own without CLONE_SIGHAND), so a signal acts on it by default only. A caller whose
//!   dispositions are all SIG_DFL already (the container's init: its own clone reset them, and
//!   it waits for signals synchronously) says so in [`ExecPlan::dispositions`], and the child
//!   skips the 62 syscalls of the reset, which run while the caller is suspended.
//!
//! Other threads (the tests run on several; the agent and its inits have one) are no concern:
//! the child reads only the plan, which the caller borrows immutably for the whole call, and
//! writes only its slot. It shares `errno` with the calling thread (glibc keeps it in the
//! thread's TLS, which CLONE_VM without CLONE_SETTLS shares): the caller reads it only right
//! after a failed call of its own.
//! Without CLONE_FILES, CLONE_FS, CLONE_SIGHAND and CLONE_THREAD the child has its own
//! descriptor table, working directory, signal dispositions and resource limits, so its dup2,
//! chdir and setrlimit do not touch the init; credentials, capabilities, securebits,
//! no_new_privs and seccomp are per task. One shared effect: switching the uid marks the
//! shared memory non-dumpable (as the kernel does on any credential change), so the init,
//! already root, is non-dumpable from then on, as a forked task was itself.

use std::ffi::{c_void, CString};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};

use super::caps::{self, CapSet};
use super::process::{self, CStringArray};
use super::rlimit::{self, Resource};
use super::seccomp::{self, Program};
use super::{cvt, fd, signal};

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RLimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

/// The capabilities the task keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Caps {
    /// The bounding set: everything else is dropped from it (`None`: unchanged).
    pub bounding: Option<CapSet>,
    /// The task's effective, permitted, inheritable and ambient sets, whatever its uid.
    pub effective: Option<CapSet>,
    /// The highest capability of this kernel.
    pub last_cap: u32,
}

/// What the task's process does between the clone and the exec, in this order: signals
/// unblocked, stdio, working directory, limits and the bounding set (while it may still raise
/// them), the user, then privileges last (capabilities, no_new_privs, seccomp, which must come
/// after every other syscall it might forbid).
#[derive(Debug)]
pub struct ExecPlan<'a> {
    /// Whether the child must reset the caller's signal dispositions.
    pub dispositions: Dispositions,
    /// Descriptors for the task's fds 0, 1 and 2; -1 leaves that one as it is.
    pub stdio: [RawFd; 3],
    pub cwd: &'a CString,
    pub rlimits: &'a [RLimit],
    pub caps: Option<Caps>,
    /// uid, gid, supplementary groups.
    pub user: Option<(u32, u32, &'a [u32])>,
    pub no_new_privs: bool,
    pub seccomp: Option<&'a Program>,
    /// The paths to try in turn, as execvp tries the directories of PATH.
    pub programs: &'a [CString],
    pub argv: &'a CStringArray,
    pub envp: &'a CStringArray,
}

/// The caller's signal dispositions, as the child finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispositions {
    /// Handlers or ignored signals may be set: the child resets every one to SIG_DFL.
    Reset,
    /// Every one is SIG_DFL: nothing to reset. Only a caller that installed no handler and
    /// ignores no signal since its dispositions were last reset may say so.
    AllDefault,
}

/// The step of an [`ExecPlan`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Signals,
    Stdio,
    Chdir,
    /// The limit at this index of `rlimits`.
    RLimit(usize),
    DropBounding,
    SecureBits,
    SwitchUser,
    SetCaps,
    NoNewPrivs,
    Seccomp,
    /// Every path of `programs` failed; the error is the most telling (as execvp's).
    Exec,
}

/// Why the task could not be exec'd.
#[derive(Debug)]
pub struct Failure {
    pub step: Step,
    pub error: io::Error,
}

/// Where the child reports a failed step: atomics, so that the init's reads after the clone
/// returns see the child's writes (the kernel resumes the init only once the child has exec'd
/// or exited) without the compiler assuming that nothing changed them.
#[derive(Debug, Default)]
struct Slot {
    /// 0: nothing failed; else `code(step)`.
    step: AtomicU32,
    index: AtomicUsize,
    errno: AtomicI32,
}

impl Step {
    fn code(self) -> (u32, usize) {
        match self {
            Step::Signals => (1, 0),
            Step::Stdio => (2, 0),
            Step::Chdir => (3, 0),
            Step::RLimit(i) => (4, i),
            Step::DropBounding => (5, 0),
            Step::SecureBits => (6, 0),
            Step::SwitchUser => (7, 0),
            Step::SetCaps => (8, 0),
            Step::NoNewPrivs => (9, 0),
            Step::Seccomp => (10, 0),
            Step::Exec => (11, 0),
        }
    }

    fn from_code(code: u32, index: usize) -> Option<Step> {
        Some(match code {
            1 => Step::Signals,
            2 => Step::Stdio,
            3 => Step::Chdir,
            4 => Step::RLimit(index),
            5 => Step::DropBounding,
            6 => Step::SecureBits,
            7 => Step::SwitchUser,
            8 => Step::SetCaps,
            9 => Step::NoNewPrivs,
            10 => Step::Seccomp,
            11 => Step::Exec,
            _ => return None,
        })
    }
}

/// What the child reads: the plan, and where to report.
struct Shared<'a> {
    plan: &'a ExecPlan<'a>,
    slot: Slot,
}

/// The child's stack: enough for the few frames of [`run`] and the libc calls under it, most of
/// it never touched (so never backed by memory), with a guard page below, so that an overflow
/// faults instead of writing into whatever the init has mapped there.
const STACK_SIZE: usize = 256 * 1024;

struct Stack {
    base: *mut c_void,
    len: usize,
}

impl Stack {
    fn new() -> io::Result<Stack> {
        let page = usize::try_from(super::page_size().unwrap_or(4096)).unwrap_or(4096);
        let len = STACK_SIZE + page;
        // SAFETY: a fresh private anonymous mapping; no memory of ours is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base, len };
        // SAFETY: the lowest page of the mapping just made, which nothing uses yet.
        cvt(unsafe { libc::mprotect(base, page, libc::PROT_NONE) })?;
        Ok(stack)
    }

    /// The initial stack pointer (stacks grow down on every target we build for); page-aligned,
    /// so 16-byte aligned as the ABIs want.
    fn top(&self) -> *mut c_void {
        self.base.cast::<u8>().wrapping_add(self.len).cast()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; the child that used it has exec'd or exited (the
        // clone returned only then), so nothing runs on it.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Spawns the task as the plan says: `Ok((pid, None))` once it has exec'd (or was killed
/// before it could: its exit status tells), `Ok((pid, Some(failure)))` if a step failed (the
/// child has exited 127 and is left to reap), `Err` if no child could be made.
///
/// The caller's signal mask is restored when this returns.
pub fn spawn(plan: &ExecPlan<'_>) -> io::Result<(i32, Option<Failure>)> {
    let stack = Stack::new()?;
    let shared = Shared {
        plan,
        slot: Slot::default(),
    };
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    let saved = signal::block_all_saving()?;
    // SAFETY: `child_main` is the whole of what the child runs (see the module docs for why it
    // is sound in memory it shares with us); `stack` is a writable mapping with a guard page,
    // `top()` its initial stack pointer; `shared` outlives the child's use of it because
    // CLONE_VFORK suspends us until the child has exec'd or exited, and both it and the stack
    // are dropped only after this returns.
    let pid = cvt(unsafe {
        libc::clone(
            child_main,
            stack.top(),
            flags,
            std::ptr::addr_of!(shared).cast_mut().cast(),
        )
    });
    signal::restore(&saved);
    let pid = pid?;
    drop(stack);
    let code = shared.slot.step.load(Ordering::SeqCst);
    let index = shared.slot.index.load(Ordering::SeqCst);
    let failure = Step::from_code(code, index).map(|step| Failure {
        step,
        error: io::Error::from_raw_os_error(shared.slot.errno.load(Ordering::SeqCst)),
    });
    Ok((pid, failure))
}

/// The child's entry point, on its own stack.
extern "C" fn child_main(arg: *mut c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` that `spawn` passed, alive until we exec or exit (the
    // parent sleeps meanwhile); we only read it, but for the slot's atomics.
    let shared = unsafe { &*arg.cast::<Shared<'_>>() };
    // Before any signal can be delivered: none of the caller's handlers may run here.
    if shared.plan.dispositions == Dispositions::Reset {
        signal::reset_dispositions();
    }
    let (step, errno) = run(shared.plan);
    let (code, index) = step.code();
    shared.slot.index.store(index, Ordering::SeqCst);
    shared.slot.errno.store(errno, Ordering::SeqCst);
    shared.slot.step.store(code, Ordering::SeqCst);
    process::exit_now(127)
}

/// The plan's steps; returns only on failure, with the step and its errno. Every call here is
/// a raw syscall on borrowed data whose error is an `io::Error` of the OS kind (no allocation,
/// nothing to free).
fn run(plan: &ExecPlan<'_>) -> (Step, i32) {
    let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let step = |step: Step| move |e: io::Error| (step, errno(e));
    let steps = || -> Result<(), (Step, i32)> {
        signal::unblock_all().map_err(step(Step::Signals))?;
        for (to, from) in (0..).zip(plan.stdio) {
            if from >= 0 {
                fd::dup2(from, to).map_err(step(Step::Stdio))?;
            }
        }
        process::chdir(plan.cwd).map_err(step(Step::Chdir))?;
        for (i, l) in plan.rlimits.iter().enumerate() {
            rlimit::set(l.resource, l.soft, l.hard).map_err(step(Step::RLimit(i)))?;
        }
        if let Some(c) = &plan.caps {
            if let Some(bounding) = c.bounding {
                caps::drop_bounding(bounding, c.last_cap).map_err(step(Step::DropBounding))?;
            }
            if c.effective.is_some() {
                // Keep the permitted set over setuid; and uid 0 gets nothing at exec for being
                // uid 0, so a root task too keeps exactly the chosen set.
                caps::set_securebits(caps::SECBIT_KEEP_CAPS | caps::SECBIT_NOROOT)
                    .map_err(step(Step::SecureBits))?;
            }
        }
        if let Some((uid, gid, groups)) = plan.user {
            process::switch_user(uid, gid, groups).map_err(step(Step::SwitchUser))?;
        }
        if let Some(effective) = plan.caps.and_then(|c| c.effective) {
            caps::set_all(effective).map_err(step(Step::SetCaps))?;
        }
        if plan.no_new_privs {
            seccomp::set_no_new_privs().map_err(step(Step::NoNewPrivs))?;
        }
        if let Some(program) = plan.seccomp {
            // The kernel takes a filter only under no_new_privs or from CAP_SYS_ADMIN.
            let admin = caps::effective().is_ok_and(|e| e.contains(caps::CAP_SYS_ADMIN));
            if !admin && !plan.no_new_privs {
                seccomp::set_no_new_privs().map_err(step(Step::NoNewPrivs))?;
            }
            seccomp::install(program).map_err(step(Step::Seccomp))?;
        }
        Ok(())
    };
    if let Err(failed) = steps() {
        return failed;
    }
    let (argv, envp) = (plan.argv.as_ptrs(), plan.envp.as_ptrs());
    let mut best = libc::ENOENT;
    for path in plan.programs {
        let err = errno(process::execve(path, argv, envp));
        // As execvp: a permission problem is more telling than "not found" elsewhere.
        if err == libc::EACCES || best == libc::ENOENT {
            best = err;
        }
    }
    (Step::Exec, best)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn step_codes_round_trip() {
        let steps = [
            Step::Signals,
            Step::Stdio,
            Step::Chdir,
            Step::RLimit(3),
            Step::DropBounding,
            Step::SecureBits,
            Step::SwitchUser,
            Step::SetCaps,
            Step::NoNewPrivs,
            Step::Seccomp,
            Step::Exec,
        ];
        for step in steps {
            let (code, index) = step.code();
            assert_ne!(code, 0, "0 means nothing failed");
            assert_eq!(Step::from_code(code, index), Some(step));
        }
        assert_eq!(Step::from_code(0, 0), None);
    }

    fn plan_for<'a>(
        programs: &'a [CString],
        cwd: &'a CString,
        argv: &'a CStringArray,
        envp: &'a CStringArray,
    ) -> ExecPlan<'a> {
        ExecPlan {
            dispositions: Dispositions::Reset,
            stdio: [-1, -1, -1],
            cwd,
            rlimits: &[],
            caps: None,
            user: None,
            no_new_privs: false,
            seccomp: None,
            programs,
            argv,
            envp,
        }
    }

    fn exit_code(pid: i32) -> Option<i32> {
        process::decode_status(process::wait_blocking(pid).unwrap()).0
    }

    #[test]
    fn spawns_and_reports_the_failed_step() {
        let argv = CStringArray::new(vec![c"sh".into(), c"-c".into(), c"exit 7".into()]);
        let envp = CStringArray::new(Vec::new());
        let root = CString::from(c"/");
        // The first path fails; as execvp, the next is tried.
        let programs = [CString::from(c"/nonexistent/sh"), CString::from(c"/bin/sh")];
        let (pid, failure) = spawn(&plan_for(&programs, &root, &argv, &envp)).unwrap();
        assert!(failure.is_none(), "{failure:?}");
        assert_eq!(exit_code(pid), Some(7));

        let missing = [CString::from(c"/nonexistent/sh")];
        let (pid, failure) = spawn(&plan_for(&missing, &root, &argv, &envp)).unwrap();
        let failure = failure.unwrap();
        assert_eq!(failure.step, Step::Exec);
        assert_eq!(failure.error.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(exit_code(pid), Some(127));

        let nowhere = CString::from(c"/nonexistent");
        let (pid, failure) = spawn(&plan_for(&programs, &nowhere, &argv, &envp)).unwrap();
        assert_eq!(failure.unwrap().step, Step::Chdir);
        assert_eq!(exit_code(pid), Some(127));
    }

    #[test]
    fn a_bad_limit_names_its_index() {
        let argv = CStringArray::new(vec![c"true".into()]);
        let envp = CStringArray::new(Vec::new());
        let root = CString::from(c"/");
        let programs = [CString::from(c"/bin/true")];
        let nofile = Resource::parse("RLMT_NOFILE").unwrap();
        // soft above hard: EINVAL whoever asks.
        let rlimits = [
            RLimit {
                resource: nofile,
                soft: 64,
                hard: 64,
            },
            RLimit {
                resource: nofile,
                soft: 65,
                hard: 64,
            },
        ];
        let plan = ExecPlan {
            rlimits: &rlimits,
            ..plan_for(&programs, &root, &argv, &envp)
        };
        let (pid, failure) = spawn(&plan).unwrap();
        let failure = failure.unwrap();
        assert_eq!(failure.step, Step::RLimit(1));
        assert_eq!(failure.error.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(exit_code(pid), Some(127));
    }
}
