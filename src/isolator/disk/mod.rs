//! `disk/*`: sandbox usage and its `disk` limit, measured by `du` (disk/du) or kept by an XFS
//! project quota (disk/xfs).

pub mod du;
pub mod xfs;
pub mod xfs_isolator;

use crate::config::Bytes;
use crate::resources::Resources;
use crate::status::{Limitation, Reason};

const MB: u64 = 1024 * 1024;

/// The `disk` resource in bytes (0: none).
fn disk_limit(r: &Resources) -> u64 {
    (r.disk_mb * MB as f64).round() as u64
}

/// The limitation of a container whose sandbox outgrew its `disk` resource.
fn disk_limitation(disk_mb: f64, used: u64, limit: u64) -> Limitation {
    let disk = Resources {
        disk_mb,
        ..Resources::default()
    };
    Limitation {
        reason: Reason::ContainerLimitationDisk,
        message: format!(
            "Disk usage ({}) exceeds quota ({})",
            Bytes(used),
            Bytes(limit)
        ),
        resources: disk.to_json(),
    }
}
