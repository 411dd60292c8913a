//! One runner for the agent's helper processes: the fetcher, the image puller and rootfs copy,
//! `du`, the disk/xfs walk, the deleter. It spawns them, watches their stdout in the
//! loop (never blocking on it), reaps them on SIGCHLD, kills them on request or at their
//! deadline, and hands what they wrote and how they ended back to their owner.
//!
//! A child is finished once its stdout reached its end *and* it was reaped, so an owner sees
//! every line before the status, exactly once.

mod lines;

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::event::Source;
use crate::slot_map::SlotMap;
use crate::sys::process;
use crate::timer::{TimerKind, Timers};

pub use lines::read_lines;

/// Names a running child in loop tokens and timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(pub u32);

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child {}", self.0)
    }
}

/// Who a child's results go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The fetcher of a container's URIs, by container slot.
    Fetch(u32),
    /// An image pull, by pull slot (one pull serves every launch of the image).
    Pull(u32),
    /// A container's rootfs copy, by container slot.
    Rootfs(u32),
    /// The lookup of a launch's `command.user`, by container slot.
    User(u32),
    /// A container's `prelaunch` hook (`--hooks_dir`), by container slot.
    Hook(u32),
    /// A `remove` hook: its end is only logged.
    RemoveHook,
    /// Work an isolator asked for, by isolator index and container slot.
    Isolator { index: u16, slot: u32 },
    /// The deleter (one, long-lived): its answers.
    Deleter,
    /// The cgroup helper (one, long-lived): its answers.
    CgroupHelper,
    /// An app instance's COMMAND health check, by probe ID (the health checker's own runner).
    Health(u32),
}

/// What runs.
pub enum Program {
    /// A program; the runner takes its stdout (stdin and stderr are the caller's to set).
    Exec(Command),
    /// A function in a forked child, its exit code the function's result.
    Fork(Box<dyn FnOnce() -> i32>),
    /// As `Fork`, reading requests from this pipe as its stdin (the deleter).
    Serve(OwnedFd, Box<dyn FnOnce() -> i32>),
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Program::Exec(c) => write!(f, "Exec({:?})", c.get_program()),
            Program::Fork(_) => write!(f, "Fork"),
            Program::Serve(..) => write!(f, "Serve"),
        }
    }
}

/// What the runner tells a child's owner.
#[derive(Debug, PartialEq)]
pub enum ChildEvent {
    /// Complete lines the child wrote on its stdout.
    Lines { owner: Owner, lines: Vec<String> },
    /// The child's stdout ended and it was reaped: its raw wait status, and whether the runner
    /// killed it at its deadline.
    Finished {
        owner: Owner,
        status: i32,
        timed_out: bool,
    },
}

impl ChildEvent {
    /// The lines it brings, and whether the child is done (for owners that read JSON lines).
    pub fn into_lines(self) -> (Vec<String>, bool) {
        match self {
            ChildEvent::Lines { lines, .. } => (lines, false),
            ChildEvent::Finished { .. } => (Vec::new(), true),
        }
    }
}

/// Why a child could not be started.
#[derive(Debug)]
pub enum ChildError {
    Spawn(String, io::Error),
    Pipe(io::Error),
    Watch(io::Error),
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::Spawn(what, e) => write!(f, "{what}: {e}"),
            ChildError::Pipe(e) => write!(f, "cannot make a pipe: {e}"),
            ChildError::Watch(e) => write!(f, "cannot watch the child's output: {e}"),
        }
    }
}

impl std::error::Error for ChildError {}

/// Why a helper child (the fetcher, the image puller, the rootfs copy) did not start.
#[derive(Debug)]
pub enum ChildStart {
    /// Its request file could not be written or opened.
    Request(io::Error),
    /// The child runner could not start it.
    Spawn(ChildError),
}

impl fmt::Display for ChildStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildStart::Request(e) => e.fmt(f),
            ChildStart::Spawn(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ChildStart {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ChildStart::Request(e) => Some(e),
            ChildStart::Spawn(e) => Some(e),
        }
    }
}

/// SIGKILL to a child and, when it leads a process group of its own (a hook script), to that
/// group: what the script started would otherwise hold its stdout open and its end never come.
/// While the child is unreaped no other group can have its pid as pgid, so this hits nothing else.
fn kill_job(pid: i32) {
    let _ = process::kill_group(pid, libc::SIGKILL);
    let _ = process::kill(pid, libc::SIGKILL);
}

#[derive(Debug)]
struct Job {
    /// None once killed on request: it is reaped silently.
    owner: Option<Owner>,
    pid: i32,
    /// Kept so std's handle is reaped through it (it would otherwise try to wait again).
    child: Option<Child>,
    stdout: Option<OwnedFd>,
    buf: Vec<u8>,
    status: Option<i32>,
    timed_out: bool,
}

impl Job {
    fn finished(&self) -> Option<(Owner, i32, bool)> {
        match (self.owner, self.stdout.is_none(), self.status) {
            (Some(owner), true, Some(status)) => Some((owner, status, self.timed_out)),
            _ => None,
        }
    }
}

/// The running children.
#[derive(Debug, Default)]
pub struct Children {
    jobs: SlotMap<Job>,
    next: u32,
    /// Helpers killed before they were watched: reaped, never reported.
    background: Vec<Child>,
}

impl Children {
    /// A runner whose children are numbered from `first` on, so that two runners in one loop
    /// (each containerizer has its own) never give two children the same `Source::Child`.
    pub fn numbered_from(first: u32) -> Children {
        Children {
            next: first,
            ..Children::default()
        }
    }

    /// Starts `program` for `owner`.
    pub fn spawn(
        &mut self,
        owner: Owner,
        program: Program,
        registry: &Registry,
    ) -> Result<ChildId, ChildError> {
        let (pid, child, stdout) = match program {
            Program::Exec(mut command) => {
                process::die_with_parent(&mut command);
                let what = command.get_program().to_string_lossy().into_owned();
                let mut child = command
                    .stdout(Stdio::piped())
                    .spawn()
                    .map_err(|e| ChildError::Spawn(what, e))?;
                let stdout = child.stdout.take().map(OwnedFd::from);
                let pid = i32::try_from(child.id()).unwrap_or(-1);
                match stdout {
                    Some(fd) => (pid, Some(child), fd),
                    None => {
                        let _ = child.kill();
                        self.background.push(child);
                        return Err(ChildError::Pipe(io::Error::other("no stdout pipe")));
                    }
                }
            }
            Program::Fork(work) => {
                let (read, write) = crate::sys::fd::pipe(true).map_err(ChildError::Pipe)?;
                let pid = crate::sys::worker::fork_worker(write, work)
                    .map_err(|e| ChildError::Spawn("fork".into(), e))?;
                (pid, None, read)
            }
            Program::Serve(stdin, work) => {
                let (read, write) = crate::sys::fd::pipe(true).map_err(ChildError::Pipe)?;
                let pid = crate::sys::worker::fork_worker_fed(Some(stdin), write, work)
                    .map_err(|e| ChildError::Spawn("fork".into(), e))?;
                (pid, None, read)
            }
        };
        self.next = self.next.wrapping_add(1).max(1);
        while self.jobs.contains_key(self.next) {
            self.next = self.next.wrapping_add(1).max(1);
        }
        let id = ChildId(self.next);
        let watched = crate::sys::fd::set_nonblocking(stdout.as_raw_fd(), true).and_then(|()| {
            registry.register(
                &mut SourceFd(&stdout.as_raw_fd()),
                Token::from(Source::Child(id.0)),
                Interest::READABLE,
            )
        });
        let mut job = Job {
            owner: Some(owner),
            pid,
            child,
            stdout: Some(stdout),
            buf: Vec::new(),
            status: None,
            timed_out: false,
        };
        if let Err(e) = watched {
            job.owner = None;
            job.stdout = None;
            let _ = process::kill(pid, libc::SIGKILL);
            self.jobs.insert(id.0, job);
            return Err(ChildError::Watch(e));
        }
        self.jobs.insert(id.0, job);
        Ok(id)
    }

    /// Kills `id` if it still runs `after` from now; its owner then learns it timed out.
    pub fn set_deadline(&self, id: ChildId, after: Duration, timers: &mut Timers) {
        timers.add(after, TimerKind::ChildDeadline(id.0));
    }

    /// Kills a child; its owner hears nothing more of it.
    pub fn kill(&mut self, id: ChildId, registry: &Registry) {
        if let Some(pid) = self.detach(id, registry) {
            kill_job(pid);
        }
    }

    /// Lets a child end on its own; its owner hears nothing more of it. Returns its pid if it
    /// still runs.
    pub fn detach(&mut self, id: ChildId, registry: &Registry) -> Option<i32> {
        let job = self.jobs.get_mut(id.0)?;
        job.owner = None;
        if let Some(fd) = job.stdout.take() {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        if job.status.is_none() {
            return Some(job.pid);
        }
        self.jobs.remove(id.0);
        None
    }

    /// A process that is not the runner's to watch (a container's logger, which may outlive
    /// the agent): only reaped when it ends.
    pub fn reap_later(&mut self, child: Child) {
        self.background.push(child);
    }

    /// Whether `id` still runs for its owner.
    pub fn is_running(&self, id: ChildId) -> bool {
        self.jobs.get(id.0).is_some_and(|j| j.owner.is_some())
    }

    /// A child's stdout is readable.
    pub fn on_ready(&mut self, id: u32, registry: &Registry) -> Vec<ChildEvent> {
        let Some(job) = self.jobs.get_mut(id) else {
            return Vec::new();
        };
        let Some(fd) = job.stdout.as_ref() else {
            return Vec::new();
        };
        let mut file = ReadFd(fd);
        let (lines, eof) = read_lines(&mut file, &mut job.buf);
        let mut out = Vec::new();
        if let (Some(owner), false) = (job.owner, lines.is_empty()) {
            out.push(ChildEvent::Lines { owner, lines });
        }
        if eof {
            if let Some(fd) = job.stdout.take() {
                let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
            }
            if job.status.is_none() {
                // Usually it has exited already; if not, SIGCHLD brings the status.
                job.status = reap(job).ok().flatten();
            }
            out.extend(self.take_finished(id));
        }
        out
    }

    /// SIGCHLD: reaps what ended.
    pub fn on_sigchld(&mut self) -> Vec<ChildEvent> {
        self.background
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        let ended: Vec<u32> = self
            .jobs
            .iter_mut()
            .filter(|(_, j)| j.status.is_none())
            .filter_map(|(id, j)| match reap(j) {
                Ok(Some(status)) => {
                    j.status = Some(status);
                    Some(id)
                }
                Ok(None) => None,
                Err(e) => {
                    log::warn!("Cannot reap helper pid {}: {e}", j.pid);
                    j.status = Some(process::status_signaled(libc::SIGKILL));
                    Some(id)
                }
            })
            .collect();
        ended
            .into_iter()
            .flat_map(|id| self.take_finished(id))
            .collect()
    }

    /// A child's deadline passed: kill it if it still runs; its owner learns it timed out.
    pub fn on_deadline(&mut self, id: u32) {
        if let Some(job) = self.jobs.get_mut(id) {
            if job.status.is_none() && job.owner.is_some() {
                job.timed_out = true;
                kill_job(job.pid);
            }
        }
    }

    /// How many children run (background ones included).
    pub fn len(&self) -> usize {
        self.jobs.len() + self.background.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take_finished(&mut self, id: u32) -> Option<ChildEvent> {
        let job = self.jobs.get(id)?;
        if job.owner.is_none() && job.status.is_some() {
            self.jobs.remove(id);
            return None;
        }
        let (owner, status, timed_out) = job.finished()?;
        self.jobs.remove(id);
        Some(ChildEvent::Finished {
            owner,
            status,
            timed_out,
        })
    }
}

fn reap(job: &mut Job) -> io::Result<Option<i32>> {
    match job.child.as_mut() {
        Some(child) => {
            use std::os::unix::process::ExitStatusExt;
            Ok(child.try_wait()?.map(|s| s.into_raw()))
        }
        None => process::try_wait(job.pid),
    }
}

/// `Read` over a borrowed descriptor.
struct ReadFd<'a>(&'a OwnedFd);

impl io::Read for ReadFd<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::sys::fd::read(self.0.as_raw_fd(), buf)
    }
}

#[cfg(test)]
mod tests;
