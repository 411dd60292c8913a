//! The agent's flags, with Mesos names, from (highest wins) the command line
//! (`--name=value`, `--name`/`--no-name` for booleans), `MESOLITE_<NAME>` environment
//! variables, the `--config` file (`name = value` lines), and built-in defaults.
//!
//! Every flag is one row of the table below; parsing, `usage()`, `to_pairs()` and the test
//! that `conf/agent.conf` documents every flag are all driven by it.

mod container;
mod error;
mod fleet;
mod images;
mod isolation;
mod kinds;
mod load;
mod project_range;
mod spec;
pub mod values;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use container::{CapabilityList, JsonObject};
pub use error::{ConfigError, Source};
pub use fleet::EtcdEndpoints;
pub use images::{AppcDiscoveryPrefix, ImageProvider, ImageProviders, ProvisionerBackend};
pub use isolation::Isolator;
pub use kinds::{CgroupsRoot, ContainerLogger, Containerizer, Launcher, LoggingLevel, Recover};
pub use project_range::{BadProjectRange, ProjectRange};
pub use values::Bytes;

use crate::resources::ResourceSpec;
use load::ENV_PREFIX;

// Each row: its help line (also the field's doc), `name: Type = "default as written in the
// conf file"` (empty for none). The order is the order of `conf/agent.conf` and `to_pairs()`.
spec::define_flags! {
    /// Directory for sandboxes (<work_dir>/containers/<id>) and checkpoints (<work_dir>/meta).
    work_dir: PathBuf = "/var/lib/mesolite";
    /// Directory for state that survives agent restarts but not reboots.
    runtime_dir: PathBuf = "/run/mesolite";
    /// Unix socket on which the API (HTTP/1.1) listens.
    socket: PathBuf = "/run/mesolite/agent.sock";
    /// Group owning the API socket (mode 0660); none: the agent's own group.
    socket_group: Option<String> = "";
    /// Comma-separated containerizers, tried in order: 'mesos', 'docker'; the first that supports a container's ContainerInfo launches it.
    containerizers: Vec<Containerizer> = "mesos";
    /// Comma-separated isolators (Mesos names); filesystem/posix is added if no filesystem/* is given.
    isolation: Vec<Isolator> = "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid";
    /// How containers are started: 'linux' (clone with namespaces, cgroups) or 'posix' (fork/exec).
    launcher: Launcher = "linux";
    /// Where the cgroup hierarchies are mounted.
    cgroups_hierarchy: PathBuf = "/sys/fs/cgroup";
    /// Cgroup (relative to each hierarchy) under which container cgroups are created.
    cgroups_root: CgroupsRoot = "mesolite";
    /// Also cap CPU with a CFS quota (hard limit), not only shares.
    cgroups_enable_cfs: bool = "false";
    /// Time between SIGTERM and SIGKILL when a container is killed.
    executor_shutdown_grace_period: Duration = "5secs";
    /// Run each container as the user it names (who must exist), not as the agent's user.
    switch_user: bool = "true";
    /// Resources for containers, e.g. cpus:4;mem:4096;disk:20000;ports:[31000-32000] or JSON; names not given are detected.
    resources: Option<ResourceSpec> = "";
    /// Lowest level logged: TRACE, DEBUG, INFO, WARNING or ERROR; re-read from the conf file on SIGHUP.
    logging_level: LoggingLevel = "INFO";
    /// At start, 'reconnect' re-adopts containers still running; 'cleanup' kills them.
    recover: Recover = "reconnect";
    /// Directory holding helper binaries (mesolite-fetch); none: beside the agent binary.
    launcher_dir: Option<PathBuf> = "";
    /// Root of procfs (tests point it at a fake tree).
    proc_dir: PathBuf = "/proc";
    /// Conf file of 'name = value' lines; the command line and MESOLITE_<NAME> variables win over it.
    config: Option<PathBuf> = "";
    /// TCP listener: the address it binds (0.0.0.0: every IPv4 interface; :: also takes IPv6); used only with --port.
    ip: IpAddr = "0.0.0.0";
    /// TCP listener: serve the API over HTTP/1.1 on this port too (Mesos's agent port is 5051); none: no TCP listener.
    port: Option<u16> = "";
    /// TCP listener: JSON file {"credentials": [{"principal": ..., "secret": ...}]} of HTTP Basic logins; none: TCP is read-only.
    http_credentials: Option<PathBuf> = "";
    /// TCP listener: read-only endpoints and calls need a login from --http_credentials.
    authenticate_http_readonly: bool = "false";
    /// TCP listener: allow mutating calls (LAUNCH, KILL, REMOVE, PRUNE) to a login from --http_credentials; without this they get 403.
    authenticate_http_readwrite: bool = "false";
    /// Most API clients connected at once.
    max_connections: u32 = "1024";
    /// A client that has not sent a whole request in this long is dropped.
    http_request_timeout: Duration = "30secs";
    /// Size bound of the fetcher cache; 0 disables caching (every URI is fetched directly).
    fetcher_cache_size: Bytes = "2GB";
    /// Directory of the fetcher cache (kept across agent restarts); none: <work_dir>/fetch.
    fetcher_cache_dir: Option<PathBuf> = "";
    /// A download that makes no progress for this long fails.
    fetcher_stall_timeout: Duration = "1mins";
    /// Prefix for relative URI paths; none: relative paths are refused.
    frameworks_home: Option<PathBuf> = "";
    /// Hadoop installation for URIs of other schemes (hdfs://, s3://); none: `hadoop` from PATH.
    hadoop_home: Option<PathBuf> = "";
    /// disk/du: how often each sandbox is measured (one `du` at a time, spread over this period).
    container_disk_watch_interval: Duration = "15secs";
    /// disk/du: destroy a container whose sandbox exceeds its `disk` resource.
    enforce_container_disk_quota: bool = "false";
    /// disk/xfs: project IDs for the sandboxes' quotas, e.g. [5000-10000].
    xfs_project_range: ProjectRange = "[5000-10000]";
    /// disk/xfs (also checked every container_disk_watch_interval): destroy a container whose usage reaches its quota.
    xfs_kill_containers: bool = "false";
    /// JSON ContainerInfo for launches that give no 'container', e.g. {"type":"MESOS","volumes":[...]}.
    default_container_info: Option<JsonObject> = "";
    /// Size of the private /dev/shm tmpfs of namespaces/ipc, e.g. 64MB; none: the kernel's default.
    default_container_shm_size: Option<Bytes> = "";
    /// linux/capabilities: what tasks run with, e.g. NET_BIND_SERVICE,CHOWN; none: unchanged.
    effective_capabilities: Option<CapabilityList> = "";
    /// linux/capabilities: the most tasks may ever gain; none: the effective ones, or unchanged.
    bounding_capabilities: Option<CapabilityList> = "";
    /// linux/seccomp: directory of Docker-format JSON seccomp profiles.
    seccomp_config_dir: Option<PathBuf> = "";
    /// linux/seccomp: default profile, a file in seccomp_config_dir; none: the built-in deny-list.
    seccomp_profile_name: Option<String> = "";
    /// cgroups/perf_event: comma-separated perf events to count per container (perf's names: cycles, instructions, task-clock, context-switches, page-faults, ...); none: no sampling.
    perf_events: Option<String> = "";
    /// cgroups/perf_event: time from the start of one sample to the start of the next.
    perf_interval: Duration = "60secs";
    /// cgroups/perf_event: how long each sample counts (at most perf_interval).
    perf_duration: Duration = "10secs";
    /// Comma-separated image providers: 'docker', 'appc'; none: images are refused.
    image_providers: Option<ImageProviders> = "";
    /// Backend making container root filesystems: copy, bind or overlay; none: overlay where possible, else copy.
    image_provisioner_backend: Option<ProvisionerBackend> = "";
    /// Docker registry: an http(s) URL, or a local directory of 'docker save' tarballs (<name>:<tag>.tar).
    docker_registry: String = "https://registry-1.docker.io";
    /// Docker image store (layers and image records); none: <work_dir>/store/docker.
    docker_store_dir: Option<PathBuf> = "";
    /// Docker config.json with registry credentials ('auths'); none: anonymous pulls.
    docker_config: Option<PathBuf> = "";
    /// AppC image store (images/<image id>/{manifest,rootfs}); none: <work_dir>/store/appc.
    appc_store_dir: Option<PathBuf> = "";
    /// AppC simple discovery: <prefix><name>-<version>-<os>-<arch>.aci; http://, https://, or a local directory (/dir/ or file:///dir/).
    appc_simple_discovery_uri_prefix: AppcDiscoveryPrefix = "http://";
    /// Where the sandbox is mounted inside a container that has an image (MESOS_SANDBOX).
    sandbox_directory: PathBuf = "/mnt/mesos/sandbox";
    /// Directory of hook executables 'prelaunch', 'postfetch', 'remove' (each optional) run at those points of a Mesos container's life; none: no hooks.
    hooks_dir: Option<PathBuf> = "";
    /// A hook still running after this long is killed; a killed prelaunch or postfetch hook fails the launch.
    hooks_timeout: Duration = "30secs";
    /// network/cni: directory of CNI network configs (.conf, .conflist), re-read on each launch; none: only the host network.
    network_cni_config_dir: Option<PathBuf> = "";
    /// network/cni: directory of CNI plugin executables (CNI_PATH); needed with network_cni_config_dir.
    network_cni_plugins_dir: Option<PathBuf> = "";
    /// network/cni: a plugin still running after this long is killed, failing its launch (ADD) or only logged (DEL).
    network_cni_plugin_timeout: Duration = "60secs";
    /// network/cni: keep the network checkpoints under work_dir (not runtime_dir), so that a reboot's leftovers get their DEL.
    network_cni_root_dir_persist: bool = "false";
    /// network/cni: nameserver lines for the resolv.conf of containers whose CNI result has no DNS, e.g. 'nameserver 10.0.0.2'; none: the host's /etc/resolv.conf.
    default_container_dns: Option<String> = "";
    /// Where Mesos containers' stdout and stderr go: 'sandbox' (files in the sandbox, unbounded) or 'logrotate' (through a logger process that rotates them).
    container_logger: ContainerLogger = "sandbox";
    /// logrotate logger: most bytes of <sandbox>/stdout before it is rotated to stdout.1 (at least 4KB); a task's CONTAINER_LOGGER_LOGROTATE_MAX_STDOUT_SIZE wins.
    logrotate_max_stdout_size: Bytes = "10MB";
    /// logrotate logger: most bytes of <sandbox>/stderr before it is rotated to stderr.1 (at least 4KB); a task's CONTAINER_LOGGER_LOGROTATE_MAX_STDERR_SIZE wins.
    logrotate_max_stderr_size: Bytes = "10MB";
    /// logrotate logger: rotated files kept per stream, as logrotate's 'rotate N' (the oldest is deleted); a task's CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS='rotate N' (or _STDERR_) wins.
    logrotate_rotate: u32 = "9";
    /// Docker containerizer: dockerd's Engine API socket.
    docker_socket: PathBuf = "/var/run/docker.sock";
    /// Docker containerizer: bound on each Engine API request (a stream's first answer); a hung dockerd fails the launch or kill.
    docker_api_timeout: Duration = "30secs";
    /// Docker containerizer: time between SIGTERM and SIGKILL when a container is destroyed (KILL with SIGKILL).
    docker_stop_timeout: Duration = "0secs";
    /// Docker containerizer: at recovery, remove 'mesos-' containers labelled with this work_dir that no checkpoint names.
    docker_kill_orphans: bool = "true";
    /// Docker containerizer: the agent itself runs in a Docker container of this image (scripts/agent-in-docker.sh); its own container is never taken for an orphan; none: on the host.
    docker_mesos_image: Option<String> = "";
    /// Fleet: comma-separated client URLs (http://host:port) of one etcd cluster; agents given the same cluster and --etcd_prefix form a fleet that places apps across its nodes. none: a single node, no etcd.
    etcd_endpoints: Option<EtcdEndpoints> = "";
    /// Fleet: the prefix of every key this fleet keeps in etcd, so that fleets can share one etcd cluster.
    etcd_prefix: String = "/mesolite";
    /// Fleet: TTL of the lease this agent registers under; an agent silent this long is taken for lost and its instances are placed on other nodes.
    etcd_lease_ttl: Duration = "10secs";
    /// Fleet: bound on each etcd request to one member, after which the next member is tried.
    etcd_timeout: Duration = "2secs";
    /// This node's name, in the fleet and in its apps' tasks (Mesos's --hostname); none: the host's name.
    hostname: Option<String> = "";
    /// Fleet: the address at which other nodes and clients reach this agent's TCP listener (Mesos's --advertise_ip); none: --ip, or the hostname when --ip is 0.0.0.0.
    advertise_ip: Option<IpAddr> = "";
    /// Node attributes for apps' constraints, in Mesos's syntax: rack:r1;zone:eu;cores:4 (text, scalar, [range] or {set} values).
    attributes: Option<crate::fleet::attributes::Attributes> = "";
}

impl spec::FlagValue for ProjectRange {
    fn parse_flag(text: &str) -> Result<Self, String> {
        text.parse::<ProjectRange>().map_err(|e| e.to_string())
    }

    fn render_flag(&self) -> String {
        self.to_string()
    }
}

/// Flags re-read on SIGHUP; the others need a restart.
const RELOADABLE: &[&str] = &["logging_level"];

impl Flags {
    /// Loads the flags. `args` excludes the program name and the `agent` verb; `env` is the
    /// process environment.
    pub fn load(args: &[String], env: &[(String, String)]) -> Result<Flags, ConfigError> {
        let args = load::parse_args(args)?;
        let env = load::env_settings(env);
        let config = load::config_path(&args, &env);
        load::build(&args, &env, config.as_deref())
    }

    /// `(name, value)` of every flag in conf-file order, values written as a user would.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        SPECS
            .iter()
            .map(|spec| (spec.name, (spec.get)(self)))
            .collect()
    }
}

/// The `mesolite agent --help` text.
pub fn usage() -> String {
    let mut text = format!(
        "Usage: mesolite agent [--<flag>=<value> ...]\n\n\
         A flag may also be set by the environment variable {ENV_PREFIX}<FLAG> (upper case) or by a\n\
         '<flag> = <value>' line in the --config file. The command line wins over the environment,\n\
         which wins over the file, which wins over the default. Boolean flags also take --<flag>\n\
         and --no-<flag>. Durations are written 5secs, 100ms, 1mins; sizes 512B, 64KB, 2GB.\n\nFlags:\n"
    );
    for spec in SPECS {
        let form = if spec.is_bool {
            format!("--[no-]{}", spec.name)
        } else {
            format!("--{}=VALUE", spec.name)
        };
        let default = if spec.default.is_empty() {
            "none"
        } else {
            spec.default
        };
        text.push_str(&format!(
            "  {form}  (default: {default})\n      {}\n",
            spec.help.trim()
        ));
    }
    text
}

/// For SIGHUP: re-reads the conf file named by `flags.config` and applies the reloadable
/// settings that changed, returned as `(name, old, new)`. The environment and command line
/// still win over the file. Changes to other flags are logged and left for a restart.
pub fn reload(
    flags: &mut Flags,
    args: &[String],
    env: &[(String, String)],
) -> Result<Vec<(String, String, String)>, ConfigError> {
    let args = load::parse_args(args)?;
    let env = load::env_settings(env);
    let fresh = load::build(&args, &env, flags.config.as_deref())?;
    let mut changed = Vec::new();
    for spec in SPECS {
        let (old, new) = ((spec.get)(flags), (spec.get)(&fresh));
        if old == new {
            continue;
        }
        if RELOADABLE.contains(&spec.name) {
            changed.push((spec.name.to_string(), old, new));
        } else {
            log::warn!(
                "flag '{}' changed from '{old}' to '{new}'; it takes effect only after a restart",
                spec.name
            );
        }
    }
    // Keep in step with RELOADABLE.
    flags.logging_level = fresh.logging_level;
    Ok(changed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    const CONF: &str = include_str!("../../conf/agent.conf");

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A conf file with `text` in a fresh directory under the system temp dir.
    fn conf_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mesolite-config-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agent.conf");
        fs::write(&path, text).unwrap();
        path
    }

    fn remove(path: &Path) {
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    fn config_arg(path: &Path) -> String {
        format!("--config={}", path.display())
    }

    #[test]
    fn test_defaults() {
        let flags = Flags::load(&[], &[]).unwrap();
        assert_eq!(flags.work_dir, PathBuf::from("/var/lib/mesolite"));
        assert_eq!(flags.socket_group, None);
        assert_eq!(flags.containerizers, vec![Containerizer::Mesos]);
        assert_eq!(
            flags.isolation,
            vec![
                Isolator::FilesystemPosix,
                Isolator::CgroupsCpu,
                Isolator::CgroupsMem,
                Isolator::CgroupsPids,
                Isolator::NamespacesPid
            ]
        );
        assert_eq!(flags.launcher, Launcher::Linux);
        assert_eq!(flags.cgroups_root.as_path(), Path::new("mesolite"));
        assert!(!flags.cgroups_enable_cfs);
        assert_eq!(flags.executor_shutdown_grace_period, Duration::from_secs(5));
        assert!(flags.switch_user);
        assert_eq!(flags.logging_level, LoggingLevel::Info);
        assert_eq!(flags.recover, Recover::Reconnect);
        assert_eq!(flags.max_connections, 1024);
        assert_eq!(flags.http_request_timeout, Duration::from_secs(30));
        assert_eq!(flags, Flags::from_defaults().unwrap());
    }

    #[test]
    fn test_precedence_flag_env_file_default() {
        let path = conf_file(
            "precedence",
            "work_dir = /file/work\nruntime_dir = /file/run\nsocket = /file/sock\n",
        );
        let environment = env(&[
            ("MESOLITE_WORK_DIR", "/env/work"),
            ("MESOLITE_RUNTIME_DIR", "/env/run"),
        ]);
        let flags = Flags::load(
            &args(&[&config_arg(&path), "--work_dir=/flag/work"]),
            &environment,
        )
        .unwrap();
        assert_eq!(flags.work_dir, PathBuf::from("/flag/work")); // flag beats env
        assert_eq!(flags.runtime_dir, PathBuf::from("/env/run")); // env beats file
        assert_eq!(flags.socket, PathBuf::from("/file/sock")); // file beats default
        assert_eq!(flags.proc_dir, PathBuf::from("/proc")); // default
        assert_eq!(flags.config.as_deref(), Some(path.as_path()));
        remove(&path);
    }

    #[test]
    fn test_config_path_from_env() {
        let path = conf_file("envpath", "max_connections = 7\n");
        let environment = env(&[("MESOLITE_CONFIG", &path.display().to_string())]);
        let flags = Flags::load(&[], &environment).unwrap();
        assert_eq!(flags.max_connections, 7);
        remove(&path);
    }

    #[test]
    fn test_booleans() {
        let load = |list: &[&str]| Flags::load(&args(list), &[]).unwrap().switch_user;
        assert!(!load(&["--no-switch_user"]));
        assert!(load(&["--switch_user"]));
        assert!(!load(&["--switch_user=false"]));
        assert!(load(&["--switch_user=true"]));
        let environment = env(&[("MESOLITE_SWITCH_USER", "false")]);
        assert!(
            Flags::load(&args(&["--switch_user"]), &environment)
                .unwrap()
                .switch_user
        );
        assert!(matches!(
            Flags::load(&args(&["--no-work_dir"]), &[]),
            Err(ConfigError::NotBoolean { .. })
        ));
        assert!(matches!(
            Flags::load(&args(&["--no-switch_user=true"]), &[]),
            Err(ConfigError::NotBoolean { .. })
        ));
        assert!(matches!(
            Flags::load(&args(&["--work_dir"]), &[]),
            Err(ConfigError::MissingValue { .. })
        ));
    }

    #[test]
    fn test_command_line_errors() {
        let err = Flags::load(&args(&["--wrk_dir=/x"]), &[]).unwrap_err();
        assert_eq!(err.to_string(), "command line: unknown flag 'wrk_dir'");
        let err = Flags::load(&args(&["--launcher=lxc"]), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "command line: bad value 'lxc' for flag 'launcher': expected 'linux' or 'posix'"
        );
        assert!(matches!(
            Flags::load(&args(&["work_dir=/x"]), &[]),
            Err(ConfigError::UnexpectedArgument(_))
        ));
        assert!(matches!(
            Flags::load(&args(&["--recover=cleanup", "--recover=reconnect"]), &[]),
            Err(ConfigError::Duplicate { .. })
        ));
        let err = Flags::load(&args(&["--isolation=cgroups/cpu,bogus"]), &[]).unwrap_err();
        assert!(err
            .to_string()
            .ends_with("Unknown or unsupported isolator 'bogus'"));
    }

    #[test]
    fn test_env_errors_name_the_variable() {
        let environment = env(&[("MESOLITE_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5")]);
        let err = Flags::load(&[], &environment).unwrap_err();
        assert!(err.to_string().starts_with(
            "environment variable MESOLITE_EXECUTOR_SHUTDOWN_GRACE_PERIOD: bad value '5'"
        ));
        // Other MESOLITE_* variables are not ours to refuse.
        let environment = env(&[("MESOLITE_SOMETHING_ELSE", "x")]);
        assert!(Flags::load(&[], &environment).is_ok());
    }

    #[test]
    fn test_mesos_variables_of_the_docker_walkthrough() {
        // Mesos's names set our flags; unknown ones (MESOS_MASTER) are not ours to refuse;
        // MESOLITE_<NAME> wins over MESOS_<NAME>.
        let environment = env(&[
            ("MESOS_CONTAINERIZERS", "docker,mesos"),
            ("MESOS_MASTER", "zk://zookeeper:2181/mesos"),
            ("MESOS_WORK_DIR", "/mesos/work"),
            ("MESOLITE_WORK_DIR", "/mesolite/work"),
        ]);
        let flags = Flags::load(&[], &environment).unwrap();
        assert_eq!(
            flags.containerizers,
            vec![Containerizer::Docker, Containerizer::Mesos]
        );
        assert_eq!(flags.work_dir, PathBuf::from("/mesolite/work"));
        let err = Flags::load(&[], &env(&[("MESOS_CONTAINERIZERS", "lxc")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment variable MESOS_CONTAINERIZERS"),
            "{err}"
        );
    }

    #[test]
    fn test_conf_file_errors_carry_line_numbers() {
        let path = conf_file("badline", "# comment\n\nlauncher = posix\nwrk_dir = /x\n");
        let err = Flags::load(&args(&[&config_arg(&path)]), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:4: unknown flag 'wrk_dir'", path.display())
        );
        remove(&path);

        let path = conf_file("syntax", "work_dir = /x\njust words\n");
        let err = Flags::load(&args(&[&config_arg(&path)]), &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { line: 2, .. }));
        assert!(err
            .to_string()
            .starts_with(&format!("{}:2: ", path.display())));
        remove(&path);

        let path = conf_file("value", "\n\n\nrecover = maybe\n");
        let err = Flags::load(&args(&[&config_arg(&path)]), &[]).unwrap_err();
        assert!(err.to_string().starts_with(&format!(
            "{}:4: bad value 'maybe' for flag 'recover'",
            path.display()
        )));
        remove(&path);

        let path = conf_file("nested", "config = /etc/other.conf\n");
        let err = Flags::load(&args(&[&config_arg(&path)]), &[]).unwrap_err();
        assert!(matches!(err, ConfigError::NotAllowed { .. }));
        remove(&path);

        let err = Flags::load(&args(&["--config=/nonexistent/mesolite.conf"]), &[]).unwrap_err();
        assert!(matches!(err, ConfigError::ReadConfig { .. }));
    }

    #[test]
    fn test_conf_file_comments_and_blank_lines() {
        let text = "# header\n\n   # indented comment\nlogging_level = debug  # trailing\n\
                    \tcgroups_enable_cfs=true\n\nexecutor_shutdown_grace_period = 0.5secs\n";
        let path = conf_file("comments", text);
        let flags = Flags::load(&args(&[&config_arg(&path)]), &[]).unwrap();
        assert_eq!(flags.logging_level, LoggingLevel::Debug);
        assert!(flags.cgroups_enable_cfs);
        assert_eq!(
            flags.executor_shutdown_grace_period,
            Duration::from_millis(500)
        );
        remove(&path);
    }

    #[test]
    fn test_cross_flag_rules() {
        let err = Flags::load(&args(&["--launcher=posix"]), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "flag 'isolation': isolator 'namespaces/pid' needs --launcher=linux"
        );
        assert!(Flags::load(&args(&["--launcher=posix", "--isolation=process"]), &[]).is_ok());
        assert!(matches!(
            Flags::load(&args(&["--work_dir=relative"]), &[]),
            Err(ConfigError::Invalid {
                name: "work_dir",
                ..
            })
        ));
        assert!(Flags::load(&args(&["--max_connections=0"]), &[]).is_err());
        assert!(Flags::load(&args(&["--cgroups_root=../escape"]), &[]).is_err());
    }

    #[test]
    fn test_resources_flag() {
        let flags = Flags::load(&args(&["--resources=cpus:2;mem:512"]), &[]).unwrap();
        assert_eq!(
            flags.resources.as_ref().map(ResourceSpec::as_str),
            Some("cpus:2;mem:512")
        );
        let err = Flags::load(&args(&["--resources=gpus:1"]), &[]).unwrap_err();
        assert!(err.to_string().contains("'gpus'"), "{err}");
    }

    #[test]
    fn test_to_pairs_round_trip() {
        let flags = Flags::load(
            &args(&[
                "--executor_shutdown_grace_period=90secs",
                "--socket_group=mesolite",
                "--resources=cpus:1",
                "--no-switch_user",
            ]),
            &[],
        )
        .unwrap();
        let pairs = flags.to_pairs();
        let names: Vec<&str> = pairs.iter().map(|(name, _)| *name).collect();
        let spec_names: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
        assert_eq!(names, spec_names);
        let get = |name: &str| pairs.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(get("executor_shutdown_grace_period"), "90secs");
        assert_eq!(get("switch_user"), "false");
        assert_eq!(get("launcher_dir"), "");
        assert_eq!(
            get("isolation"),
            "filesystem/posix,cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid"
        );
        // Every rendered value loads back to the same flags.
        let again: Vec<String> = pairs
            .iter()
            .map(|(name, value)| format!("--{name}={value}"))
            .collect();
        assert_eq!(Flags::load(&again, &[]).unwrap(), flags);
    }

    /// `# name = default` lines of the shipped conf file, in order.
    fn conf_entries() -> Vec<(String, String)> {
        CONF.lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter_map(|line| line.split_once(" ="))
            .filter(|(name, _)| FlagSpec::find(name).is_some())
            .map(|(name, value)| (name.to_string(), value.trim().to_string()))
            .collect()
    }

    use spec::FlagSpec;

    #[test]
    fn test_conf_file_documents_every_flag() {
        let expected: Vec<(String, String)> = SPECS
            .iter()
            .map(|s| (s.name.to_string(), s.default.to_string()))
            .collect();
        assert_eq!(conf_entries(), expected);
        for spec in SPECS {
            assert!(
                CONF.contains(spec.help.trim()),
                "conf/agent.conf lacks the help line of {}",
                spec.name
            );
        }
    }

    #[test]
    fn test_shipped_conf_file_loads_to_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/agent.conf");
        let flags = Flags::load(&args(&[&config_arg(&path)]), &[]).unwrap();
        let mut defaults = Flags::from_defaults().unwrap();
        defaults.config = Some(path);
        assert_eq!(flags, defaults);
    }

    #[test]
    fn test_usage_lists_every_flag() {
        let text = usage();
        for spec in SPECS {
            assert!(
                text.contains(&format!("--{}", spec.name))
                    || text.contains(&format!("--[no-]{}", spec.name))
            );
        }
        assert!(text.contains("--[no-]switch_user  (default: true)"));
        assert!(text.contains("--socket_group=VALUE  (default: none)"));
    }

    #[test]
    fn test_reload_logging_level() {
        let path = conf_file("reload", "logging_level = INFO\nwork_dir = /a\n");
        let argv = args(&[&config_arg(&path)]);
        let mut flags = Flags::load(&argv, &[]).unwrap();
        fs::write(&path, "logging_level = warning\nwork_dir = /b\n").unwrap();
        let changed = reload(&mut flags, &argv, &[]).unwrap();
        assert_eq!(
            changed,
            vec![(
                "logging_level".to_string(),
                "INFO".to_string(),
                "WARNING".to_string()
            )]
        );
        assert_eq!(flags.logging_level, LoggingLevel::Warning);
        // Not reloadable: stays until a restart.
        assert_eq!(flags.work_dir, PathBuf::from("/a"));
        assert_eq!(reload(&mut flags, &argv, &[]).unwrap(), vec![]);

        // The environment still wins over the file.
        let environment = env(&[("MESOLITE_LOGGING_LEVEL", "ERROR")]);
        fs::write(&path, "logging_level = DEBUG\n").unwrap();
        let changed = reload(&mut flags, &argv, &environment).unwrap();
        assert_eq!(changed[0].2, "ERROR");
        assert_eq!(flags.logging_level, LoggingLevel::Error);

        fs::write(&path, "logging_level = LOUD\n").unwrap();
        assert!(reload(&mut flags, &argv, &[]).is_err());
        assert_eq!(flags.logging_level, LoggingLevel::Error);
        remove(&path);
    }
}
