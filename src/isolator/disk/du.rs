//! `disk/du`: sandbox usage from a `du` child process. The measuring itself is driven by the
//! containerizer's loop (one `du` at a time, on a timer: `containerizer/disk.rs`), which fills
//! `disk_used_bytes` and `disk_limit_bytes` and enforces the quota; nothing to prepare here.

use super::super::{Isolator, Plan, PrepareCtx};

#[derive(Debug)]
pub struct DiskDu;

impl Isolator for DiskDu {
    fn name(&self) -> &'static str {
        "disk/du"
    }

    fn prepare(&self, _ctx: &PrepareCtx<'_>, _plan: &mut Plan) -> Result<(), String> {
        Ok(())
    }
}
