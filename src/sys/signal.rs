//! Signal masks and dispositions, for the container init (which waits for signals
//! synchronously) and for every forked child (which must not keep the agent's handlers).

use std::io;
use std::mem::MaybeUninit;

use super::cvt;

/// A full signal set.
fn full_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set it is given.
    unsafe {
        libc::sigfillset(set.as_mut_ptr());
        set.assume_init()
    }
}

fn empty_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}

/// The signal mask a thread had before [`block_all_saving`].
#[derive(Clone, Copy)]
pub struct SavedMask(libc::sigset_t);

impl std::fmt::Debug for SavedMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SavedMask")
    }
}

/// Blocks every signal, returning the mask to [`restore`] afterwards.
pub fn block_all_saving() -> io::Result<SavedMask> {
    let set = full_set();
    let mut old = empty_set();
    // SAFETY: `set` is an initialised sigset and `old` a valid one for the kernel to overwrite.
    cvt(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, &mut old) })?;
    Ok(SavedMask(old))
}

/// Sets the mask back to `saved`. Allocates nothing (runs in a freshly cloned child). It
/// cannot fail: SIG_SETMASK with a valid set has no error case.
pub fn restore(saved: &SavedMask) {
    // SAFETY: `saved.0` is a sigset the kernel filled; the old mask is not wanted.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &saved.0, std::ptr::null_mut()) };
}

/// Blocks every signal in the calling thread.
pub fn block_all() -> io::Result<()> {
    let set = full_set();
    // SAFETY: `set` is an initialised sigset; the old mask is not wanted.
    cvt(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) })?;
    Ok(())
}

/// Unblocks every signal.
pub fn unblock_all() -> io::Result<()> {
    let set = empty_set();
    // SAFETY: as block_all.
    cvt(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) })?;
    Ok(())
}

/// The kernel's signal numbers run from 1 to 64 (`_NSIG`) on every Linux target we build for.
const KERNEL_NSIG: i32 = 64;

/// Restores the default disposition of every catchable signal (allocates nothing), dropping
/// the handlers a child inherited from the agent (signal-hook's, which would write to a socket
/// it no longer has) and the signals ignored by whoever started the agent (SIG_IGN survives
/// exec). This calls rt_sigaction directly: glibc's sigaction refuses signals 32 and 33 (its
/// own), which an agent may nevertheless have inherited as ignored.
pub fn reset_dispositions() {
    // The kernel's struct sigaction with everything zero: SIG_DFL, no flags, no restorer, an
    // empty mask. Where the architecture has no sa_restorer field, the mask moves up and the
    // last word is unused; zero either way.
    let default = [0u64; 4];
    for sig in 1..=KERNEL_NSIG {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `default` is a readable, zeroed kernel sigaction (SIG_DFL) at least as large
        // as the kernel's; the old action is not wanted (NULL); 8 is the kernel's sigset size.
        // Errors are impossible for these numbers and would be harmless.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
}

/// Waits for any signal (all must be blocked): returns its number.
pub fn wait_any() -> io::Result<i32> {
    let set = full_set();
    loop {
        // SAFETY: `set` is initialised; info may be NULL.
        let r = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if r >= 0 {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
