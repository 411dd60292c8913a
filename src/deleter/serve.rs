//! A helper process (the deleter, the cgroup helper): forked from the agent, it reads requests
//! on its stdin, makes cgroups at once, removes trees one after the other in small steps and
//! cgroups as soon as they can go, and answers each request on its stdout when it is done.
//! Between two steps it takes new requests, so a cgroup never waits behind a large sandbox.
//! Requests are taken in their order, so cgroups made and then removed are made first. Its
//! stdin's end (the agent is gone) ends it.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::cgroup::{make_all, CgroupRemoval};
use super::protocol::{answer, Request, RequestId, What};
use super::tree::{Progress, TreeRemoval};
use crate::sys::fd;

/// Entries removed between two looks at stdin.
const STEP: usize = 256;

#[derive(Debug, Default)]
struct Work {
    trees: VecDeque<(RequestId, PathBuf)>,
    current: Option<(RequestId, TreeRemoval)>,
    cgroups: Vec<(RequestId, CgroupRemoval)>,
}

/// Serves requests from fd 0 until its end; answers on fd 1. The exit code is the worker's.
pub fn serve(proc_dir: PathBuf) -> i32 {
    const STDIN: RawFd = 0;
    const STDOUT: RawFd = 1;
    if fd::set_nonblocking(STDIN, true).is_err() {
        return 1;
    }
    let mut work = Work::default();
    let mut inbuf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut answers = String::new();
    loop {
        let busy = work.current.is_some() || !work.trees.is_empty();
        let timeout = if busy {
            0
        } else {
            match work.cgroups.iter().map(|(_, c)| c.due).min() {
                Some(due) => millis_until(due),
                None => -1,
            }
        };
        if let Ok(true) = fd::poll_readable(STDIN, timeout) {
            loop {
                match fd::read(STDIN, &mut chunk) {
                    Ok(0) => return 0,
                    Ok(n) => inbuf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return 1,
                }
            }
            match Request::decode_all(&mut inbuf) {
                Ok(reqs) => reqs.into_iter().for_each(|r| work.take(r, &mut answers)),
                Err(e) => {
                    log::error!("deleter: {e}: exiting");
                    return 2;
                }
            }
        }
        work.cgroups_due(&mut answers);
        work.tree_step(&proc_dir, &mut answers);
        if !answers.is_empty() && fd::write_all(STDOUT, answers.as_bytes()).is_err() {
            return 1;
        }
        answers.clear();
    }
}

fn millis_until(due: Instant) -> i32 {
    let left = due.saturating_duration_since(Instant::now());
    i32::try_from((left + Duration::from_micros(999)).as_millis()).unwrap_or(i32::MAX)
}

impl Work {
    fn take(&mut self, req: Request, answers: &mut String) {
        match req.what {
            What::Tree(path) => self.trees.push_back((req.id, path)),
            What::Cgroups(dirs) => self
                .cgroups
                .push((req.id, CgroupRemoval::new(dirs, Instant::now()))),
            What::MakeCgroups(dirs) => {
                test_delay();
                answers.push_str(&answer(req.id, &make_all(&dirs)));
            }
        }
    }

    fn cgroups_due(&mut self, answers: &mut String) {
        let now = Instant::now();
        self.cgroups.retain_mut(|(id, c)| {
            if c.due > now {
                return true;
            }
            match c.attempt(now) {
                None => true,
                Some(result) => {
                    answers.push_str(&answer(*id, &result));
                    false
                }
            }
        });
    }

    fn tree_step(&mut self, proc_dir: &std::path::Path, answers: &mut String) {
        if self.current.is_none() {
            let Some((id, path)) = self.trees.pop_front() else {
                return;
            };
            match TreeRemoval::start(&path, proc_dir) {
                Ok(removal) => self.current = Some((id, removal)),
                Err(e) => {
                    answers.push_str(&answer(id, &Err(e)));
                    return;
                }
            }
        }
        let Some((id, removal)) = self.current.as_mut() else {
            return;
        };
        if let Progress::Done(result) = removal.step(STEP) {
            if let Err(e) = &result {
                log::warn!("deleter: {e}");
            }
            answers.push_str(&answer(*id, &result));
            self.current = None;
        }
    }
}

/// With the `test-hooks` feature, `MESOLITE_TEST_CGROUP_HELPER_DELAY_MS` holds every cgroup
/// made that long, so a test can destroy a launch while its cgroups are being made.
#[cfg(feature = "test-hooks")]
fn test_delay() {
    if let Some(ms) = std::env::var("MESOLITE_TEST_CGROUP_HELPER_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
fn test_delay() {}
