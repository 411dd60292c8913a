//! `volume/sandbox_path`: volumes with `source.type` SANDBOX_PATH (SELF), a directory of the
//! container's own sandbox (created if missing) mounted at the container path.

use super::super::{Feature, Isolator, IsolatorError, Plan, PrepareCtx};
use super::{plan_volume, Origin};
use crate::spec::VolumeSource;

#[derive(Debug)]
pub struct VolumeSandboxPath;

impl Isolator for VolumeSandboxPath {
    fn name(&self) -> &'static str {
        "volume/sandbox_path"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::SandboxPathVolume]
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        for v in &ctx.container.volumes {
            if let VolumeSource::SandboxPath(path) = &v.source {
                plan_volume(ctx, v, Origin::Sandbox(path), plan)?;
            }
        }
        Ok(())
    }
}
