//! `docker/runtime`: the image's Entrypoint, Cmd, Env, WorkingDir and User apply to the task.
//! The containerizer merges them into the command when it builds the launch (they depend on
//! the provisioned image, known only after PROVISIONING); the isolator marks them wanted.

use super::{Feature, Isolator};

#[derive(Debug)]
pub struct DockerRuntime;

impl Isolator for DockerRuntime {
    fn name(&self) -> &'static str {
        "docker/runtime"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::DockerRuntime]
    }
}
