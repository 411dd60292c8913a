//! `filesystem/posix`: the container shares the host's filesystem; its sandbox is its working
//! directory (created by the containerizer). Nothing else to do.

use super::super::Isolator;

#[derive(Debug)]
pub struct FilesystemPosix;

impl Isolator for FilesystemPosix {
    fn name(&self) -> &'static str {
        "filesystem/posix"
    }
}
