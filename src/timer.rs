//! Timers of the event loop: a min-heap of deadlines. The loop sleeps in `poll` until the
//! nearest one, so no thread and no `sleep` is ever needed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What a timer is for; the owner of each kind interprets its payload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// Re-check a container being destroyed (its cgroup empty yet?), by container slot.
    DestroyRetry(u32),
    /// Escalate a graceful kill to SIGKILL, by container slot.
    KillEscalate(u32),
    /// Drop API connections that stalled mid-request.
    ConnectionSweep,
    /// A helper process's deadline, by child ID.
    ChildDeadline(u32),
    /// An isolator's periodic check, by isolator index.
    Isolator(u16),
    /// A Docker Engine API request's deadline, by request ID.
    Docker(u32),
}

/// A set of pending timers.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKind)>>,
}

impl Timers {
    pub fn add(&mut self, after: Duration, kind: TimerKind) {
        self.heap.push(Reverse((Instant::now() + after, kind)));
    }

    /// How long the loop may sleep before the next timer is due.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
    }

    /// Removes and returns every timer that is due.
    pub fn expired(&mut self) -> Vec<TimerKind> {
        let now = Instant::now();
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, kind))) = self.heap.pop() {
                out.push(kind);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_returns_due_timers_in_order() {
        let mut t = Timers::default();
        t.add(Duration::from_secs(3600), TimerKind::ConnectionSweep);
        t.add(Duration::ZERO, TimerKind::DestroyRetry(2));
        t.add(Duration::ZERO, TimerKind::DestroyRetry(1));
        let due = t.expired();
        assert_eq!(due.len(), 2);
        assert!(t
            .next_timeout()
            .is_some_and(|d| d > Duration::from_secs(3000)));
    }
}
