//! The container's init: the first process of the container (pid 1 in its pid namespace). It
//! spawns the task, reaps every zombie in the container, forwards signals to the task, and
//! records the task's raw wait status in the runtime directory before it exits, so that an exit
//! that happens while the agent is down is still known afterwards.
//!
//! Runs in a forked copy of the single-threaded agent: it may allocate, but must never return
//! into the agent's code; every way out is `exit_now`. Its task is spawned vfork-style
//! (`sys::spawn`): everything the task's process needs is made here, before.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::{LaunchSpec, SetupError};
use crate::cgroups::ProcsFile;
use crate::sys::process::{self, ArgvArea, CLONE_NEWNS, CLONE_NEWPID};
use crate::sys::spawn::{self, Dispositions, ExecPlan, Failure, Step};
use crate::sys::{fd, mount, signal};

/// Exit code of the init or task when setting up failed (as a shell's "command not found").
const SETUP_FAILED: i32 = 127;

pub(super) fn run(
    mut spec: LaunchSpec,
    argv: Option<ArgvArea>,
    release: OwnedFd,
    report: OwnedFd,
) -> ! {
    // The clone reset every disposition to SIG_DFL; the init waits for signals synchronously.
    if signal::block_all().is_err() {
        process::exit_now(SETUP_FAILED);
    }
    // First of all: into the container's v1 cgroups, so that everything the init does from here
    // on, and every process it forks, is accounted and limited there.
    if let Err(message) = attach_self(&spec.cgroup_procs) {
        fail(&report, &message);
    }
    drop(std::mem::take(&mut spec.cgroup_procs));
    let mut keep: Vec<RawFd> = vec![
        report.as_raw_fd(),
        release.as_raw_fd(),
        spec.stdout.as_raw_fd(),
        spec.stderr.as_raw_fd(),
        spec.runtime_dir.as_raw_fd(),
    ];
    keep.sort_unstable();
    fd::close_all_except(&keep);

    let mut byte = [0u8; 1];
    // EOF means the agent gave up on this launch (or died): go no further, and say so for an
    // agent that recovers this container.
    if !matches!(fd::read(release.as_raw_fd(), &mut byte), Ok(1)) {
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
    drop(release);
    if let Err(e) = setup_namespaces(&spec) {
        fail(&report, &e.to_string());
    }
    if let Err(e) = spec.child.apply_in_init() {
        fail(&report, &e.to_string());
    }
    process::set_name(c"mesolite-init");
    if let Some(area) = argv {
        process::set_cmdline(area, &spec.title);
    }

    let task = match spawn_task(&spec) {
        Ok((pid, None)) => pid,
        Ok((pid, Some(failure))) => {
            // The task exited 127 before its exec: say why, then reap it and record its status
            // as for any other end.
            let _ = fd::write_all(report.as_raw_fd(), describe(&spec, &failure).as_bytes());
            pid
        }
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

/// Writes "0" (the writer itself: inside a new pid namespace our own pid would be 1, which
/// names nobody in the hierarchy's namespace) into each hierarchy's `cgroup.procs`.
fn attach_self(procs: &[ProcsFile]) -> Result<(), String> {
    for p in procs {
        fd::write_all(p.fd.as_raw_fd(), b"0").map_err(|e| {
            format!(
                "Failed to move the container's init into its {} cgroup {}: {}",
                p.hierarchy,
                p.path.display(),
                strip_os(&e)
            )
        })?;
    }
    Ok(())
}

fn setup_namespaces(spec: &LaunchSpec) -> Result<(), SetupError> {
    // The agent made itself unlikely to be OOM-killed, and may run at a higher CPU priority;
    // its containers must not inherit either.
    let _ = std::fs::write("/proc/self/oom_score_adj", "0");
    process::default_priority();
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

/// Spawns the task (vfork-style, see `sys::spawn`) with everything its process needs made
/// here first: it may not allocate.
fn spawn_task(spec: &LaunchSpec) -> io::Result<(i32, Option<Failure>)> {
    // Without /dev/null the task keeps the init's stdin.
    let null = std::fs::File::open("/dev/null").ok();
    let programs = candidates(spec);
    let setup = &spec.child;
    let plan = ExecPlan {
        // The init's own clone reset them, and it installs none (it waits synchronously).
        dispositions: Dispositions::AllDefault,
        stdio: [
            null.as_ref().map_or(-1, |f| f.as_raw_fd()),
            spec.stdout.as_raw_fd(),
            spec.stderr.as_raw_fd(),
        ],
        cwd: &spec.cwd,
        rlimits: &setup.rlimits,
        caps: setup.capabilities,
        user: spec
            .user
            .as_ref()
            .map(|(uid, gid, groups)| (*uid, *gid, groups.as_slice())),
        no_new_privs: setup.no_new_privs,
        seccomp: setup.seccomp.as_ref(),
        programs: &programs,
        argv: &spec.argv,
        envp: &spec.envp,
    };
    spawn::spawn(&plan)
}

/// The paths to exec: the program itself, or a bare name in each directory of the search path
/// (as execvp).
fn candidates(spec: &LaunchSpec) -> Vec<CString> {
    if spec.program.as_bytes().contains(&b'/') || spec.search_path.is_empty() {
        return vec![spec.program.clone()];
    }
    spec.search_path
        .iter()
        .filter_map(|dir| {
            let mut path = dir.as_bytes().to_vec();
            path.push(b'/');
            path.extend_from_slice(spec.program.as_bytes());
            CString::new(path).ok()
        })
        .collect()
}

/// The launch's error message for a step of the task's that failed.
fn describe(spec: &LaunchSpec, failure: &Failure) -> String {
    let error = strip_os(&failure.error);
    let setup = &spec.child;
    let what = match failure.step {
        Step::Signals => "unblock signals".to_string(),
        Step::Stdio => return "Failed to redirect the task's standard streams".to_string(),
        Step::Chdir => format!("chdir into the sandbox {:?}", spec.cwd),
        Step::RLimit(i) => match setup.rlimits.get(i) {
            Some(l) => format!("set {} to {}/{}", l.resource.name(), l.soft, l.hard),
            None => "set a resource limit".to_string(),
        },
        Step::DropBounding => "drop bounding capabilities".to_string(),
        Step::SecureBits => "set the securebits".to_string(),
        Step::SwitchUser => match &spec.user {
            Some((uid, _, _)) => format!("switch to uid {uid}"),
            None => "switch the user".to_string(),
        },
        Step::SetCaps => match setup.capabilities.and_then(|c| c.effective) {
            Some(effective) => format!("set the capabilities to [{}]", effective.names()),
            None => "set the capabilities".to_string(),
        },
        Step::NoNewPrivs => "set no_new_privs".to_string(),
        Step::Seccomp => "load the seccomp filter".to_string(),
        Step::Exec => format!("execute '{}'", spec.program.to_string_lossy()),
    };
    format!("Failed to {what}: {error}")
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
