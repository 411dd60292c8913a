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
    /// The next step of a launch, by container slot.
    LaunchStep(u32),
    /// Apps: converge in the next loop iteration (after a change).
    AppsReconcile,
    /// Apps: the periodic look at convergence.
    AppsTick,
    /// Apps: a launch backoff ended.
    AppsBackoff,
    /// An etcd connection's deadline (or a watch's next probe), by connection ID.
    Etcd(u32),
    /// An app instance's health check: its next run or its probe's deadline, by the ID the
    /// health checker gave it.
    Health(u32),
    /// The fleet's periodic look at its lease, its published keys, its queued writes and
    /// (when it schedules) placement.
    FleetTick,
    /// The fleet: act on what its mirror of etcd just learnt, in the next iteration.
    FleetConverge,
}

/// A set of pending timers.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKind)>>,
    /// Deferred to the next loop iteration, with the iteration that deferred them.
    /// In the order deferred (so the first is the oldest).
    deferred: Vec<(u64, TimerKind)>,
    iteration: u64,
}

impl Timers {
    pub fn add(&mut self, after: Duration, kind: TimerKind) {
        self.heap.push(Reverse((Instant::now() + after, kind)));
    }

    /// Due in the next loop iteration, not this one: a zero-delay `add` made while this
    /// iteration's events are handled would fire before the iteration ends, so a long job cut
    /// in steps this way would still run in one iteration.
    pub fn defer(&mut self, kind: TimerKind) {
        self.deferred.push((self.iteration, kind));
    }

    /// A new loop iteration begins (after its poll): what was deferred before is due.
    pub fn tick(&mut self) {
        self.iteration += 1;
    }

    /// How long the loop may sleep before the next timer is due.
    pub fn next_timeout(&self) -> Option<Duration> {
        if !self.deferred.is_empty() {
            return Some(Duration::ZERO);
        }
        self.heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
    }

    /// Removes and returns every timer that is due, after the oldest deferred one: one deferred
    /// a call, as each is a slice of a longer job and an iteration should run one slice (the
    /// others stay due, for the iterations that follow).
    pub fn expired(&mut self) -> Vec<TimerKind> {
        let now = Instant::now();
        let mut out = Vec::new();
        if self
            .deferred
            .first()
            .is_some_and(|(at, _)| *at < self.iteration)
        {
            out.push(self.deferred.remove(0).1);
        }
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

    #[test]
    fn deferred_timers_wait_for_the_next_iteration() {
        let mut t = Timers::default();
        t.add(Duration::from_secs(3600), TimerKind::ConnectionSweep);
        t.defer(TimerKind::LaunchStep(1));
        assert_eq!(t.next_timeout(), Some(Duration::ZERO));
        assert!(t.expired().is_empty(), "due in this iteration already");
        t.defer(TimerKind::LaunchStep(2));
        t.tick();
        t.defer(TimerKind::LaunchStep(3));
        assert_eq!(t.expired(), [TimerKind::LaunchStep(1)], "one a call");
        assert_eq!(t.expired(), [TimerKind::LaunchStep(2)]);
        assert!(t.expired().is_empty(), "deferred in this iteration");
        assert_eq!(t.next_timeout(), Some(Duration::ZERO));
        t.tick();
        assert_eq!(t.expired(), [TimerKind::LaunchStep(3)]);
        assert!(t
            .next_timeout()
            .is_some_and(|d| d > Duration::from_secs(3000)));
    }
}
