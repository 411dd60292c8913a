//! A forked worker: a function run in a child of the agent, for slow work that needs no
//! program of its own (the disk/xfs walk that takes a sandbox's files out of their project).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::{fd, process};

/// Runs `work` in a forked child whose stdout is `stdout` and which keeps no other descriptor
/// of the agent's (its sockets and work_dir lock must not outlive it); the child exits with
/// `work`'s return value. Signals are handled around the fork as for every child
/// ([`process::fork_child`]). Returns the child's pid.
pub fn fork_worker(stdout: OwnedFd, work: impl FnOnce() -> i32) -> io::Result<i32> {
    fork_worker_fed(None, stdout, work)
}

/// [`fork_worker`] with `stdin` as the child's standard input too (a worker fed requests).
pub fn fork_worker_fed(
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    work: impl FnOnce() -> i32,
) -> io::Result<i32> {
    process::fork_child(move || {
        let input = match &stdin {
            Some(input) => fd::dup2(input.as_raw_fd(), 0),
            None => Ok(()),
        };
        let code = match input.and_then(|()| fd::dup2(stdout.as_raw_fd(), 1)) {
            Ok(()) => {
                fd::close_all_except(&[0, 1, 2]);
                work()
            }
            Err(_) => 127,
        };
        process::exit_now(code)
    })
}
