//! The container's init: the first process of the container (pid 1 in its pid namespace). It
//! forks the task, reaps every zombie in the container, forwards signals to the task, and
//! records the task's raw wait status in the runtime directory before it exits, so that an exit
//! that happens while the agent is down is still known afterwards.
//!
//! Runs in a forked copy of the single-threaded agent: it may allocate, but must never return
//! into the agent's code; every way out is `exit_now`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::{LaunchSpec, SetupError};
use crate::sys::process::{self, CLONE_NEWNS, CLONE_NEWPID};
use crate::sys::{fd, mount, signal};

/// Exit code of the init or task when setting up failed (as a shell's "command not found").
const SETUP_FAILED: i32 = 127;

pub(super) fn run(spec: LaunchSpec, release: Option<OwnedFd>, report: OwnedFd) -> ! {
    // The clone reset every disposition to SIG_DFL; the init waits for signals synchronously.
    if signal::block_all().is_err() {
        process::exit_now(SETUP_FAILED);
    }
    let mut keep: Vec<RawFd> = vec![
        report.as_raw_fd(),
        spec.stdout.as_raw_fd(),
        spec.stderr.as_raw_fd(),
        spec.runtime_dir.as_raw_fd(),
    ];
    if let Some(r) = &release {
        keep.push(r.as_raw_fd());
    }
    keep.sort_unstable();
    fd::close_all_except(&keep);

    if let Some(r) = release {
        let mut byte = [0u8; 1];
        // EOF means the agent gave up on this launch (or died): go no further, and say so for
        // an agent that recovers this container.
        if !matches!(fd::read(r.as_raw_fd(), &mut byte), Ok(1)) {
            let _ = fd::write_file_at(
                spec.runtime_dir.as_raw_fd(),
                c"aborted",
                c".aborted.tmp",
                b"1\n",
            );
            fail(
                &report,
                "the container was destroyed before its task started",
            );
        }
    }
    if let Err(e) = setup_namespaces(&spec) {
        fail(&report, &e.to_string());
    }
    if let Err(e) = spec.child.apply_in_init() {
        fail(&report, &e.to_string());
    }
    process::set_name(c"mesolite-init");
    process::set_cmdline(std::path::Path::new("/proc"), &spec.title);

    let task = match process::fork_child(|| exec_task(&spec, &report)) {
        Ok(pid) => pid,
        Err(e) => fail(
            &report,
            &format!("Failed to fork the task: {}", strip_os(&e)),
        ),
    };
    // The agent learns of a successful exec from EOF on this pipe: our copy must go.
    drop(report);
    drop(spec.stdout);
    drop(spec.stderr);
    let status = supervise(task);
    record_status(spec.runtime_dir.as_raw_fd(), status);
    let (code, sig) = process::decode_status(status);
    process::exit_now(code.unwrap_or_else(|| 128 + sig.unwrap_or(0)))
}

fn setup_namespaces(spec: &LaunchSpec) -> Result<(), SetupError> {
    // The agent made itself unlikely to be OOM-killed; its containers must not inherit that.
    let _ = std::fs::write("/proc/self/oom_score_adj", "0");
    if spec.namespaces & CLONE_NEWNS != 0 {
        mount::make_root_rslave().map_err(SetupError::step("make / a slave mount"))?;
    }
    if spec.mount_proc {
        mount::mount_proc(c"/proc").map_err(SetupError::step("mount /proc"))?;
    }
    if let Some(h) = &spec.hostname {
        process::set_hostname(h.as_bytes()).map_err(SetupError::step("set the hostname"))?;
    }
    // Our own session and process group: the posix launcher kills the container through it.
    process::setsid().map_err(SetupError::step("create a session"))?;
    if spec.namespaces & CLONE_NEWPID == 0 {
        // Outside a pid namespace, orphans of the task must still come back to us.
        process::set_child_subreaper().map_err(SetupError::step("become a subreaper"))?;
    }
    Ok(())
}

/// Waits for the task, reaping every other zombie and forwarding every other signal to the task.
fn supervise(task: i32) -> i32 {
    loop {
        let sig = match signal::wait_any() {
            Ok(s) => s,
            Err(_) => return wait_task_blocking(task),
        };
        if sig == libc::SIGCHLD {
            while let Ok(Some((pid, status))) = process::try_wait_any() {
                if pid == task {
                    // Reap what is left without blocking: in a pid namespace the kernel kills the
                    // rest when we exit.
                    while let Ok(Some(_)) = process::try_wait_any() {}
                    return status;
                }
            }
        } else {
            let _ = process::kill(task, sig);
        }
    }
}

fn wait_task_blocking(task: i32) -> i32 {
    process::wait_blocking(task).unwrap_or(SETUP_FAILED << 8)
}

/// Records the task's raw wait status as `<runtime dir>/status`.
fn record_status(dir: RawFd, status: i32) {
    let text = format!("{status}\n");
    let _ = fd::write_file_at(dir, c"status", c".status.tmp", text.as_bytes());
}

/// The task's side: stdio, working directory, user, then exec.
fn exec_task(spec: &LaunchSpec, report: &OwnedFd) -> ! {
    if signal::unblock_all().is_err() {
        process::exit_now(SETUP_FAILED);
    }
    let null = process::open_raw(c"/dev/null", libc::O_RDONLY).unwrap_or(-1);
    let stdio = [
        (null, 0),
        (spec.stdout.as_raw_fd(), 1),
        (spec.stderr.as_raw_fd(), 2),
    ];
    for (from, to) in stdio {
        if from >= 0 && fd::dup2(from, to).is_err() {
            fail(report, "Failed to redirect the task's standard streams");
        }
    }
    if let Err(e) = process::chdir(&spec.cwd) {
        fail(
            report,
            &format!(
                "Failed to chdir into the sandbox {:?}: {}",
                spec.cwd,
                strip_os(&e)
            ),
        );
    }
    if let Err(e) = spec.child.apply_before_user() {
        fail(report, &e.to_string());
    }
    if let Some((uid, gid, groups)) = &spec.user {
        if let Err(e) = process::switch_user(*uid, *gid, groups) {
            fail(
                report,
                &format!("Failed to switch to uid {uid}: {}", strip_os(&e)),
            );
        }
    }
    if let Err(e) = spec.child.apply_before_exec() {
        fail(report, &e.to_string());
    }
    let err = exec_program(spec);
    let name = spec.program.to_string_lossy();
    fail(
        report,
        &format!("Failed to execute '{name}': {}", strip_os(&err)),
    )
}

/// execve of the program, searching `search_path` for a bare name as execvp does.
fn exec_program(spec: &LaunchSpec) -> io::Error {
    let argv = spec.argv.as_ptrs();
    let envp = spec.envp.as_ptrs();
    if spec.program.as_bytes().contains(&b'/') || spec.search_path.is_empty() {
        return process::execve(&spec.program, argv, envp);
    }
    let mut best = io::Error::from_raw_os_error(libc::ENOENT);
    for dir in &spec.search_path {
        let mut path = dir.as_bytes().to_vec();
        path.push(b'/');
        path.extend_from_slice(spec.program.as_bytes());
        let Ok(path) = CString::new(path) else {
            continue;
        };
        let err = process::execve(&path, argv, envp);
        // As execvp: a permission problem is more telling than "not found" elsewhere.
        if err.raw_os_error() == Some(libc::EACCES) || best.raw_os_error() == Some(libc::ENOENT) {
            best = err;
        }
    }
    best
}

/// Reports why setting up failed and ends this process.
fn fail(report: &OwnedFd, message: &str) -> ! {
    let _ = fd::write_all(report.as_raw_fd(), message.as_bytes());
    process::exit_now(SETUP_FAILED)
}

/// "No such file or directory (os error 2)" → "No such file or directory", as Mesos prints it.
pub(crate) fn strip_os(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
