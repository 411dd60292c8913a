//! The agent: one thread, one `mio` loop. Every source (the API socket and its clients,
//! signals, container pidfds and exec pipes) is a typed `Source`; timers bound the poll's sleep.
//! Nothing in the loop blocks.

mod compose;
mod fleet;
mod setup;
mod signals;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use mio::{Events, Poll};

use crate::api::{AgentInfo, Ctx, Server, ServerConfig};
use crate::cgroups::{Cgroups, CgroupsConfig};
use crate::config::{Flags, Launcher, ProvisionerBackend, Recover};
use crate::containerizer::{
    Containerizer, FetchSettings, ImageSettings, MesosContainerizer, Notice, Settings,
};
use crate::event::Source;
use crate::http::Limits;
use crate::isolator::{IsolatorError, Isolators};
use crate::launcher::LauncherKind;
use crate::logger::{LogrotateSettings, Rotation};
use crate::loop_stats::{Iteration, LoopStats};
use crate::provisioner::backend::BackendKind;
use crate::timer::{TimerKind, Timers};

/// Why the agent could not start or had to stop.
#[derive(Debug)]
pub enum AgentError {
    Dir(PathBuf, io::Error),
    Socket(PathBuf, io::Error),
    SocketInUse(PathBuf),
    UnknownGroup(String),
    Poll(io::Error),
    Signals(io::Error),
    Isolation(String),
    DefaultContainerInfo(String),
    Cgroups(String),
    Resources(String),
    Lock(PathBuf, String),
    DiskXfs(crate::isolator::XfsError),
    Tcp(std::net::SocketAddr, io::Error),
    Credentials(crate::api::CredentialsError),
    Logger(String),
    Fleet(String),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Dir(p, e) => write!(f, "Failed to create directory {}: {e}", p.display()),
            AgentError::Socket(p, e) => {
                write!(f, "Failed to set up the API socket {}: {e}", p.display())
            }
            AgentError::SocketInUse(p) => {
                write!(f, "Another agent is already listening on {}", p.display())
            }
            AgentError::UnknownGroup(g) => write!(f, "Unknown --socket_group '{g}'"),
            AgentError::Poll(e) => write!(f, "Event loop failure: {e}"),
            AgentError::Signals(e) => write!(f, "Failed to install signal handlers: {e}"),
            AgentError::Isolation(e) => write!(f, "Invalid --isolation: {e}"),
            AgentError::DefaultContainerInfo(e) => {
                write!(f, "Invalid --default_container_info: {e}")
            }
            AgentError::Cgroups(e) => write!(f, "Failed to set up cgroups: {e}"),
            AgentError::Resources(e) => write!(f, "Failed to determine the node's resources: {e}"),
            AgentError::Lock(p, e) => write!(f, "Failed to lock {}: {e}", p.display()),
            AgentError::DiskXfs(e) => write!(f, "Failed to set up disk/xfs: {e}"),
            AgentError::Tcp(addr, e) => {
                write!(f, "Failed to listen on TCP {addr} (--ip, --port): {e}")
            }
            AgentError::Credentials(e) => e.fmt(f),
            AgentError::Logger(e) => write!(f, "Invalid --container_logger settings: {e}"),
            AgentError::Fleet(e) => write!(f, "Fleet: {e}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Runs the agent until SIGTERM or SIGINT. Containers keep running after it returns.
pub fn run(mut flags: Flags, args: &[String], env: &[(String, String)]) -> Result<(), AgentError> {
    let mut poll = Poll::new().map_err(AgentError::Poll)?;
    let mut timers = Timers::default();
    setup::ensure_dir(&flags.work_dir)?;
    setup::ensure_dir(&flags.runtime_dir)?;
    setup::ensure_dir(&flags.work_dir.join("containers"))?;
    let _lock = setup::lock_work_dir(&flags.work_dir, &flags.proc_dir)?;
    setup::lower_oom_score(&flags.proc_dir);
    setup::budget_stat_files();
    let rebooted = setup::check_boot_id(&flags.proc_dir, &flags.work_dir);
    let mut signals = signals::Signals::install(poll.registry()).map_err(AgentError::Signals)?;
    let tcp_access = setup::tcp_access(&flags)?;

    let launcher = match flags.launcher {
        Launcher::Linux => LauncherKind::Linux,
        Launcher::Posix => LauncherKind::Posix,
    };
    let isolators = Isolators::build(&flags, launcher).map_err(|e| match e {
        IsolatorError::Quota(q) => AgentError::DiskXfs(q),
        other => AgentError::Isolation(other.to_string()),
    })?;
    let controllers = isolators.controllers();
    let cgroups = if controllers.is_empty() {
        None
    } else {
        let cfg = CgroupsConfig {
            hierarchy: flags.cgroups_hierarchy.clone(),
            root: flags.cgroups_root.to_string(),
            mountinfo: flags.proc_dir.join("self/mountinfo"),
            self_cgroup: flags.proc_dir.join("self/cgroup"),
            under_systemd: std::env::var_os("INVOCATION_ID").is_some(),
        };
        let cg =
            Cgroups::detect(&cfg, &controllers).map_err(|e| AgentError::Cgroups(e.to_string()))?;
        log::info!("{}", cg.describe());
        if controllers.contains(&crate::cgroups::Controller::Blkio) {
            // See cgroups::blkio: v1's per-cgroup throttle counters stay 0 on a disk without a rule.
            for (disk, e) in cg.enable_blkio_accounting(std::path::Path::new("/sys/block")) {
                log::debug!("No blkio accounting for {disk}: {e}");
            }
        }
        Some(cg)
    };
    let given = flags.resources.as_ref().map(|r| r.as_str().to_string());
    let total = crate::resources::total(&flags.proc_dir, &flags.work_dir, given.as_deref())
        .map_err(|e| AgentError::Resources(e.to_string()))?;
    log::info!("Node resources: {}", total.to_text());
    if !crate::sys::process::pidfds_supported() {
        log::warn!(
            "This kernel has no pidfds (Linux < 5.3): container exits are found through SIGCHLD"
        );
    }
    let default_container = match &flags.default_container_info {
        Some(json) => crate::spec::ContainerInfo::from_json(&json.0)
            .map_err(AgentError::DefaultContainerInfo)?,
        None => crate::spec::ContainerInfo::default(),
    };
    isolators
        .check_supported(&default_container)
        .map_err(|e| AgentError::DefaultContainerInfo(e.to_string()))?;
    let settings = Settings {
        work_dir: flags.work_dir.clone(),
        runtime_dir: flags.runtime_dir.clone(),
        proc_dir: flags.proc_dir.clone(),
        launcher,
        enable_cfs: flags.cgroups_enable_cfs,
        switch_user: flags.switch_user,
        shutdown_grace: flags.executor_shutdown_grace_period,
        total,
        default_container,
        sandbox_directory: flags.sandbox_directory.clone(),
        hooks: crate::containerizer::mesos::HookSettings {
            dir: flags.hooks_dir.clone(),
            timeout: flags.hooks_timeout,
        },
        logger: logger_settings(&flags)?,
        escape_cgroups: flags.docker_mesos_image.is_some(),
    };
    let fetch_settings = FetchSettings {
        binary: helper_binary(flags.launcher_dir.as_deref(), "mesolite-fetch"),
        cache_dir: flags
            .fetcher_cache_dir
            .clone()
            .unwrap_or_else(|| flags.work_dir.join("fetch")),
        cache_size: flags.fetcher_cache_size.0,
        stall_timeout: flags.fetcher_stall_timeout,
        frameworks_home: flags.frameworks_home.clone(),
        hadoop_home: flags.hadoop_home.clone(),
    };
    setup::ensure_dir(&fetch_settings.cache_dir)?;
    let mut mesos = MesosContainerizer::new(settings, isolators, cgroups, fetch_settings);
    mesos.start_isolators(poll.registry(), &mut timers);
    if let Some(images) = image_settings(&flags)? {
        setup::ensure_dir(&images.requests_dir)?;
        mesos.enable_images(images);
    }
    // From here on the agent talks to the containerizers only through the interface.
    let mut composing = compose::build(&flags, mesos);
    let containerizer: &mut dyn Containerizer = &mut composing;
    let recovery_started = Instant::now();
    if rebooted {
        log::warn!("The host rebooted since the last checkpoints: their containers ended with it");
    }
    containerizer.recover(rebooted, poll.registry(), &mut timers);
    log::info!("Recovery took {:?}", recovery_started.elapsed());
    let cleanup = flags.recover == Recover::Cleanup;
    if cleanup {
        log::info!("--recover=cleanup: destroying every container, then exiting");
        containerizer.destroy_all(poll.registry(), &mut timers);
    }

    let hostname = fleet::hostname(&flags)?;
    let in_fleet = flags.etcd_endpoints.is_some();
    let mut apps = open_apps(
        &flags,
        &hostname,
        in_fleet,
        &mut *containerizer,
        poll.registry(),
        &mut timers,
    )?;

    let listener = setup::bind_socket(&flags.socket, flags.socket_group.as_deref())?;
    let server_config = ServerConfig {
        max_connections: usize::try_from(flags.max_connections).unwrap_or(1024),
        request_timeout: flags.http_request_timeout,
        limits: Limits::default(),
    };
    let mut server = Server::new(listener, server_config, poll.registry(), &mut timers)
        .map_err(|e| AgentError::Socket(flags.socket.clone(), e))?;
    if let (Some(port), Some(access)) = (flags.port, tcp_access) {
        let addr = std::net::SocketAddr::new(flags.ip, port);
        let listener = setup::bind_tcp(addr)?;
        server
            .listen_tcp(listener, access, poll.registry())
            .map_err(|e| AgentError::Tcp(addr, e))?;
        log::info!(
            "Also serving the API over TCP on {addr} ({})",
            access_summary(&flags)
        );
    }
    let total = containerizer.total();
    let mut fleet = fleet::start(&flags, &hostname, total, poll.registry(), &mut timers)?;
    let mut info = AgentInfo {
        version: env!("CARGO_PKG_VERSION"),
        flags: flags.to_pairs(),
        started: Instant::now(),
        start_time: crate::sys::now_secs(),
        loop_iterations: 0,
        loop_stats: LoopStats::default(),
        cfs: flags.cgroups_enable_cfs,
    };
    log::info!(
        "mesolite {} listening on {}",
        info.version,
        flags.socket.display()
    );
    if let Err(e) = setup::notify_ready() {
        log::warn!("Failed to notify systemd of readiness: {e}");
    }

    let mut events = Events::with_capacity(256);
    let mut iteration = Iteration::with_schedstat(&flags.proc_dir);
    loop {
        iteration.finish(&mut info.loop_stats);
        // A streamed answer still to write: look at the events, but do not sleep.
        let timeout = if server.has_pending_work() {
            Some(std::time::Duration::ZERO)
        } else {
            timers.next_timeout()
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(AgentError::Poll(e));
        }
        iteration.start();
        timers.tick();
        info.loop_iterations += 1;
        if cleanup && containerizer.all_terminated() {
            log::info!("--recover=cleanup: every container is destroyed");
            let _ = std::fs::remove_file(&flags.socket);
            return Ok(());
        }
        let registry = poll.registry();
        for event in events.iter() {
            let Some(source) = Source::from_token(event.token()) else {
                continue;
            };
            if source == Source::Signals {
                let arrived = signals.take();
                if let Some(sig) = arrived.terminate {
                    log::info!("Received signal {sig}: stopping; containers keep running");
                    let _ = std::fs::remove_file(&flags.socket);
                    return Ok(());
                }
                if arrived.hangup {
                    reload(&mut flags, args, env, &mut info, &mut *containerizer);
                }
                if !arrived.child {
                    continue;
                }
            }
            let mut ctx = Ctx {
                containerizer: &mut *containerizer,
                apps: &mut apps,
                fleet: fleet.as_mut(),
                registry,
                timers: &mut timers,
                info: &info,
                notices: Vec::new(),
            };
            match source {
                // A health check's probe or COMMAND child: the app controller's.
                _ if ctx.apps.owns(source) => {
                    let (mut env, apps, _) = ctx.split();
                    apps.on_event(source, &mut env);
                }
                Source::Listener => server.accept(registry, false),
                Source::TcpListener => server.accept(registry, true),
                Source::Conn(slot) => server.on_conn(slot, &mut ctx),
                Source::Init(_)
                | Source::ExecReport(_)
                | Source::Child(_)
                | Source::Isolator { .. }
                | Source::Docker(_) => {
                    let n = ctx.containerizer.on_event(source, registry, ctx.timers);
                    ctx.notices.extend(n);
                }
                // A probe the checker no longer knows (cancelled meanwhile).
                Source::Health(_) => {}
                Source::Signals => {
                    let n = ctx.containerizer.on_sigchld(registry, ctx.timers);
                    ctx.notices.extend(n);
                    let (mut env, apps, _) = ctx.split();
                    apps.on_sigchld(&mut env);
                }
                Source::Etcd(conn) => {
                    if let (mut env, _, Some(fleet)) = ctx.split() {
                        fleet.on_event(conn, &mut env);
                    }
                }
            }
            deliver(&mut server, &mut ctx);
            iteration.source(source, server.requests, server.last_request());
        }
        for kind in timers.expired() {
            let registry = poll.registry();
            let mut ctx = Ctx {
                containerizer: &mut *containerizer,
                apps: &mut apps,
                fleet: fleet.as_mut(),
                registry,
                timers: &mut timers,
                info: &info,
                notices: Vec::new(),
            };
            match &kind {
                TimerKind::ConnectionSweep => server.sweep(registry, ctx.timers),
                other if crate::fleet::Fleet::owns_timer(other) => {
                    if let (mut env, apps, Some(fleet)) = ctx.split() {
                        fleet.on_timer(other, apps, &mut env);
                    }
                }
                other if crate::apps::Apps::owns_timer(other) => {
                    let (mut env, apps, _) = ctx.split();
                    apps.on_timer(other, &mut env);
                }
                other => {
                    let n = ctx.containerizer.on_timer(other, registry, ctx.timers);
                    ctx.notices.extend(n);
                }
            }
            deliver(&mut server, &mut ctx);
            iteration.timer(kind, server.requests, server.last_request());
        }
        if server.has_pending_work() {
            let mut ctx = Ctx {
                containerizer: &mut *containerizer,
                apps: &mut apps,
                fleet: fleet.as_mut(),
                registry: poll.registry(),
                timers: &mut timers,
                info: &info,
                notices: Vec::new(),
            };
            server.run_pending(&mut ctx);
            deliver(&mut server, &mut ctx);
            iteration.pending(server.requests, server.last_request());
        }
    }
}

/// A helper binary: in `--launcher_dir`, else beside the agent's own binary.
/// The image settings, when `--image_providers` names a provider.
fn image_settings(flags: &Flags) -> Result<Option<ImageSettings>, AgentError> {
    let providers = flags
        .image_providers
        .as_ref()
        .map(|p| p.0.clone())
        .unwrap_or_default();
    if providers.is_empty() {
        return Ok(None);
    }
    let appc_store_dir = flags
        .appc_store_dir
        .clone()
        .unwrap_or_else(|| flags.work_dir.join("store").join("appc"));
    if providers.contains(&crate::config::ImageProvider::Appc) {
        setup::ensure_dir(&appc_store_dir)?;
    }
    let store_dir = flags
        .docker_store_dir
        .clone()
        .unwrap_or_else(|| flags.work_dir.join("store").join("docker"));
    setup::ensure_dir(&store_dir)?;
    let backend = match flags.image_provisioner_backend {
        Some(ProvisionerBackend::Copy) => BackendKind::Copy,
        Some(ProvisionerBackend::Bind) => BackendKind::Bind,
        Some(ProvisionerBackend::Overlay) => {
            if let Some(why) = crate::provisioner::backend::overlay_unavailable(&store_dir) {
                return Err(AgentError::Isolation(format!(
                    "The overlay backend cannot be used: {why}"
                )));
            }
            BackendKind::Overlay
        }
        None => crate::provisioner::backend::default_backend(&store_dir),
    };
    Ok(Some(ImageSettings {
        providers,
        binary: helper_binary(flags.launcher_dir.as_deref(), "mesolite-fetch"),
        store_dir,
        registry: flags.docker_registry.clone(),
        docker_config: flags.docker_config.clone(),
        appc_store_dir,
        appc_uri_prefix: flags.appc_simple_discovery_uri_prefix.0.clone(),
        backend,
        stall_timeout: flags.fetcher_stall_timeout,
        requests_dir: flags.runtime_dir.join("provisioner"),
    }))
}

/// `--container_logger=logrotate`: its bounds, and this binary (whose `logrotate-logger` verb
/// is the logger process); `None` for the sandbox logger.
fn logger_settings(flags: &Flags) -> Result<Option<LogrotateSettings>, AgentError> {
    if flags.container_logger != crate::config::ContainerLogger::Logrotate {
        return Ok(None);
    }
    let size = |name: &str, b: crate::config::Bytes| {
        if b.0 < crate::logger::MIN_SIZE {
            return Err(AgentError::Logger(format!(
                "--{name}={b} is less than {}B",
                crate::logger::MIN_SIZE
            )));
        }
        Ok(b.0)
    };
    Ok(Some(LogrotateSettings {
        stdout: Rotation {
            max_size: size("logrotate_max_stdout_size", flags.logrotate_max_stdout_size)?,
            keep: flags.logrotate_rotate,
        },
        stderr: Rotation {
            max_size: size("logrotate_max_stderr_size", flags.logrotate_max_stderr_size)?,
            keep: flags.logrotate_rotate,
        },
        binary: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
    }))
}

fn helper_binary(launcher_dir: Option<&std::path::Path>, name: &str) -> PathBuf {
    let dir = match launcher_dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/usr/local/bin")),
    };
    dir.join(name)
}

/// What TCP clients may do, for the start-up log line.
fn access_summary(flags: &Flags) -> &'static str {
    match (
        flags.http_credentials.is_some(),
        flags.authenticate_http_readonly,
        flags.authenticate_http_readwrite,
    ) {
        (false, _, _) => "read-only, no authentication",
        (true, false, false) => {
            "read-only, no authentication; writes need --authenticate_http_readwrite"
        }
        (true, true, false) => "read-only, HTTP Basic authentication",
        (true, false, true) => "reads open, writes with HTTP Basic authentication",
        (true, true, true) => "reads and writes with HTTP Basic authentication",
    }
}

/// Hands the notices gathered while handling one event to the app controller and the
/// server, and the controller's answers to the server.
fn deliver(server: &mut Server, ctx: &mut Ctx<'_>) {
    loop {
        let answers = ctx.apps.take_answers();
        if !answers.is_empty() {
            server.on_app_answers(answers, ctx);
        }
        if ctx.notices.is_empty() {
            if ctx.apps.has_answers() {
                continue;
            }
            return;
        }
        let notices: Vec<Notice> = std::mem::take(&mut ctx.notices);
        let mut more = Vec::new();
        for n in &notices {
            let mut env = crate::apps::Env {
                containerizer: &mut *ctx.containerizer,
                registry: ctx.registry,
                timers: &mut *ctx.timers,
                notices: &mut more,
            };
            ctx.apps.on_notice(n, &mut env);
        }
        ctx.notices.extend(more);
        server.on_notices(notices, ctx);
    }
}

/// The app controller (`<work_dir>/apps`), its checkpoints matched to the recovered
/// containers.
fn open_apps(
    flags: &Flags,
    hostname: &str,
    in_fleet: bool,
    containerizer: &mut dyn Containerizer,
    registry: &mio::Registry,
    timers: &mut Timers,
) -> Result<crate::apps::Apps, AgentError> {
    let dir = flags.work_dir.join("apps");
    // Its `health-exec` verb runs COMMAND health checks inside containers.
    let binary = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let mut apps = crate::apps::Apps::open(dir.clone(), hostname.to_string(), binary)
        .map_err(|e| AgentError::Dir(dir, e))?;
    let mut notices = Vec::new();
    if in_fleet {
        // Nothing launches before the fleet has read this node's assignments.
        apps.hold(
            true,
            &mut crate::apps::Env {
                containerizer: &mut *containerizer,
                registry,
                timers: &mut *timers,
                notices: &mut notices,
            },
        );
    }
    apps.recover(&mut crate::apps::Env {
        containerizer: &mut *containerizer,
        registry,
        timers: &mut *timers,
        notices: &mut notices,
    });
    // Kills at recovery may end containers at once: the controller hears of it now (no
    // request waits on them yet).
    while !notices.is_empty() {
        let mut more = Vec::new();
        for n in std::mem::take(&mut notices) {
            apps.on_notice(
                &n,
                &mut crate::apps::Env {
                    containerizer: &mut *containerizer,
                    registry,
                    timers: &mut *timers,
                    notices: &mut more,
                },
            );
        }
        notices = more;
    }
    Ok(apps)
}

/// SIGHUP: re-reads the conf file's reloadable settings and logs what changed.
fn reload(
    flags: &mut Flags,
    args: &[String],
    env: &[(String, String)],
    info: &mut AgentInfo,
    containerizer: &mut dyn Containerizer,
) {
    // Seccomp profiles are files of their own, edited apart from the conf file.
    containerizer.reload();
    match crate::config::reload(flags, args, env) {
        Ok(changes) if changes.is_empty() => {
            log::info!("SIGHUP: configuration reloaded, nothing changed")
        }
        Ok(changes) => {
            for (name, old, new) in changes {
                log::info!("SIGHUP: {name} changed from '{old}' to '{new}'");
            }
            log::set_max_level(flags.logging_level.to_level_filter());
            info.flags = flags.to_pairs();
        }
        Err(e) => {
            log::error!("SIGHUP: failed to reload the configuration, keeping the old one: {e}")
        }
    }
}
