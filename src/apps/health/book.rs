//! The bookkeeping of one check's results, Marathon's `Health`: times of the first and last
//! success and the last failure, the consecutive failures, and the grace rule.

use super::CheckResult;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Healthy,
    /// With the cause, as `lastFailureCause` shows it.
    Unhealthy(String),
    /// A 1xx answer to a check with `ignoreHttp1xx`: Marathon discards it, the health stays
    /// as it was.
    Ignored,
}

impl CheckResult {
    /// Records `outcome`, seen at `now` (unix seconds). A failure before the first success
    /// while the instance is within its grace period does not count and leaves everything as
    /// it was, as in Marathon. Returns whether anything changed.
    pub(super) fn record(&mut self, outcome: Outcome, now: f64, in_grace: bool) -> bool {
        match outcome {
            Outcome::Healthy => {
                self.first_success.get_or_insert(now);
                self.last_success = Some(now);
                self.consecutive_failures = 0;
            }
            Outcome::Unhealthy(_) if in_grace && self.first_success.is_none() => return false,
            Outcome::Unhealthy(cause) => {
                self.last_failure = Some(now);
                self.last_failure_cause = Some(cause);
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            }
            Outcome::Ignored => return false,
        }
        // Marathon's `alive`: a success, and none of the failures after it.
        self.alive = match (self.last_success, self.last_failure) {
            (Some(ok), Some(failed)) => ok > failed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        true
    }

    /// Whether the check failed `max` times in a row (0: never, as in Marathon).
    pub(super) fn failed_out(&self, max: u32) -> bool {
        max > 0 && self.consecutive_failures >= max
    }
}

/// A task's health over all its checks, what the controller is told of when it changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Summary {
    /// Every check alive (Marathon counts an instance healthy when all its checks are).
    pub alive: bool,
    /// The most of any check.
    pub consecutive_failures: u32,
    /// Some check reached its `maxConsecutiveFailures`.
    pub failed_out: bool,
}

impl Summary {
    /// Of each check's result and its `maxConsecutiveFailures`.
    pub fn of<'a>(checks: impl Iterator<Item = (&'a CheckResult, u32)>) -> Summary {
        let mut s = Summary {
            alive: true,
            ..Summary::default()
        };
        let mut any = false;
        for (result, max) in checks {
            any = true;
            s.alive &= result.alive;
            s.consecutive_failures = s.consecutive_failures.max(result.consecutive_failures);
            s.failed_out |= result.failed_out(max);
        }
        s.alive &= any;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(cause: &str) -> Outcome {
        Outcome::Unhealthy(cause.into())
    }

    #[test]
    fn successes_and_failures_are_timed_and_counted() {
        let mut r = CheckResult::default();
        assert!(r.record(Outcome::Healthy, 10.0, false));
        assert!(r.alive);
        assert_eq!((r.first_success, r.last_success), (Some(10.0), Some(10.0)));
        assert!(r.record(failed("500 Internal Server Error"), 11.0, false));
        assert!(r.record(failed("connection refused"), 12.0, false));
        assert!(!r.alive);
        assert_eq!(r.consecutive_failures, 2);
        assert_eq!(r.last_failure, Some(12.0));
        assert_eq!(r.last_failure_cause.as_deref(), Some("connection refused"));
        assert!(r.failed_out(2));
        assert!(!r.failed_out(3));
        assert!(!r.failed_out(0), "0 means never");
        assert!(r.record(Outcome::Healthy, 13.0, false));
        assert!(r.alive);
        assert_eq!(r.consecutive_failures, 0);
        assert_eq!(r.first_success, Some(10.0), "the first success stays");
        assert_eq!(r.last_success, Some(13.0));
        assert_eq!(r.last_failure_cause.as_deref(), Some("connection refused"));
    }

    #[test]
    fn failures_in_the_grace_period_count_only_after_a_first_success() {
        let mut r = CheckResult::default();
        assert!(!r.record(failed("refused"), 1.0, true));
        assert_eq!(r, CheckResult::default(), "nothing recorded");
        assert!(
            r.record(failed("refused"), 2.0, false),
            "after the grace period"
        );
        assert_eq!(r.consecutive_failures, 1);
        let mut r = CheckResult::default();
        r.record(Outcome::Healthy, 1.0, true);
        assert!(
            r.record(failed("refused"), 2.0, true),
            "healthy once: counted"
        );
        assert_eq!(r.consecutive_failures, 1);
        assert!(!r.alive);
    }

    #[test]
    fn an_ignored_answer_changes_nothing() {
        let mut r = CheckResult::default();
        r.record(Outcome::Healthy, 1.0, false);
        let before = r.clone();
        assert!(!r.record(Outcome::Ignored, 2.0, false));
        assert_eq!(r, before);
    }

    #[test]
    fn a_task_is_alive_when_every_check_is() {
        let mut ok = CheckResult::default();
        ok.record(Outcome::Healthy, 1.0, false);
        let mut bad = CheckResult::default();
        for t in 0..3 {
            bad.record(failed("x"), f64::from(t), false);
        }
        let s = Summary::of([(&ok, 3), (&bad, 3)].into_iter());
        assert_eq!(
            s,
            Summary {
                alive: false,
                consecutive_failures: 3,
                failed_out: true
            }
        );
        let s = Summary::of([(&ok, 3), (&bad, 0)].into_iter());
        assert!(!s.failed_out, "maxConsecutiveFailures 0 never fails out");
        assert!(Summary::of([(&ok, 3)].into_iter()).alive);
        assert!(
            !Summary::of(std::iter::empty()).alive,
            "no check, no result"
        );
    }
}
