//! Deletion off the loop: one long-lived deleter process, forked from the agent, removes what
//! the loop hands it (sandboxes, rootfs and upper dirs, checkpoints, pruned image layers, all
//! renamed into a trash first; and containers' cgroups). The loop only writes requests into
//! the deleter's stdin pipe and reads its answers through the child runner, so no loop
//! iteration waits on an unlink, an rmdir or a discard, and no REMOVE execs a process.
//!
//! The pipe write never blocks: requests queue here (bounded), and no more are written than
//! the pipe can hold unanswered. If the deleter dies, it is started again and what it had not
//! answered is sent again (every request is idempotent); a request it died on three times is
//! given up.
//!
//! The same process, at the agent's own priority, is the cgroup helper (`Role::Cgroups`): it
//! makes a launch's cgroups while other containers' inits attach themselves (a v1 attach holds
//! the kernel's cgroup lock for an RCU grace period, which a mkdir in the loop would wait for),
//! and removes containers' cgroups, in the order asked, so a cgroup is never removed before it
//! was made.

mod cgroup;
pub mod protocol;
mod serve;
pub mod trash;
pub mod tree;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use mio::Registry;

use crate::children::{ChildEvent, ChildId, Children, Owner, Program};
use protocol::{parse_answer, Request};
pub use protocol::{RequestId, What};

/// Requests kept here at most, waiting for the pipe; beyond, a request is refused (its trash
/// is emptied at the next start).
const MAX_QUEUED: usize = 65_536;
/// Unanswered bytes in the pipe at most: below the capacity of any pipe root makes, so a
/// whole request always fits.
const PIPE_BUDGET: usize = 60 * 1024;
/// A request the deleter died on this many times is given up.
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug)]
struct Pending {
    req: Request,
    bytes: Vec<u8>,
    attempts: u32,
}

/// How a request ended, for whoever made it.
pub type Answer = (RequestId, Result<(), String>);

/// Which helper a [`Deleter`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Trees (sandboxes, rootfs, checkpoints, layers), at a lower CPU and I/O priority.
    Deleter,
    /// Containers' cgroups made and removed, at the agent's priority: a launch may wait on it.
    Cgroups,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Deleter => "Deleter",
            Role::Cgroups => "Cgroup helper",
        }
    }
}

/// The agent's side of a helper.
#[derive(Debug)]
pub struct Deleter {
    role: Role,
    proc_dir: PathBuf,
    child: Option<ChildId>,
    input: Option<OwnedFd>,
    queue: VecDeque<Pending>,
    /// Bytes of the queue's first request already written (a short write; not expected).
    written: usize,
    in_flight: BTreeMap<RequestId, Pending>,
    in_flight_bytes: usize,
    next: u64,
    pub counters: Counters,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub restarts: u64,
    pub failed: u64,
    pub done: u64,
    pub refused: u64,
}

impl Deleter {
    /// The deleter of trees.
    pub fn new(proc_dir: PathBuf) -> Deleter {
        Deleter::with_role(Role::Deleter, proc_dir)
    }

    /// The cgroup helper.
    pub fn cgroup_helper(proc_dir: PathBuf) -> Deleter {
        Deleter::with_role(Role::Cgroups, proc_dir)
    }

    fn with_role(role: Role, proc_dir: PathBuf) -> Deleter {
        Deleter {
            role,
            proc_dir,
            child: None,
            input: None,
            queue: VecDeque::new(),
            written: 0,
            in_flight: BTreeMap::new(),
            in_flight_bytes: 0,
            next: 1,
            counters: Counters::default(),
        }
    }

    /// Whether its process runs (a launch does not wait on a helper that is not there).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Forks the helper if it does not run (the agent calls this early, while it is small).
    pub fn start(&mut self, children: &mut Children, registry: &Registry) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let (read, write) = crate::sys::fd::pipe(true)?;
        let proc_dir = self.proc_dir.clone();
        let agent = crate::sys::getpid();
        let role = self.role;
        let work = move || {
            // A helper outliving the agent would race the next one over the same trash.
            if crate::sys::process::rearm_parent_death(agent).is_err() {
                return 1;
            }
            match role {
                Role::Deleter => {
                    crate::sys::process::set_name(c"mesolite-del");
                    crate::sys::process::lower_priority();
                }
                Role::Cgroups => crate::sys::process::set_name(c"mesolite-cg"),
            }
            serve::serve(proc_dir)
        };
        let owner = match role {
            Role::Deleter => Owner::Deleter,
            Role::Cgroups => Owner::CgroupHelper,
        };
        let id = children
            .spawn(owner, Program::Serve(read, Box::new(work)), registry)
            .map_err(io::Error::other)?;
        log::debug!("{} started ({id})", role.name());
        self.child = Some(id);
        self.input = Some(write);
        Ok(())
    }

    /// Asks for `what` to be deleted; its answer comes from [`Deleter::on_event`]. Refused
    /// only when the queue is full. Written at once if the deleter runs, else when it is
    /// started again ([`Deleter::ensure_running`]).
    pub fn submit(&mut self, what: What) -> Option<RequestId> {
        if self.queue.len() >= MAX_QUEUED {
            self.counters.refused += 1;
            log::warn!(
                "{}: {MAX_QUEUED} requests queued; {what:?} is left for the next start",
                self.role.name()
            );
            return None;
        }
        let id = RequestId(self.next);
        self.next += 1;
        let req = Request { id, what };
        let bytes = req.encode();
        self.queue.push_back(Pending {
            req,
            bytes,
            attempts: 0,
        });
        self.write_queued();
        Some(id)
    }

    /// Starts the deleter again if it is not running and work waits for it.
    pub fn ensure_running(&mut self, children: &mut Children, registry: &Registry) {
        if self.queue.is_empty() || self.child.is_some() {
            return;
        }
        match self.start(children, registry) {
            Ok(()) => self.write_queued(),
            Err(e) => log::warn!(
                "Cannot start the {}: {e}; {} requests wait",
                self.role.name().to_lowercase(),
                self.queue.len()
            ),
        }
    }

    /// What the deleter wrote (answers), or its end (it is started again).
    pub fn on_event(
        &mut self,
        event: ChildEvent,
        children: &mut Children,
        registry: &Registry,
    ) -> Vec<Answer> {
        let mut answers = Vec::new();
        match event {
            ChildEvent::Lines { lines, .. } => {
                for line in lines {
                    let Some((id, result)) = parse_answer(&line) else {
                        log::warn!("{}: unexpected answer {line:?}", self.role.name());
                        continue;
                    };
                    if let Some(p) = self.in_flight.remove(&id) {
                        self.in_flight_bytes -= p.bytes.len();
                        self.count(&result);
                        answers.push((id, result));
                    }
                }
            }
            ChildEvent::Finished { status, .. } => {
                self.counters.restarts += 1;
                log::warn!(
                    "{} ended (wait status {status}) with {} requests unanswered: restarting it",
                    self.role.name(),
                    self.in_flight.len()
                );
                self.child = None;
                self.input = None;
                self.written = 0;
                self.in_flight_bytes = 0;
                let unanswered = std::mem::take(&mut self.in_flight);
                for (_, mut p) in unanswered.into_iter().rev() {
                    p.attempts += 1;
                    if p.attempts >= MAX_ATTEMPTS {
                        let result = Err(format!(
                            "the {} died {} times on it",
                            self.role.name().to_lowercase(),
                            p.attempts
                        ));
                        self.count(&result);
                        answers.push((p.req.id, result));
                    } else {
                        self.queue.push_front(p);
                    }
                }
            }
        }
        self.ensure_running(children, registry);
        self.write_queued();
        answers
    }

    fn count(&mut self, result: &Result<(), String>) {
        match result {
            Ok(()) => self.counters.done += 1,
            Err(e) => {
                self.counters.failed += 1;
                log::warn!("{}: {e}", self.role.name());
            }
        }
    }

    /// Writes what fits into the pipe, without blocking.
    fn write_queued(&mut self) {
        let Some(input) = self.input.as_ref() else {
            return;
        };
        let fd = input.as_raw_fd();
        while let Some(front) = self.queue.front() {
            let fits = self.in_flight_bytes + front.bytes.len() <= PIPE_BUDGET;
            if !fits && !self.in_flight.is_empty() {
                break;
            }
            match crate::sys::fd::write(fd, &front.bytes[self.written..]) {
                Ok(n) if self.written + n < front.bytes.len() => {
                    self.written += n;
                    log::debug!("{}: a short write to its pipe", self.role.name());
                    break;
                }
                Ok(_) => {
                    self.written = 0;
                    if let Some(p) = self.queue.pop_front() {
                        self.in_flight_bytes += p.bytes.len();
                        self.in_flight.insert(p.req.id, p);
                    }
                }
                // Full (not expected), or the helper is gone: its end brings a restart.
                Err(_) => break,
            }
        }
    }
}
