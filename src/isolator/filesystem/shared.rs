//! `filesystem/shared`: the container shares the host's filesystem, in its own mount namespace,
//! with the legacy `host_path` volumes mounted: an absolute host path as it is, a relative one
//! as a directory of the sandbox (so `host_path: "tmp", container_path: "/tmp"` gives each
//! container a private /tmp).

use super::super::volume::{plan_volume, Origin};
use super::super::{Feature, Isolator, IsolatorError, Plan, PrepareCtx};
use crate::spec::VolumeSource;
use crate::sys::process::CLONE_NEWNS;

#[derive(Debug)]
pub struct FilesystemShared;

impl Isolator for FilesystemShared {
    fn name(&self) -> &'static str {
        "filesystem/shared"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::LegacyVolume]
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        plan.namespaces |= CLONE_NEWNS;
        for v in &ctx.container.volumes {
            if let VolumeSource::Legacy(path) = &v.source {
                let from = if path.is_absolute() {
                    Origin::Host(path)
                } else {
                    Origin::Sandbox(path)
                };
                plan_volume(ctx, v, from, plan)?;
            }
        }
        Ok(())
    }
}
