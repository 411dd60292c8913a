//! The containerizer's counters and the launch latency histogram.

/// Upper bounds (seconds) of the launch latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A Prometheus-style cumulative histogram.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Count of observations at or below each bucket's bound.
    pub buckets: [u64; LATENCY_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, secs: f64) {
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    pub fn add(&mut self, other: &Histogram) {
        for (b, o) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *b += o;
        }
        self.count += other.count;
        self.sum += other.sum;
    }
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub launches: u64,
    pub launch_failures: u64,
    pub destroy_errors: u64,
    /// Launches whose cgroups the cgroup helper made (other inits were attaching).
    pub cgroups_made_off_loop: u64,
    pub launch_latency: Histogram,
}

impl Metrics {
    /// Adds another containerizer's counters (the composing containerizer's sum).
    pub fn add(&mut self, other: &Metrics) {
        self.launches += other.launches;
        self.launch_failures += other.launch_failures;
        self.destroy_errors += other.destroy_errors;
        self.cgroups_made_off_loop += other.cgroups_made_off_loop;
        self.launch_latency.add(&other.launch_latency);
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn metrics_add_up() {
        let mut a = super::Metrics::default();
        let mut b = super::Metrics::default();
        a.launches = 2;
        b.launches = 3;
        b.launch_failures = 1;
        b.launch_latency.observe(0.3);
        a.add(&b);
        assert_eq!((a.launches, a.launch_failures), (5, 1));
        assert_eq!(
            (a.launch_latency.count, a.launch_latency.buckets[11]),
            (1, 1)
        );
    }

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.002);
        h.observe(0.3);
        assert_eq!(h.buckets[0], 0);
        assert_eq!(h.buckets[2], 1);
        assert_eq!(h.buckets[11], 2);
        assert_eq!(h.count, 2);
    }
}
