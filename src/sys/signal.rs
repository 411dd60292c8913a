//! Signal masks and dispositions, for the container init (which waits for signals
//! synchronously) and for every forked child (which must not keep the agent's handlers).

use std::io;

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};

/// The signal mask a thread had before [`block_all_saving`].
#[derive(Debug, Clone, Copy)]
pub struct SavedMask(SigSet);

/// Blocks every signal, returning the mask to [`restore`] afterwards.
pub fn block_all_saving() -> io::Result<SavedMask> {
    let mut old = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )?;
    Ok(SavedMask(old))
}

/// Sets the mask back to `saved`. Allocates nothing (runs in a freshly cloned child). It
/// cannot fail: SIG_SETMASK with a valid set has no error case.
pub fn restore(saved: &SavedMask) {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&saved.0), None);
}

/// Blocks every signal in the calling thread.
pub fn block_all() -> io::Result<()> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), None)?;
    Ok(())
}

/// Unblocks every signal.
pub fn unblock_all() -> io::Result<()> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
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
    let set = SigSet::all();
    loop {
        // SAFETY: `set` is an initialised sigset (SigSet is a sigset_t); info may be NULL.
        let r = unsafe { libc::sigwaitinfo(set.as_ref(), std::ptr::null_mut()) };
        if r >= 0 {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
