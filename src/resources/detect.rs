//! The node's capacity when `--resources` does not give it, computed as Mesos's
//! `Containerizer::resources` does: all online CPUs, RAM and work-dir disk minus headroom for
//! the system, and ports 31000-32000.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Partial, PortRange, Resources, ResourcesError};

const GIB: u64 = 1 << 30;
const MIB: f64 = (1 << 20) as f64;

/// Mesos's default port range.
const DEFAULT_PORTS: PortRange = PortRange {
    begin: 31000,
    end: 32000,
};

/// Detects the node's resources from `<proc_dir>/cpuinfo`, `<proc_dir>/meminfo` and the
/// filesystem holding `work_dir` (or its nearest existing ancestor, before it is created).
pub fn detect(proc_dir: &Path, work_dir: &Path) -> Result<Resources, ResourcesError> {
    let cpus = detect_cpus(&proc_dir.join("cpuinfo"))?;
    let mem = mem_total(&proc_dir.join("meminfo"))?;
    let disk = filesystem_size(work_dir)?;
    Ok(Resources {
        cpus: cpus as f64,
        mem_mb: super::round3(mem_headroom(mem) as f64 / MIB),
        disk_mb: super::round3(disk_headroom(disk) as f64 / MIB),
        ports: vec![DEFAULT_PORTS],
    })
}

/// `detected` with every name that `given` (text or JSON `--resources`) mentions replaced:
/// `cpus:2` alone means 2 cpus and the rest detected.
pub fn with_overrides(detected: Resources, given_text: &str) -> Result<Resources, ResourcesError> {
    Ok(Partial::parse_spec(given_text)?.overlay(detected))
}

/// The agent's total: detected, then overridden by `--resources` when given.
pub fn total(
    proc_dir: &Path,
    work_dir: &Path,
    given: Option<&str>,
) -> Result<Resources, ResourcesError> {
    let detected = detect(proc_dir, work_dir)?;
    match given {
        Some(text) => with_overrides(detected, text),
        None => Ok(detected),
    }
}

/// Mesos: keep 1 GiB for the system, or half of a host smaller than 2 GiB.
fn mem_headroom(total: u64) -> u64 {
    if total >= 2 * GIB {
        total - GIB
    } else {
        total / 2
    }
}

/// Mesos: keep 5 GiB of disk, or half of a filesystem smaller than 10 GiB.
fn disk_headroom(total: u64) -> u64 {
    if total >= 10 * GIB {
        total - 5 * GIB
    } else {
        total / 2
    }
}

fn read(path: &Path) -> Result<String, ResourcesError> {
    fs::read_to_string(path).map_err(|err| ResourcesError::ReadProc {
        path: path.to_path_buf(),
        err,
    })
}

/// Counts the `processor : N` lines (one per online CPU); when the format has none (some
/// architectures), falls back to sysconf.
fn detect_cpus(cpuinfo: &Path) -> Result<u64, ResourcesError> {
    let count = read(cpuinfo)?
        .lines()
        .filter(|line| line.split(':').next().map(str::trim) == Some("processor"))
        .count() as u64;
    if count > 0 {
        return Ok(count);
    }
    crate::sys::online_cpus().ok_or(ResourcesError::ParseProc {
        path: cpuinfo.to_path_buf(),
        reason: "no processor lines, and sysconf does not know the CPU count",
    })
}

/// `MemTotal:  16318016 kB`, in bytes.
fn mem_total(meminfo: &Path) -> Result<u64, ResourcesError> {
    let text = read(meminfo)?;
    let bad = || ResourcesError::ParseProc {
        path: meminfo.to_path_buf(),
        reason: "no 'MemTotal: <n> kB' line",
    };
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .ok_or_else(bad)?;
    let mut words = line.split_whitespace();
    let kib: u64 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
    if words.next() != Some("kB") {
        return Err(bad());
    }
    kib.checked_mul(1024).ok_or_else(bad)
}

/// Total size of the filesystem holding `path` (f_blocks × f_frsize, as Mesos's `fs::size`).
fn filesystem_size(path: &Path) -> Result<u64, ResourcesError> {
    let existing = nearest_existing(path);
    let statvfs_error = |err: io::Error| ResourcesError::Statvfs {
        path: existing.clone(),
        err,
    };
    crate::sys::fs::filesystem_size(&existing).map_err(statvfs_error)
}

/// The work dir may not exist before the agent's first start; its filesystem is that of the
/// closest ancestor that does.
fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mesolite-resources-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn fake_proc(name: &str, cpus: usize, mem_kib: u64) -> PathBuf {
        let dir = temp_dir(name);
        let mut cpuinfo = String::new();
        for i in 0..cpus {
            cpuinfo.push_str(&format!(
                "processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Fake\n\n"
            ));
        }
        fs::write(dir.join("cpuinfo"), cpuinfo).unwrap();
        fs::write(
            dir.join("meminfo"),
            format!("MemTotal:       {mem_kib} kB\nMemFree:         1000 kB\n"),
        )
        .unwrap();
        dir
    }

    #[test]
    fn test_detect_from_fake_proc() {
        let proc_dir = fake_proc("detect", 3, 8 * 1024 * 1024);
        let work_dir = proc_dir.join("not/yet/created");
        let detected = detect(&proc_dir, &work_dir).unwrap();
        assert_eq!(detected.cpus, 3.0);
        assert_eq!(detected.mem_mb, 7.0 * 1024.0);
        assert!(detected.disk_mb > 0.0);
        assert_eq!(detected.ports, vec![PortRange::new(31000, 32000)]);
        fs::remove_dir_all(proc_dir).unwrap();
    }

    #[test]
    fn test_small_host_keeps_half() {
        let proc_dir = fake_proc("small", 1, 1024 * 1024);
        let detected = detect(&proc_dir, &proc_dir).unwrap();
        assert_eq!(detected.mem_mb, 512.0);
        fs::remove_dir_all(proc_dir).unwrap();
    }

    #[test]
    fn test_headroom() {
        assert_eq!(mem_headroom(2 * GIB), GIB);
        assert_eq!(mem_headroom(GIB), GIB / 2);
        assert_eq!(disk_headroom(100 * GIB), 95 * GIB);
        assert_eq!(disk_headroom(8 * GIB), 4 * GIB);
    }

    #[test]
    fn test_overrides_per_name() {
        let detected = Resources {
            cpus: 8.0,
            mem_mb: 1000.0,
            disk_mb: 5000.0,
            ports: vec![DEFAULT_PORTS],
        };
        let given = with_overrides(detected.clone(), "cpus:2").unwrap();
        assert_eq!(given.cpus, 2.0);
        assert_eq!(given.mem_mb, 1000.0);
        assert_eq!(given.ports, detected.ports);
        let given = with_overrides(detected.clone(), "ports:[80-90];mem:0").unwrap();
        assert_eq!(given.ports, vec![PortRange::new(80, 90)]);
        assert_eq!(given.mem_mb, 0.0);
        assert_eq!(given.cpus, 8.0);
        let json = r#"[{"name":"disk","type":"SCALAR","scalar":{"value":42}}]"#;
        assert_eq!(
            with_overrides(detected.clone(), json).unwrap().disk_mb,
            42.0
        );
        assert!(with_overrides(detected, "cpus:x").is_err());
    }

    #[test]
    fn test_detect_errors() {
        let dir = temp_dir("errors");
        assert!(matches!(
            detect(&dir, &dir),
            Err(ResourcesError::ReadProc { .. })
        ));
        fs::write(dir.join("cpuinfo"), "processor : 0\n").unwrap();
        fs::write(dir.join("meminfo"), "MemFree: 10 kB\n").unwrap();
        let err = detect(&dir, &dir).unwrap_err();
        assert!(matches!(err, ResourcesError::ParseProc { .. }));
        assert!(err.to_string().contains("meminfo"), "{err}");
        fs::write(dir.join("meminfo"), "MemTotal: 10 MB\n").unwrap();
        assert!(matches!(
            detect(&dir, &dir),
            Err(ResourcesError::ParseProc { .. })
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_cpus_fall_back_to_sysconf() {
        let dir = temp_dir("sysconf");
        fs::write(dir.join("cpuinfo"), "cpu number : 0\n").unwrap();
        assert!(detect_cpus(&dir.join("cpuinfo")).unwrap() >= 1);
        fs::remove_dir_all(dir).unwrap();
    }
}
