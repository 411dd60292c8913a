//! The event loop's own latency: how long each iteration's handling takes (from the poll's return
//! to the next poll, the wait excluded), the longest since the last reset and how many passed
//! 2 ms and 5 ms, for `/metrics/snapshot`. An iteration over 5 ms is logged at debug with what it
//! handled, so a stall can be traced to its source without a profiler.
//!
//! Below the API (which reports it) and the agent (which drives it): it knows sources and timers,
//! not the server, so the agent hands it the request a connection event answered.

use std::cell::Cell;
use std::fmt::Write;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::event::Source;
use crate::timer::TimerKind;

/// The loop's latency budget (issue 12): no iteration over this.
pub const BUDGET: Duration = Duration::from_millis(2);
/// Iterations over this are logged at debug.
pub const SLOW: Duration = Duration::from_millis(5);
/// Handled items remembered per iteration for the slow log; the rest are only counted.
const KEEP: usize = 16;

/// What the endpoints report.
#[derive(Debug, Default)]
pub struct LoopStats {
    /// A `Cell` so that a request (`?reset_loop_max=1`) can reset it through the shared
    /// `AgentInfo` handlers get; the agent is single-threaded.
    max: Cell<Duration>,
    pub over_budget: u64,
    pub over_slow: u64,
}

impl LoopStats {
    /// Accounts one iteration; true when it was slow enough to log.
    pub fn record(&mut self, took: Duration) -> bool {
        if took > self.max.get() {
            self.max.set(took);
        }
        self.over_budget += u64::from(took > BUDGET);
        self.over_slow += u64::from(took > SLOW);
        took > SLOW
    }

    /// The longest iteration since the start or the last reset.
    pub fn max(&self) -> Duration {
        self.max.get()
    }

    /// Starts a new window for `max` (a benchmark's phase); the counters stay monotonic.
    pub fn reset_max(&self) {
        self.max.set(Duration::ZERO);
    }
}

#[derive(Debug)]
enum What {
    Source(Source),
    Timer(TimerKind),
    /// The server's pending answers (streamed statistics slices).
    Pending,
}

#[derive(Debug)]
struct Handled {
    what: What,
    /// The request a connection event answered, in `Iteration::labels`.
    request: Option<Range<usize>>,
    took: Duration,
}

/// One iteration in progress. Reused: its buffers keep their capacity, so measuring allocates
/// nothing once warm.
#[derive(Debug, Default)]
pub struct Iteration {
    started: Option<Instant>,
    /// The loop thread's CPU time at the start, when slow iterations are logged.
    cpu_started: Option<Duration>,
    /// `<proc>/thread-self/schedstat`, opened when slow iterations are logged: its second
    /// field is the time the thread waited for a CPU, runnable, which tells preemption from
    /// a wait in the kernel.
    schedstat: Option<std::fs::File>,
    waited_started: Option<Duration>,
    /// The end of the last handled item, the start of the next.
    mark: Option<Instant>,
    handled: Vec<Handled>,
    more: usize,
    labels: String,
    /// The server's request count when last looked at, to tell whether an event answered one.
    requests_seen: u64,
}

impl Iteration {
    /// An iteration that also tells, in its slow log, how long the loop waited for a CPU
    /// (read from `<proc_dir>/thread-self/schedstat`; without it, not told).
    pub fn with_schedstat(proc_dir: &std::path::Path) -> Iteration {
        let schedstat = log::log_enabled!(log::Level::Debug)
            .then(|| std::fs::File::open(proc_dir.join("thread-self/schedstat")).ok())
            .flatten();
        Iteration {
            schedstat,
            ..Iteration::default()
        }
    }

    fn waited(&self) -> Option<Duration> {
        use std::os::unix::fs::FileExt;
        let file = self.schedstat.as_ref()?;
        let mut buf = [0u8; 96];
        let n = file.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let ns: u64 = text.split(' ').nth(1)?.trim().parse().ok()?;
        Some(Duration::from_nanos(ns))
    }

    /// The poll returned.
    pub fn start(&mut self) {
        let now = Instant::now();
        self.started = Some(now);
        self.cpu_started = log::log_enabled!(log::Level::Debug).then(crate::sys::thread_cpu_time);
        self.waited_started = self.waited();
        self.mark = Some(now);
        self.handled.clear();
        self.labels.clear();
        self.more = 0;
    }

    /// An event was handled. `requests` is the server's request count and `last_request` its
    /// last request line, named when the count moved meanwhile.
    pub fn source(&mut self, source: Source, requests: u64, last_request: &str) {
        self.push(What::Source(source), requests, last_request);
    }

    /// A timer was handled (it may have answered a parked WAIT, and so a pipelined request).
    pub fn timer(&mut self, kind: TimerKind, requests: u64, last_request: &str) {
        self.push(What::Timer(kind), requests, last_request);
    }

    /// The server's pending answers were written.
    pub fn pending(&mut self, requests: u64, last_request: &str) {
        self.push(What::Pending, requests, last_request);
    }

    fn push(&mut self, what: What, requests: u64, last_request: &str) {
        let request = (requests != self.requests_seen).then_some(last_request);
        self.requests_seen = requests;
        let now = Instant::now();
        let took = self.mark.map_or(Duration::ZERO, |m| now.duration_since(m));
        self.mark = Some(now);
        if self.handled.len() >= KEEP {
            self.more += 1;
            return;
        }
        let request = request.map(|r| {
            let at = self.labels.len();
            self.labels.push_str(r);
            at..self.labels.len()
        });
        self.handled.push(Handled {
            what,
            request,
            took,
        });
    }

    /// The loop is about to poll again: accounts the iteration, if one was started, and logs it
    /// when slow. The log is written after the measure, outside it.
    pub fn finish(&mut self, stats: &mut LoopStats) {
        let Some(started) = self.started.take() else {
            return;
        };
        let took = started.elapsed();
        if stats.record(took) && log::log_enabled!(log::Level::Debug) {
            let cpu = self
                .cpu_started
                .map(|s| crate::sys::thread_cpu_time().saturating_sub(s));
            let waited = self
                .waited_started
                .zip(self.waited())
                .map(|(s, now)| now.saturating_sub(s));
            log::debug!("{}", self.describe(took, cpu, waited));
        }
    }

    /// "loop iteration took 7.3 ms (6.8 ms on CPU, 0.1 ms waiting for one): Conn(4) GET
    /// /monitor/statistics 6.9 ms, Init(12) 0.3 ms". Much less on CPU than taken: the loop was
    /// preempted (waiting for a CPU) or blocked in the kernel (the rest); the time no item
    /// accounts for is named "outside the items".
    fn describe(&self, took: Duration, cpu: Option<Duration>, waited: Option<Duration>) -> String {
        let mut s = format!("loop iteration took {:.1} ms", ms(took));
        match (cpu, waited) {
            (Some(cpu), Some(w)) => {
                let _ = write!(
                    s,
                    " ({:.1} ms on CPU, {:.1} ms waiting for one)",
                    ms(cpu),
                    ms(w)
                );
            }
            (Some(cpu), None) => {
                let _ = write!(s, " ({:.1} ms on CPU)", ms(cpu));
            }
            _ => {}
        }
        s.push(':');
        for (i, h) in self.handled.iter().enumerate() {
            s.push_str(if i == 0 { " " } else { ", " });
            let _ = match &h.what {
                What::Source(src) => write!(s, "{src:?}"),
                What::Timer(kind) => write!(s, "timer {kind:?}"),
                What::Pending => write!(s, "pending answers"),
            };
            if let Some(r) = &h.request {
                let _ = write!(s, " {}", &self.labels[r.clone()]);
            }
            let _ = write!(s, " {:.1} ms", ms(h.took));
        }
        if self.handled.is_empty() {
            s.push_str(" nothing handled");
        }
        if self.more > 0 {
            let _ = write!(s, ", and {} more", self.more);
        }
        let items: Duration = self.handled.iter().map(|h| h.took).sum();
        let outside = took.saturating_sub(items);
        if self.more == 0 && outside >= Duration::from_micros(100) {
            let _ = write!(s, ", outside the items {:.1} ms", ms(outside));
        }
        s
    }
}

/// With the `test-hooks` feature (only the binary the tests build has it): stalls the loop for
/// `ms` milliseconds (at most 1 s), so that the tests can see the measure move. Without the
/// feature this does nothing.
#[cfg(feature = "test-hooks")]
pub fn test_stall(ms: Option<&str>) {
    if let Some(ms) = ms.and_then(|m| m.parse::<u64>().ok()) {
        std::thread::sleep(Duration::from_millis(ms.min(1000)));
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn test_stall(_ms: Option<&str>) {}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keeps_the_max_and_counts_over_thresholds() {
        let mut s = LoopStats::default();
        assert!(!s.record(Duration::from_micros(300)));
        assert!(!s.record(Duration::from_millis(3)));
        assert!(s.record(Duration::from_millis(7)));
        assert!(!s.record(Duration::from_millis(1)));
        assert_eq!(s.max(), Duration::from_millis(7));
        assert_eq!((s.over_budget, s.over_slow), (2, 1));
        s.reset_max();
        assert_eq!(s.max(), Duration::ZERO);
        s.record(Duration::from_micros(900));
        assert_eq!(s.max(), Duration::from_micros(900));
        assert_eq!((s.over_budget, s.over_slow), (2, 1));
    }

    #[test]
    fn an_iteration_measures_from_start_to_finish_once() {
        let mut s = LoopStats::default();
        let mut it = Iteration::default();
        it.finish(&mut s);
        assert_eq!(s.max(), Duration::ZERO, "no iteration started yet");
        it.start();
        std::thread::sleep(Duration::from_millis(3));
        it.finish(&mut s);
        assert!(s.max() >= Duration::from_millis(3), "{:?}", s.max());
        assert_eq!(s.over_budget, 1);
        it.finish(&mut s);
        assert_eq!(
            s.over_budget, 1,
            "a finished iteration is not counted twice"
        );
    }

    #[test]
    fn the_slow_log_names_sources_requests_and_timers() {
        let mut it = Iteration::default();
        it.start();
        it.source(Source::Conn(4), 1, "GET /monitor/statistics");
        // The request count did not move: this event answered no request.
        it.source(Source::Conn(5), 1, "GET /monitor/statistics");
        it.source(Source::Init(12), 1, "ignored");
        it.timer(TimerKind::DestroyRetry(3), 2, "POST /api/v1");
        it.pending(2, "POST /api/v1");
        let text = it.describe(Duration::from_micros(7300), None, None);
        assert!(
            text.starts_with("loop iteration took 7.3 ms: Conn(4) GET /monitor/statistics "),
            "{text}"
        );
        assert!(text.contains(", Conn(5) "), "{text}");
        assert!(!text.contains("Conn(5) GET"), "{text}");
        assert!(text.contains(", Init(12) "), "{text}");
        assert!(
            text.contains(", timer DestroyRetry(3) POST /api/v1 "),
            "{text}"
        );
        assert!(!text.contains("ignored"), "{text}");
        assert!(text.contains(", pending answers "), "{text}");
        // Far more taken than the items took (they took microseconds here): named.
        assert!(text.contains(", outside the items 7."), "{text}");
        let with_cpu = it.describe(
            Duration::from_micros(7300),
            Some(Duration::from_micros(400)),
            Some(Duration::from_micros(6500)),
        );
        assert!(
            with_cpu.starts_with(
                "loop iteration took 7.3 ms (0.4 ms on CPU, 6.5 ms waiting for one): "
            ),
            "{with_cpu}"
        );
    }

    #[test]
    fn the_slow_log_is_bounded() {
        let mut it = Iteration::default();
        it.start();
        for slot in 0..(KEEP as u32 + 5) {
            it.source(Source::Init(slot), 0, "");
        }
        let text = it.describe(Duration::from_millis(6), None, None);
        assert!(text.ends_with(", and 5 more"), "{text}");
        it.start();
        assert_eq!(
            it.describe(Duration::from_millis(6), None, None),
            "loop iteration took 6.0 ms: nothing handled, outside the items 6.0 ms"
        );
    }
}
