//! Test helpers: temporary directories laid out like cgroupfs.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::CgroupsConfig;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed (recursively) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("mesolite-cgtest-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates `dir` with `files` (name, content), as the kernel does on mkdir in cgroupfs.
pub fn cgroup_dir(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
}

/// The content of `dir/name`, trimmed.
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|err| panic!("{}/{name}: {err}", dir.display()))
        .trim()
        .to_owned()
}

/// A mountinfo line for a v1 hierarchy at `mount_point` with `subsystems` (e.g. "cpu,cpuacct").
pub fn v1_line(id: u32, mount_point: &Path, subsystems: &str) -> String {
    format!(
        "{id} 31 0:{id} / {} rw,relatime - cgroup cgroup rw,{subsystems}\n",
        mount_point.display()
    )
}

/// A mountinfo line for a cgroup2 mount at `mount_point`.
pub fn v2_line(id: u32, mount_point: &Path) -> String {
    format!(
        "{id} 31 0:{id} / {} rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
        mount_point.display()
    )
}

/// A fake cgroupfs under a tempdir, with its mountinfo and /proc/self/cgroup files.
pub struct Fake {
    /// Owns the tree; removed on drop.
    _tmp: TempDir,
    pub cfg: CgroupsConfig,
}

impl Fake {
    pub fn new(mountinfo: impl Fn(&Path) -> String, self_cgroup: &str) -> Self {
        let tmp = TempDir::new();
        let hierarchy = tmp.path().join("cg");
        fs::create_dir_all(&hierarchy).unwrap();
        let cfg = CgroupsConfig {
            hierarchy: hierarchy.clone(),
            root: "mesolite".to_owned(),
            mountinfo: tmp.path().join("mountinfo"),
            self_cgroup: tmp.path().join("self_cgroup"),
            under_systemd: false,
        };
        fs::write(&cfg.mountinfo, mountinfo(&hierarchy)).unwrap();
        fs::write(&cfg.self_cgroup, self_cgroup).unwrap();
        Self { _tmp: tmp, cfg }
    }

    pub fn dir(&self, relative: &str) -> PathBuf {
        self.cfg.hierarchy.join(relative)
    }
}

pub fn sleeper() -> (Child, i32) {
    let child = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    (child, pid)
}
pub fn remove_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            fs::remove_file(path).unwrap();
        }
    }
}
