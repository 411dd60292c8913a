//! Port ranges as Mesos `RANGES` values: inclusive ranges kept sorted and merged, so equal
//! sets have equal vectors and set operations are linear walks.

use std::fmt;

/// An inclusive range of ports, `begin..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub begin: u16,
    pub end: u16,
}

impl PortRange {
    pub fn new(begin: u16, end: u16) -> PortRange {
        PortRange { begin, end }
    }

    /// How many ports the range holds (a full 0-65535 range holds 65536).
    pub fn count(&self) -> u32 {
        u32::from(self.end) - u32::from(self.begin) + 1
    }

    fn contains_range(&self, other: &PortRange) -> bool {
        self.begin <= other.begin && other.end <= self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.begin, self.end)
    }
}

/// Sorts and merges overlapping or adjacent ranges (`1-2,3-4` becomes `1-4`).
pub fn normalize(ranges: &mut Vec<PortRange>) {
    ranges.sort();
    let mut merged: Vec<PortRange> = Vec::with_capacity(ranges.len());
    for range in ranges.drain(..) {
        match merged.last_mut() {
            Some(last) if u32::from(range.begin) <= u32::from(last.end) + 1 => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }
    *ranges = merged;
}

/// The union of two normalised lists, normalised.
pub fn union(left: &[PortRange], right: &[PortRange]) -> Vec<PortRange> {
    let mut all: Vec<PortRange> = left.iter().chain(right).copied().collect();
    normalize(&mut all);
    all
}

/// `left` minus every port in `right`; ranges are split where a hole is cut out of them.
pub fn difference(left: &[PortRange], right: &[PortRange]) -> Vec<PortRange> {
    let mut result = Vec::new();
    for range in left {
        // The uncovered part of `range` still to examine, as u32 so `end + 1` cannot overflow.
        let mut begin = u32::from(range.begin);
        let end = u32::from(range.end);
        for cut in right {
            let (cut_begin, cut_end) = (u32::from(cut.begin), u32::from(cut.end));
            if cut_end < begin || cut_begin > end {
                continue;
            }
            if cut_begin > begin {
                result.push(port_range(begin, cut_begin - 1));
            }
            begin = begin.max(cut_end + 1);
            if begin > end {
                break;
            }
        }
        if begin <= end {
            result.push(port_range(begin, end));
        }
    }
    result
}

/// Builds a range from bounds that came from u16 values, so they fit.
fn port_range(begin: u32, end: u32) -> PortRange {
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    PortRange::new(clamp(begin), clamp(end))
}

/// True if every range of `inner` lies inside one range of `outer` (both normalised, so a
/// contiguous request cannot straddle two separate available ranges).
pub fn contains_all(outer: &[PortRange], inner: &[PortRange]) -> bool {
    inner
        .iter()
        .all(|want| outer.iter().any(|have| have.contains_range(want)))
}

/// `31000-31005,32000-32010`, the body of Mesos's `[...]` text form.
pub fn format_ranges(ranges: &[PortRange]) -> String {
    ranges
        .iter()
        .map(PortRange::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn r(begin: u16, end: u16) -> PortRange {
        PortRange::new(begin, end)
    }

    #[test]
    fn test_normalize_merges_overlap_and_adjacent() {
        let mut ranges = vec![r(10, 20), r(1, 3), r(4, 5), r(15, 25), r(30, 30)];
        normalize(&mut ranges);
        assert_eq!(ranges, vec![r(1, 5), r(10, 25), r(30, 30)]);
    }

    #[test]
    fn test_normalize_at_the_top_of_the_port_space() {
        let mut ranges = vec![r(65535, 65535), r(65000, 65534)];
        normalize(&mut ranges);
        assert_eq!(ranges, vec![r(65000, 65535)]);
        assert_eq!(r(0, 65535).count(), 65536);
    }

    #[test]
    fn test_union() {
        assert_eq!(
            union(&[r(1, 5), r(20, 30)], &[r(6, 10), r(25, 40)]),
            vec![r(1, 10), r(20, 40)]
        );
    }

    #[test]
    fn test_difference_splits_ranges() {
        assert_eq!(
            difference(&[r(31000, 32000)], &[r(31500, 31500)]),
            vec![r(31000, 31499), r(31501, 32000)]
        );
        assert_eq!(
            difference(&[r(1, 100)], &[r(1, 10), r(50, 60), r(95, 200)]),
            vec![r(11, 49), r(61, 94)]
        );
        assert_eq!(difference(&[r(1, 10)], &[r(1, 10)]), vec![]);
        assert_eq!(difference(&[r(1, 10)], &[r(20, 30)]), vec![r(1, 10)]);
        assert_eq!(
            difference(&[r(65530, 65535)], &[r(65535, 65535)]),
            vec![r(65530, 65534)]
        );
    }

    #[test]
    fn test_contains_all() {
        let available = [r(31000, 31005), r(32000, 32010)];
        assert!(contains_all(
            &available,
            &[r(31000, 31000), r(32005, 32010)]
        ));
        assert!(!contains_all(&available, &[r(31004, 31006)]));
        assert!(!contains_all(&available, &[r(80, 80)]));
        assert!(contains_all(&available, &[]));
    }
}
