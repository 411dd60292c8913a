//! Marathon's launch backoff: after each failure in a row the next launch of the app waits
//! `backoffSeconds * backoffFactor^(failures - 1)`, at most `maxLaunchDelaySeconds`. The count
//! restarts once an instance has stayed running for the delay it waited (so a crash loop
//! slows down and a recovered app launches at full speed again) or the definition changes.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

impl Backoff {
    /// A failure now: when the next launch may be.
    pub fn failed(&mut self, seconds: f64, factor: f64, max: f64, now: Instant) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = self.delay(seconds, factor, max);
        self.not_before = Some(now + delay);
        delay
    }

    /// The delay the current count gives.
    pub fn delay(&self, seconds: f64, factor: f64, max: f64) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let exp = i32::try_from(self.failures - 1).unwrap_or(i32::MAX);
        let secs = (seconds * factor.powi(exp)).min(max).max(0.0);
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
    }

    /// How long until a launch may go; zero when it may now.
    pub fn wait(&self, now: Instant) -> Duration {
        self.not_before
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
        self.not_before = None;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_up_to_the_bound() {
        let now = Instant::now();
        let mut b = Backoff::default();
        assert_eq!(b.wait(now), Duration::ZERO);
        assert_eq!(b.failed(1.0, 2.0, 5.0, now), Duration::from_secs(1));
        assert_eq!(b.failed(1.0, 2.0, 5.0, now), Duration::from_secs(2));
        assert_eq!(b.failed(1.0, 2.0, 5.0, now), Duration::from_secs(4));
        assert_eq!(b.failed(1.0, 2.0, 5.0, now), Duration::from_secs(5));
        assert_eq!(b.wait(now), Duration::from_secs(5));
        b.reset();
        assert_eq!(b.wait(now), Duration::ZERO);
        assert_eq!(b.failures(), 0);
    }
}
