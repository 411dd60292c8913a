//! `filesystem/linux` (Mesos `isolators/filesystem/linux.cpp`): every container gets its own
//! mount namespace (`/` made a recursive slave by the init); a container with an image gets
//! its provisioned rootfs, with the sandbox, /proc, /sys and /dev mounted into it, as `/`.
//! Without an image it is filesystem/posix in a private mount namespace.

use std::path::PathBuf;

use super::super::{Feature, Isolator, IsolatorError, Plan, PrepareCtx};
use crate::launcher::RootSwitch;
use crate::sys::process::CLONE_NEWNS;

#[derive(Debug)]
pub struct FilesystemLinux {
    /// `--sandbox_directory`: where the sandbox appears inside an image's rootfs.
    pub sandbox_directory: PathBuf,
}

impl Isolator for FilesystemLinux {
    fn name(&self) -> &'static str {
        "filesystem/linux"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::Image]
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        plan.namespaces |= CLONE_NEWNS;
        if let Some(rootfs) = ctx.rootfs {
            plan.child.root = Some(RootSwitch {
                rootfs: rootfs.to_path_buf(),
                sandbox: ctx.sandbox.to_path_buf(),
                sandbox_directory: self.sandbox_directory.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::resources::Resources;
    use crate::spec::ContainerInfo;
    use std::path::Path;

    #[test]
    fn new_mount_namespace_and_root_switch_only_with_an_image() {
        let mut iso = FilesystemLinux {
            sandbox_directory: "/mnt/mesos/sandbox".into(),
        };
        let container = ContainerInfo::default();
        let resources = Resources::default();
        let mut ctx = PrepareCtx {
            id: "c1",
            slot: 1,
            resources: &resources,
            cgroup: None,
            hostname: None,
            container: &container,
            sandbox: Path::new("/w/containers/c1"),
            enable_cfs: false,
            user: None,
            rootfs: None,
        };
        let mut plan = Plan::default();
        iso.prepare(&ctx, &mut plan).unwrap();
        assert_eq!(plan.namespaces & CLONE_NEWNS, CLONE_NEWNS);
        assert!(plan.child.root.is_none());
        ctx.rootfs = Some(Path::new(
            "/w/provisioner/containers/c1/backends/copy/rootfses/r",
        ));
        iso.prepare(&ctx, &mut plan).unwrap();
        let root = plan.child.root.unwrap();
        assert_eq!(root.sandbox, Path::new("/w/containers/c1"));
        assert_eq!(root.sandbox_directory, Path::new("/mnt/mesos/sandbox"));
    }
}
