//! `volume/host_path`: volumes with `source.type` HOST_PATH, a host path bind-mounted at the
//! container path.

use super::super::{Feature, Isolator, IsolatorError, Plan, PrepareCtx};
use super::{plan_volume, Origin};
use crate::spec::VolumeSource;

#[derive(Debug)]
pub struct VolumeHostPath;

impl Isolator for VolumeHostPath {
    fn name(&self) -> &'static str {
        "volume/host_path"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::HostPathVolume]
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        for v in &ctx.container.volumes {
            if let VolumeSource::HostPath(path) = &v.source {
                plan_volume(ctx, v, Origin::Host(path), plan)?;
            }
        }
        Ok(())
    }
}
