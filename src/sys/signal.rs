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

/// Restores the default disposition of every catchable signal, dropping the handlers a child
/// inherited from the agent (signal-hook's, which would write to a socket it no longer has).
pub fn reset_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; errors (invalid signal numbers) are
        // harmless and ignored.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
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
