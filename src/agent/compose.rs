//! The containerizers of `--containerizers`, composed in their order.

use crate::config::{Containerizer as Kind, Flags};
use crate::containerizer::composing::{docker_supports, mesos_supports, Composing, Member};
use crate::containerizer::docker::{self, DockerContainerizer};
use crate::containerizer::MesosContainerizer;

/// The composing containerizer over the Mesos containerizer (built by the caller) and, when
/// listed, the Docker one.
pub fn build(flags: &Flags, mesos: MesosContainerizer) -> Composing {
    let total = mesos.settings().total.clone();
    let fetch = mesos.fetcher.settings.clone();
    let hooks = mesos.settings().hooks.clone();
    let mut mesos = Some(mesos);
    let mut members = Vec::new();
    for kind in &flags.containerizers {
        match kind {
            Kind::Mesos => {
                if let Some(m) = mesos.take() {
                    members.push(Member {
                        name: "mesos",
                        supports: mesos_supports,
                        containerizer: Box::new(m),
                    });
                }
            }
            Kind::Docker => {
                let settings = docker::Settings {
                    work_dir: flags.work_dir.clone(),
                    proc_dir: flags.proc_dir.clone(),
                    cgroups_hierarchy: flags.cgroups_hierarchy.clone(),
                    sandbox_directory: flags.sandbox_directory.clone(),
                    enable_cfs: flags.cgroups_enable_cfs,
                    total: total.clone(),
                    socket: flags.docker_socket.clone(),
                    api_timeout: flags.docker_api_timeout,
                    stop_timeout: flags.docker_stop_timeout,
                    shutdown_grace: flags.executor_shutdown_grace_period,
                    kill_orphans: flags.docker_kill_orphans,
                    pull_stall: flags.fetcher_stall_timeout,
                    fetch: fetch.clone(),
                    docker_config: flags.docker_config.clone(),
                    hooks: hooks.clone(),
                    own_container: own_container(flags),
                    empty_trash: !flags.containerizers.contains(&Kind::Mesos),
                };
                log::info!("Docker containerizer on {}", settings.socket.display());
                members.push(Member {
                    name: "docker",
                    supports: docker_supports,
                    containerizer: Box::new(DockerContainerizer::new(settings)),
                });
            }
        }
    }
    Composing::new(members)
}

/// With `--docker_mesos_image` the agent runs in a Docker container: its ID, from its cgroups
/// (read once, at start).
fn own_container(flags: &Flags) -> Option<String> {
    let image = flags.docker_mesos_image.as_ref()?;
    let cgroup = std::fs::read_to_string(flags.proc_dir.join("self/cgroup")).unwrap_or_default();
    let id = docker::container_id_of(&cgroup);
    match &id {
        Some(id) => log::info!("Running in Docker container {id} of image {image}"),
        None => log::warn!(
            "--docker_mesos_image={image}, but no Docker container ID is in /proc/self/cgroup"
        ),
    }
    id
}
