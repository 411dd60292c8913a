//! The process tree below a pid, summed from `<proc>/<pid>/stat`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

/// Summed usage of a process and all its descendants.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TreeUsage {
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub rss_pages: u64,
    pub processes: u32,
}

#[derive(Debug, Clone, Copy)]
struct Stat {
    ppid: i32,
    utime: u64,
    stime: u64,
    rss: u64,
}

/// Parses the fields we need from a `/proc/<pid>/stat` line. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted from the last ')'.
fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After ')': state(3) ppid(4) ... utime(14) stime(15) ... rss(24); index = field - 3.
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        rss: f.get(21)?.parse().ok()?,
    })
}

/// Every process in procfs at one moment, with its parent: read once per statistics request
/// and shared by every container `posix/cpu` and `posix/mem` measure, so a request over N
/// containers walks `/proc` once rather than 2N times.
#[derive(Debug, Default)]
pub struct ProcTable {
    stats: HashMap<i32, Stat>,
    children: HashMap<i32, Vec<i32>>,
}

impl ProcTable {
    /// Reads `<proc_dir>/<pid>/stat` of every process.
    pub fn read(proc_dir: &Path) -> std::io::Result<ProcTable> {
        let mut stats: HashMap<i32, Stat> = HashMap::new();
        let mut line = String::new();
        for entry in fs::read_dir(proc_dir)? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            line.clear();
            // A process may end between readdir and read: skip it.
            let read = fs::File::open(entry.path().join("stat"))
                .and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut line));
            if let Some(s) = read.ok().and_then(|_| parse_stat(&line)) {
                stats.insert(pid, s);
            }
        }
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for (pid, s) in &stats {
            children.entry(s.ppid).or_default().push(*pid);
        }
        Ok(ProcTable { stats, children })
    }

    /// Sums the usage of `root` and its descendants.
    pub fn tree_usage(&self, root: i32) -> TreeUsage {
        let mut total = TreeUsage::default();
        let mut stack = vec![root];
        while let Some(pid) = stack.pop() {
            let Some(s) = self.stats.get(&pid) else {
                continue;
            };
            total.utime_ticks += s.utime;
            total.stime_ticks += s.stime;
            total.rss_pages += s.rss;
            total.processes += 1;
            if let Some(c) = self.children.get(&pid) {
                stack.extend(c);
            }
        }
        total
    }
}

/// Clock ticks per second (USER_HZ).
pub fn ticks_per_sec() -> f64 {
    crate::sys::clock_ticks().map_or(100.0, |t| t as f64)
}

/// The page size in bytes.
pub fn page_size() -> u64 {
    crate::sys::page_size().unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_name() {
        let line =
            "42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 15 6 0 0 20 0 1 0 100 1000000 250 rest";
        let s = parse_stat(line).expect("parses");
        assert_eq!((s.ppid, s.utime, s.stime, s.rss), (7, 15, 6, 250));
    }

    #[test]
    fn sums_a_real_process_tree() {
        let me = crate::sys::getpid();
        let table = ProcTable::read(Path::new("/proc")).expect("reads /proc");
        let u = table.tree_usage(me);
        assert!(u.processes >= 1);
        assert!(u.rss_pages > 0);
        // The init's tree holds every process, this one among them.
        assert!(table.tree_usage(1).processes > u.processes);
        assert_eq!(table.tree_usage(-5), TreeUsage::default());
    }
}
