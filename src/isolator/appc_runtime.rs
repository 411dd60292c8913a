//! `appc/runtime`: an AppC image's `app` (`exec`, `environment`, `workingDirectory`) applies to
//! the task, as Mesos's `isolators/appc/runtime.cpp` does. Like docker/runtime, the
//! containerizer merges it into the command once the image is provisioned; the isolator marks
//! it wanted.

use super::{Feature, Isolator};

#[derive(Debug)]
pub struct AppcRuntime;

impl Isolator for AppcRuntime {
    fn name(&self) -> &'static str {
        "appc/runtime"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::AppcRuntime]
    }
}
