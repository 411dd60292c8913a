//! The body of `POST /containers/create` for a launch: the command as Mesos's Docker
//! containerizer runs it, resources as CPU shares, memory and CFS quota, the sandbox bind
//! mounted at `--sandbox_directory`, volumes, the network and port mappings, and the
//! `parameters` (`docker run` options) mapped onto their Engine API fields.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::resources::Resources;
use crate::spec::{DockerInfo, DockerNetwork, LaunchRequest, VolumeMode, VolumeSource};

/// The label naming the agent's work_dir: orphans are only this agent's if it matches.
pub const WORK_DIR_LABEL: &str = "org.mesolite.work_dir";
/// The label naming the container ID.
pub const ID_LABEL: &str = "org.mesolite.container_id";

/// Mesos's minimum memory for a Docker container (`MIN_MEMORY`, 32 MB).
const MIN_MEMORY: u64 = 32 * 1024 * 1024;
const CFS_PERIOD_US: u64 = 100_000;
const MIN_CFS_QUOTA_US: u64 = 1_000;

/// What the body depends on beyond the request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub work_dir: &'a Path,
    /// The sandbox on the host.
    pub sandbox: &'a Path,
    /// `--sandbox_directory`: where it appears in the container.
    pub sandbox_directory: &'a Path,
    pub enable_cfs: bool,
}

/// The create body, or why the request cannot be run.
pub fn body(req: &LaunchRequest, docker: &DockerInfo, ctx: Context<'_>) -> Result<Value, String> {
    let cmd = &req.command;
    let mut config = Map::new();
    config.insert("Image".into(), json!(docker.image));
    // Mesos: a shell command overrides the image's entrypoint with /bin/sh -c; otherwise the
    // value and the arguments follow the image's entrypoint (or replace its CMD).
    if cmd.shell {
        if cmd.value.is_empty() {
            return Err("'command.shell' is true but 'command.value' is empty".into());
        }
        config.insert("Entrypoint".into(), json!(["/bin/sh", "-c"]));
        config.insert("Cmd".into(), json!([cmd.value]));
    } else {
        let mut argv: Vec<&str> = Vec::new();
        if !cmd.value.is_empty() {
            argv.push(&cmd.value);
        }
        argv.extend(cmd.arguments.iter().map(String::as_str));
        if !argv.is_empty() {
            config.insert("Cmd".into(), json!(argv));
        }
    }
    let sandbox_dir = ctx.sandbox_directory.to_string_lossy();
    let mut env: Vec<String> = vec![
        format!("MESOS_SANDBOX={sandbox_dir}"),
        format!("MESOS_CONTAINER_NAME={}", super::name(&req.id)),
    ];
    env.extend(cmd.environment.iter().map(|(k, v)| format!("{k}={v}")));
    if let Some(user) = &cmd.user {
        config.insert("User".into(), json!(user));
    }
    config.insert("WorkingDir".into(), json!(sandbox_dir));
    let mut labels = Map::new();
    labels.insert(WORK_DIR_LABEL.into(), json!(ctx.work_dir.to_string_lossy()));
    labels.insert(ID_LABEL.into(), json!(req.id.as_str()));
    if let Some(h) = &req.container.hostname {
        config.insert("Hostname".into(), json!(h));
    }

    let mut host = Map::new();
    let mut binds = vec![format!("{}:{sandbox_dir}:rw", ctx.sandbox.display())];
    for v in &req.container.volumes {
        let source = match &v.source {
            VolumeSource::Legacy(p) | VolumeSource::HostPath(p) if p.is_absolute() => p.clone(),
            VolumeSource::Legacy(p) | VolumeSource::SandboxPath(p) => ctx.sandbox.join(p),
            VolumeSource::HostPath(p) => {
                return Err(format!("volume host path {} must be absolute", p.display()))
            }
        };
        let target = if v.container_path.is_absolute() {
            v.container_path.clone()
        } else {
            ctx.sandbox_directory.join(&v.container_path)
        };
        let mode = match v.mode {
            VolumeMode::Rw => "rw",
            VolumeMode::Ro => "ro",
        };
        binds.push(format!("{}:{}:{mode}", source.display(), target.display()));
    }
    resources(&req.resources, ctx.enable_cfs, &mut host);
    host.insert("Privileged".into(), json!(docker.privileged));
    let mode = match &docker.network {
        DockerNetwork::Host => "host",
        DockerNetwork::Bridge => "bridge",
        DockerNetwork::None => "none",
        DockerNetwork::User(name) => name.as_str(),
    };
    host.insert("NetworkMode".into(), json!(mode));
    if !docker.port_mappings.is_empty() {
        let mut exposed = Map::new();
        let mut bindings = Map::new();
        for p in &docker.port_mappings {
            let key = format!("{}/{}", p.container_port, p.protocol.name());
            exposed.insert(key.clone(), json!({}));
            bindings.insert(key, json!([{"HostPort": p.host_port.to_string()}]));
        }
        config.insert("ExposedPorts".into(), Value::Object(exposed));
        host.insert("PortBindings".into(), Value::Object(bindings));
    }
    for (key, value) in &docker.parameters {
        parameter(
            key,
            value,
            &mut config,
            &mut host,
            &mut env,
            &mut labels,
            &mut binds,
        )?;
    }
    config.insert("Env".into(), json!(env));
    config.insert("Labels".into(), Value::Object(labels));
    host.insert("Binds".into(), json!(binds));
    config.insert("HostConfig".into(), Value::Object(host));
    Ok(Value::Object(config))
}

/// CPU shares (1024 per cpu), memory (at least 32 MB) and, with CFS, the quota.
fn resources(r: &Resources, enable_cfs: bool, host: &mut Map<String, Value>) {
    if r.cpus > 0.0 {
        host.insert("CpuShares".into(), json!(((r.cpus * 1024.0) as u64).max(2)));
        if enable_cfs {
            host.insert("CpuPeriod".into(), json!(CFS_PERIOD_US));
            let quota = ((r.cpus * CFS_PERIOD_US as f64) as u64).max(MIN_CFS_QUOTA_US);
            host.insert("CpuQuota".into(), json!(quota));
        }
    }
    if r.mem_mb > 0.0 {
        let bytes = ((r.mem_mb * 1024.0 * 1024.0) as u64).max(MIN_MEMORY);
        host.insert("Memory".into(), json!(bytes));
    }
}

/// One `docker run` option onto the body. Options without an Engine API field we map are
/// refused by name, rather than silently dropped.
fn parameter(
    key: &str,
    value: &str,
    config: &mut Map<String, Value>,
    host: &mut Map<String, Value>,
    env: &mut Vec<String>,
    labels: &mut Map<String, Value>,
    binds: &mut Vec<String>,
) -> Result<(), String> {
    let push = |map: &mut Map<String, Value>, field: &str, v: &str| {
        let list = map.entry(field).or_insert_with(|| json!([]));
        if let Value::Array(items) = list {
            items.push(json!(v));
        }
    };
    let number = |v: &str| -> Result<i64, String> {
        v.parse()
            .map_err(|_| format!("docker parameter '{key}': '{v}' is not a number"))
    };
    let boolean = |v: &str| v.is_empty() || v == "true";
    match key {
        "env" | "e" => env.push(value.to_string()),
        "label" | "l" => {
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            labels.insert(k.to_string(), json!(v));
        }
        "volume" | "v" => binds.push(value.to_string()),
        "user" | "u" => {
            config.insert("User".into(), json!(value));
        }
        "workdir" | "w" => {
            config.insert("WorkingDir".into(), json!(value));
        }
        "hostname" | "h" => {
            config.insert("Hostname".into(), json!(value));
        }
        "entrypoint" => {
            config.insert("Entrypoint".into(), json!([value]));
        }
        "stop-signal" => {
            config.insert("StopSignal".into(), json!(value));
        }
        "cap-add" => push(host, "CapAdd", value),
        "cap-drop" => push(host, "CapDrop", value),
        "add-host" => push(host, "ExtraHosts", value),
        "dns" => push(host, "Dns", value),
        "security-opt" => push(host, "SecurityOpt", value),
        "read-only" => {
            host.insert("ReadonlyRootfs".into(), json!(boolean(value)));
        }
        "init" => {
            host.insert("Init".into(), json!(boolean(value)));
        }
        "pids-limit" => {
            host.insert("PidsLimit".into(), json!(number(value)?));
        }
        "oom-score-adj" => {
            host.insert("OomScoreAdj".into(), json!(number(value)?));
        }
        "shm-size" => {
            let bytes = crate::config::Bytes::parse(value)
                .map(crate::config::Bytes::as_u64)
                .map_err(|e| format!("docker parameter 'shm-size': {e}"))?;
            host.insert("ShmSize".into(), json!(bytes));
        }
        other => {
            return Err(format!(
                "docker parameter '{other}' is not supported (supported: env, label, volume, \
                 user, workdir, hostname, entrypoint, stop-signal, cap-add, cap-drop, add-host, \
                 dns, security-opt, read-only, init, pids-limit, oom-score-adj, shm-size)"
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spec::parse_launch;

    fn launch(container: Value, command: Value, resources: Value) -> Value {
        let req = parse_launch(&json!({"container_id": {"value": "c1"}, "command": command,
            "resources": resources, "container": container}))
        .unwrap();
        let docker = req.container.docker.clone().unwrap();
        let ctx = Context {
            work_dir: Path::new("/var/lib/mesolite"),
            sandbox: Path::new("/var/lib/mesolite/containers/c1"),
            sandbox_directory: Path::new("/mnt/mesos/sandbox"),
            enable_cfs: true,
        };
        body(&req, &docker, ctx).unwrap()
    }

    fn cpus_mem(cpus: f64, mem: f64) -> Value {
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
               {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}])
    }

    #[test]
    fn shell_commands_resources_network_and_sandbox() {
        let b = launch(
            json!({"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE",
                "port_mappings": [{"host_port": 31001, "container_port": 80}], "privileged": true},
                "volumes": [{"host_path": "data", "container_path": "/data", "mode": "RO"}]}),
            json!({"value": "echo hi", "environment": {"variables": [{"name": "A", "value": "1"}]}}),
            cpus_mem(0.5, 64.0),
        );
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Entrypoint"], json!(["/bin/sh", "-c"]));
        assert_eq!(b["Cmd"], json!(["echo hi"]));
        assert_eq!(b["WorkingDir"], "/mnt/mesos/sandbox");
        let env = b["Env"].as_array().unwrap();
        assert!(
            env.contains(&json!("A=1")) && env.contains(&json!("MESOS_SANDBOX=/mnt/mesos/sandbox"))
        );
        assert!(env.contains(&json!("MESOS_CONTAINER_NAME=mesos-c1")));
        assert_eq!(b["Labels"][WORK_DIR_LABEL], "/var/lib/mesolite");
        let h = &b["HostConfig"];
        assert_eq!(h["CpuShares"], 512);
        assert_eq!(
            (h["CpuPeriod"].as_u64(), h["CpuQuota"].as_u64()),
            (Some(100_000), Some(50_000))
        );
        assert_eq!(h["Memory"], 64 * 1024 * 1024);
        assert_eq!(h["NetworkMode"], "bridge");
        assert_eq!(h["Privileged"], true);
        assert_eq!(h["PortBindings"]["80/tcp"], json!([{"HostPort": "31001"}]));
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(
            h["Binds"],
            json!([
                "/var/lib/mesolite/containers/c1:/mnt/mesos/sandbox:rw",
                "/var/lib/mesolite/containers/c1/data:/data:ro"
            ])
        );
    }

    #[test]
    fn default_cmd_override_and_args() {
        let docker = json!({"type": "DOCKER", "docker": {"image": "img"}});
        let b = launch(docker.clone(), json!({"shell": false}), json!([]));
        assert!(b.get("Cmd").is_none() && b.get("Entrypoint").is_none());
        let b = launch(
            docker.clone(),
            json!({"shell": false, "value": "ls", "arguments": ["-l", "/"]}),
            json!([]),
        );
        assert_eq!(b["Cmd"], json!(["ls", "-l", "/"]));
        let b = launch(
            docker,
            json!({"shell": false, "arguments": ["x"]}),
            json!([]),
        );
        assert_eq!(b["Cmd"], json!(["x"]));
        // Below Mesos's minimum, memory is raised to 32 MB.
        let b = launch(
            json!({"type": "DOCKER", "docker": {"image": "i"}}),
            json!({"value": "x"}),
            cpus_mem(0.001, 1.0),
        );
        assert_eq!(b["HostConfig"]["Memory"], 32 * 1024 * 1024);
        assert_eq!(b["HostConfig"]["CpuShares"], 2);
        assert_eq!(b["HostConfig"]["CpuQuota"], 1000);
    }

    #[test]
    fn parameters_map_onto_fields_and_unknown_ones_are_refused() {
        let b = launch(
            json!({"type": "DOCKER", "docker": {"image": "i", "parameters": [
                {"key": "env", "value": "B=2"}, {"key": "label", "value": "team=x"},
                {"key": "cap-add", "value": "NET_ADMIN"}, {"key": "shm-size", "value": "64MB"},
                {"key": "read-only", "value": "true"}, {"key": "pids-limit", "value": "100"}]}}),
            json!({"value": "x"}),
            json!([]),
        );
        assert!(b["Env"].as_array().unwrap().contains(&json!("B=2")));
        assert_eq!(b["Labels"]["team"], "x");
        assert_eq!(b["HostConfig"]["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(b["HostConfig"]["ShmSize"], 64 * 1024 * 1024);
        assert_eq!(b["HostConfig"]["ReadonlyRootfs"], true);
        assert_eq!(b["HostConfig"]["PidsLimit"], 100);
        let req = parse_launch(&json!({"container_id": {"value": "c"}, "command": {"value": "x"},
            "container": {"type": "DOCKER", "docker": {"image": "i", "parameters": [{"key": "gpus", "value": "all"}]}}}))
        .unwrap();
        let ctx = Context {
            work_dir: Path::new("/w"),
            sandbox: Path::new("/w/s"),
            sandbox_directory: Path::new("/mnt"),
            enable_cfs: false,
        };
        let err = body(&req, req.container.docker.as_ref().unwrap(), ctx).unwrap_err();
        assert!(
            err.starts_with("docker parameter 'gpus' is not supported"),
            "{err}"
        );
    }
}
