//! `--xfs_project_range`, a flag value of disk/xfs, kept with the other flag types so that the
//! configuration depends on nothing above it.

use std::fmt;
use std::str::FromStr;

/// `--xfs_project_range`: project IDs mesolite may use, inclusive, in Mesos's range syntax
/// `[5000-10000]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectRange {
    pub first: u32,
    pub last: u32,
}

/// A `--xfs_project_range` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadProjectRange(pub String);

impl fmt::Display for BadProjectRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a project ID range like [5000-10000] (IDs 1 to 4294967294, first <= last)",
            self.0
        )
    }
}

impl std::error::Error for BadProjectRange {}

impl FromStr for ProjectRange {
    type Err = BadProjectRange;

    fn from_str(text: &str) -> Result<ProjectRange, BadProjectRange> {
        let bad = || BadProjectRange(text.to_string());
        let inner = text
            .trim()
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .ok_or_else(bad)?;
        let (first, last) = inner.split_once('-').ok_or_else(bad)?;
        let first: u32 = first.trim().parse().map_err(|_| bad())?;
        let last: u32 = last.trim().parse().map_err(|_| bad())?;
        // Project 0 is "no project"; u32::MAX is -1 to quotactl.
        if first == 0 || last == u32::MAX || first > last {
            return Err(bad());
        }
        Ok(ProjectRange { first, last })
    }
}

impl fmt::Display for ProjectRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}-{}]", self.first, self.last)
    }
}

impl ProjectRange {
    pub fn contains(&self, id: u32) -> bool {
        (self.first..=self.last).contains(&id)
    }
}
