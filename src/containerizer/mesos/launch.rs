//! LAUNCH: STARTING → (PROVISIONING) → PREPARING → ISOLATING → RUNNING, in steps run on
//! successive loop iterations (steps.rs); the answer waits for the exec report (EOF: the task
//! exec'd).

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::checkpoint;
use super::container::Init;
use super::error::LaunchError;
use super::steps::{Next, Prepared};
use super::State;
use super::{slot_container, LaunchOutcome, MesosContainerizer, Notice};
use crate::event::Source;
use crate::isolator::{Feature, LoopParts, Plan, PrepareCtx};
use crate::launcher::{self, LaunchSpec};
use crate::spec::LaunchRequest;
use crate::sys::process::CStringArray;
use crate::sys::socket::chown;
use crate::sys::user::User;
use crate::timer::Timers;

/// What a launch has made before PREPARING: the task's stdout and stderr, the runtime
/// directory, and the image's rootfs.
#[derive(Debug)]
pub(super) struct Staged {
    pub stdio: (OwnedFd, OwnedFd, OwnedFd),
    pub image: Option<super::provision::ImageRun>,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl MesosContainerizer {
    /// Launches a container. See `LaunchOutcome` for what the caller answers.
    pub fn launch(
        &mut self,
        req: LaunchRequest,
        registry: &Registry,
        timers: &mut Timers,
    ) -> LaunchOutcome {
        if self.containers.contains_key(&req.id) {
            return LaunchOutcome::AlreadyExists;
        }
        let mut available = self.settings.total.clone();
        available.subtract(&self.allocated());
        if !req.resources.fits_in(&available) {
            return LaunchOutcome::Refused(req.resources.shortfall(&available));
        }
        let container = if req.container.given {
            &req.container
        } else {
            &self.settings.default_container
        };
        if let Err(e) = self.isolators.check_supported(container) {
            return LaunchOutcome::Refused(e.to_string());
        }
        if let Some(Err(e)) =
            (self.settings.logger.as_ref()).map(|l| l.for_task(&req.command.environment))
        {
            return LaunchOutcome::Refused(LaunchError::Logger(e).to_string());
        }
        let id = req.id.clone();
        let mut c = self.blank(id.clone());
        c.resources = req.resources.clone();
        self.insert(c);
        // The user is looked up off the loop; the launch goes on from its answer.
        if let Some(name) = self.user_to_resolve(&req) {
            return match self.begin_user_lookup(&id, name, req, registry, timers) {
                Ok(()) => LaunchOutcome::Pending,
                Err(e) => {
                    self.forget(&id);
                    LaunchOutcome::Refused(format!("Failed to look up the user: {e}"))
                }
            };
        }
        self.start_launch(&id, req, None, timers);
        LaunchOutcome::Pending
    }

    /// STARTING with the task's user known (or none to switch to): the launch is counted, and
    /// its steps begin in the next loop iteration.
    pub(super) fn start_launch(
        &mut self,
        id: &super::ContainerId,
        req: LaunchRequest,
        user: Option<User>,
        timers: &mut Timers,
    ) {
        self.metrics.launches += 1;
        self.stage(id, req, user, Next::Start, timers);
    }

    /// A launch step failed: it is recorded and what was made destroyed; this gives the
    /// message and the destroy's notices.
    pub(super) fn launch_error(
        &mut self,
        id: &super::ContainerId,
        e: &LaunchError,
        registry: &Registry,
        timers: &mut Timers,
    ) -> (String, Vec<Notice>) {
        let msg = format!("Failed to launch container: {e}");
        self.metrics.launch_failures += 1;
        log::warn!("Failed to launch container {id}: {msg}");
        let notices = self.fail_launch(id, &msg, registry, timers);
        (msg, notices)
    }

    /// Drops a container nothing was made for yet.
    pub(super) fn forget(&mut self, id: &super::ContainerId) {
        if let Some(c) = self.containers.remove(id) {
            self.by_slot.remove(&c.slot);
        }
    }

    fn set_state(&mut self, id: &super::ContainerId, state: State) {
        if let Some(c) = self.containers.get_mut(id) {
            log::debug!("Container {id}: {} -> {}", c.state.name(), state.name());
            c.state = state;
        }
    }

    /// START: the launch checkpoint, the sandbox and the runtime directory; then PROVISIONING
    /// when there is an image, else PREPARE in the next iteration.
    pub(super) fn start(
        &mut self,
        id: &super::ContainerId,
        req: LaunchRequest,
        user: Option<User>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), LaunchError> {
        let (sandbox, ckpt) = match self.containers.get(id) {
            Some(c) => (c.sandbox.clone(), c.ckpt.clone()),
            None => return Err(LaunchError::Vanished(id.clone())),
        };
        let record = checkpoint::LaunchRecord {
            version: checkpoint::VERSION,
            id: id.to_string(),
            resources: req.resources.to_json(),
            sandbox: sandbox.clone(),
            created: crate::sys::now_secs(),
        };
        checkpoint::write(&ckpt.launch(), &record).map_err(|source| LaunchError::Checkpoint {
            path: ckpt.launch(),
            source,
        })?;
        super::crash::point("checkpoint");
        let (stdout, stderr) = make_sandbox(&sandbox, user.as_ref())?;
        let (stdout, stderr) = self.start_loggers(&sandbox, &req, stdout, stderr)?;
        let runtime_fd = make_runtime_dir(&ckpt.runtime)?;
        let container = if req.container.given {
            &req.container
        } else {
            &self.settings.default_container
        };
        if let Some(image) = container.image.clone() {
            // PROVISIONING: the launch goes on once the image's rootfs is made.
            self.set_state(id, State::Provisioning);
            let pending =
                super::provision::Pending::new(req, user, (stdout, stderr, runtime_fd), image);
            if let Some(c) = self.containers.get_mut(id) {
                c.provisioning = Some(Box::new(pending));
            }
            return self.advance_provisioning(id, registry, timers);
        }
        let staged = Staged {
            stdio: (stdout, stderr, runtime_fd),
            image: None,
        };
        self.stage(id, req, user, Next::Prepare(staged), timers);
        Ok(())
    }

    /// PREPARE (PREPARING → ISOLATING): the cgroups and their limits, the isolators' plan;
    /// the clone follows in the next iteration.
    pub(super) fn continue_launch(
        &mut self,
        id: &super::ContainerId,
        req: LaunchRequest,
        user: Option<User>,
        staged: Staged,
        timers: &mut Timers,
    ) -> Result<(), LaunchError> {
        let Staged { stdio, image } = staged;
        let (stdout, stderr, runtime_fd) = stdio;
        let sandbox = match self.containers.get(id) {
            Some(c) => c.sandbox.clone(),
            None => return Err(LaunchError::Vanished(id.clone())),
        };
        // The runtime isolator of the image's kind applies its config (docker/runtime for a
        // Docker image, appc/runtime for an AppC one).
        let image_runtime = image
            .as_ref()
            .is_some_and(|img| self.isolators.serves(Feature::runtime_of(img.provider)));
        // docker/runtime: the image's User runs the task when the command names none (an AppC
        // image's config has none: appc/runtime does not apply app.user, as in Mesos).
        let image_user = match (&image, &user, image_runtime && self.settings.switch_user) {
            (Some(img), None, true) => match &img.config.user {
                Some(spec) => {
                    let u = super::provision::runtime::image_user(&img.rootfs, spec)?;
                    for path in [
                        sandbox.clone(),
                        sandbox.join("stdout"),
                        sandbox.join("stderr"),
                    ] {
                        chown_to(&path, &u)?;
                    }
                    Some(u)
                }
                None => None,
            },
            _ => None,
        };
        let user = user.or(image_user);
        let task = super::provision::runtime::task_command(
            &req.command,
            image.as_ref(),
            image_runtime,
            &self.settings.sandbox_directory,
        )?;
        self.set_state(id, State::Preparing);
        let controllers = self.isolators.controllers();
        if let (Some(cgroups), false) = (&self.cgroups, controllers.is_empty()) {
            let cg = cgroups
                .create(id.as_str())
                .map_err(LaunchError::CreateCgroup)?;
            if let Some(c) = self.containers.get_mut(id) {
                c.cgroup = Some(cg);
            }
        }
        let mut plan = Plan::default();
        {
            let c = self
                .containers
                .get(id)
                .ok_or_else(|| LaunchError::Vanished(id.clone()))?;
            let container = if req.container.given {
                &req.container
            } else {
                &self.settings.default_container
            };
            let ctx = PrepareCtx {
                id: id.as_str(),
                slot: c.slot,
                resources: &req.resources,
                cgroup: c.cgroup.as_ref(),
                hostname: container.hostname.as_deref(),
                container,
                sandbox: &sandbox,
                enable_cfs: self.settings.enable_cfs,
                user: user.as_ref().map(|u| (u.uid, u.gid)),
                rootfs: image.as_ref().map(|i| i.rootfs.as_path()),
            };
            self.isolators.prepare(&ctx, &mut plan)?;
        }
        super::crash::point("prepare");
        self.set_state(id, State::Isolating);
        let prepared = Prepared {
            task,
            plan,
            stdio: (stdout, stderr, runtime_fd),
        };
        self.stage(id, req, user, Next::Clone(Box::new(prepared)), timers);
        Ok(())
    }

    /// CLONE (ISOLATING → RUNNING, or FETCHING): the init, its pid checkpoint, isolate, and
    /// the release of the task.
    pub(super) fn finish_launch(
        &mut self,
        id: &super::ContainerId,
        req: &LaunchRequest,
        user: Option<&User>,
        prepared: Box<Prepared>,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), LaunchError> {
        let Prepared { task, plan, stdio } = *prepared;
        let (stdout, stderr, runtime_fd) = stdio;
        let (sandbox, ckpt) = match self.containers.get(id) {
            Some(c) => (c.sandbox.clone(), c.ckpt.clone()),
            None => return Err(LaunchError::Vanished(id.clone())),
        };
        // v2: the init is born in its cgroup; v1: it writes itself into each hierarchy's
        // cgroup.procs, opened here, so that the kernel's wait in that write is not the loop's.
        let (cgroup_fd, mut cgroup_procs) =
            match self.containers.get(id).and_then(|c| c.cgroup.as_ref()) {
                Some(cg) => (
                    cg.v2_dir_fd().map_err(LaunchError::CgroupDir)?,
                    cg.procs_files().map_err(LaunchError::CgroupDir)?,
                ),
                None => (None, Vec::new()),
            };
        if self.settings.escape_cgroups {
            // The hierarchies' roots first: the container's own cgroups are written after.
            let mountinfo = std::fs::read_to_string(self.settings.proc_dir.join("self/mountinfo"))
                .unwrap_or_default();
            let mut escape =
                crate::cgroups::escape_procs(&mountinfo).map_err(LaunchError::CgroupDir)?;
            escape.append(&mut cgroup_procs);
            cgroup_procs = escape;
        }
        let mut spec = build_spec(
            req, &task, user, &sandbox, &plan, stdout, stderr, cgroup_fd, runtime_fd,
        )?;
        spec.cgroup_procs = cgroup_procs;
        let mut spawned = launcher::spawn(spec, &self.settings.proc_dir)?;
        super::crash::point("clone");
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| LaunchError::Vanished(id.clone()))?;
        c.init = Some(Init {
            pid: spawned.pid,
            pidfd: spawned.pidfd.take(),
            exit: None,
            adopted: false,
        });
        // Before the child may go on: from here a restarted agent can find and re-adopt it.
        // Our unreaped, unreleased child always has a start time; a record without one could
        // not tell the init from whatever gets its pid later, so such a launch fails instead.
        let start_time = checkpoint::start_time(&self.settings.proc_dir, spawned.pid)
            .filter(|t| *t != 0)
            .ok_or_else(|| LaunchError::Checkpoint {
                path: ckpt.pid(),
                source: io::Error::other(format!(
                    "cannot read the start time of the init {} from {}",
                    spawned.pid,
                    self.settings.proc_dir.display()
                )),
            })?;
        let pid_record = checkpoint::PidRecord {
            version: checkpoint::VERSION,
            pid: spawned.pid,
            start_time,
        };
        checkpoint::write(&ckpt.pid(), &pid_record).map_err(|source| LaunchError::Checkpoint {
            path: ckpt.pid(),
            source,
        })?;
        // Only a v2 kernel without CLONE_INTO_CGROUP leaves the attach to us.
        if let (Some(cg), false) = (&c.cgroup, spawned.in_cgroup) {
            cg.attach(spawned.pid)
                .map_err(|source| LaunchError::Attach {
                    pid: spawned.pid,
                    source,
                })?;
        }
        // Checkpointed, in (or on v1 moving itself into) its cgroups, not released.
        super::crash::point("attach");
        let mut lp = LoopParts {
            registry,
            timers,
            children: &mut self.children,
        };
        let pending = self
            .isolators
            .isolate(&super::destroy::container_ctx(c), &mut lp)?;
        if let Some(pidfd) = &c.init.as_ref().and_then(|i| i.pidfd.as_ref()) {
            register(registry, pidfd, Source::Init(c.slot))?;
        }
        let release = spawned.release.take();
        register(registry, &spawned.exec_report, Source::ExecReport(c.slot))?;
        c.exec_report = Some(spawned.exec_report);
        let fetch_user = if self.settings.switch_user {
            req.command.user.clone()
        } else {
            None
        };
        if !pending.is_empty() {
            // The isolators' children finish the isolate; the launch goes on from them.
            c.release = release;
            c.isolating = Some(Box::new(super::isolating::Isolating {
                pending,
                uris: req.command.uris.clone(),
                user: fetch_user,
            }));
            log::debug!(
                "Container {id}: waiting for its isolators (init pid {})",
                spawned.pid
            );
            return Ok(());
        }
        if req.command.uris.is_empty() {
            c.release = release;
            c.release_task().map_err(LaunchError::Release)?;
            log::info!("Launched container {id} (init pid {})", spawned.pid);
            return Ok(());
        }
        // FETCHING: the init goes on once every URI is in the sandbox.
        c.release = release;
        log::info!(
            "Fetching {} URIs for container {id} (init pid {})",
            req.command.uris.len(),
            spawned.pid
        );
        self.start_fetch(id, req.command.uris.clone(), fetch_user, registry)
    }

    /// The exec report pipe is readable: EOF alone means the task exec'd.
    pub(super) fn on_exec_report(&mut self, slot: u32, registry: &Registry) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        let Some(fd) = c.exec_report.as_ref() else {
            return Vec::new();
        };
        let mut file = match fd.try_clone() {
            Ok(f) => File::from(f),
            Err(_) => return Vec::new(),
        };
        let mut chunk = [0u8; 4096];
        loop {
            match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => c.exec_report_buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Vec::new(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if let Some(fd) = c.exec_report.take() {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        let elapsed = c.created.elapsed().as_secs_f64();
        let mut report = launcher::ExecReport::parse(&c.exec_report_buf);
        if report.is_none() && !c.released {
            report = Some(launcher::ExecReport {
                message: "the container was destroyed before its task started".into(),
            });
        }
        match report {
            None => {
                self.metrics.launch_latency.observe(elapsed);
                vec![Notice::Launched(id)]
            }
            // Killed, or failed already (a fetch): the launch is answered 400, but the
            // container's end stays what the kill or the first failure made it.
            Some(report) if c.killed || c.launch_failure.is_some() => {
                let msg = c
                    .launch_failure
                    .clone()
                    .unwrap_or_else(|| format!("Failed to launch container: {}", report.message));
                vec![Notice::LaunchFailed(id, msg)]
            }
            Some(report) => {
                self.metrics.launch_failures += 1;
                let msg = format!("Failed to launch container: {}", report.message);
                log::warn!("Container {id}: {msg}");
                c.launch_failure = Some(msg.clone());
                vec![Notice::LaunchFailed(id, msg)]
            }
        }
    }
}

fn register(registry: &Registry, fd: &OwnedFd, source: Source) -> Result<(), LaunchError> {
    registry
        .register(
            &mut SourceFd(&fd.as_raw_fd()),
            Token::from(source),
            Interest::READABLE,
        )
        .map_err(LaunchError::Watch)
}

/// A failed operation `what` on `path`.
fn path_error<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> LaunchError + 'a {
    move |source| LaunchError::Path {
        what,
        path: path.to_path_buf(),
        source,
    }
}

impl MesosContainerizer {
    /// `--container_logger=logrotate`: the task's stdout and stderr become pipes to a logger
    /// process each (the sandbox files, made already, are theirs to append to and rotate).
    fn start_loggers(
        &mut self,
        sandbox: &Path,
        req: &LaunchRequest,
        stdout: OwnedFd,
        stderr: OwnedFd,
    ) -> Result<(OwnedFd, OwnedFd), LaunchError> {
        let Some(settings) = &self.settings.logger else {
            return Ok((stdout, stderr));
        };
        let (out_rot, err_rot) = settings
            .for_task(&req.command.environment)
            .map_err(LaunchError::Logger)?;
        let binary = settings.binary.clone();
        drop((stdout, stderr));
        let mut pipes = Vec::with_capacity(2);
        for (name, rotation) in [("stdout", out_rot), ("stderr", err_rot)] {
            let path = sandbox.join(name);
            let (write, child) = crate::logger::start(&binary, &path, rotation)
                .map_err(path_error("start the logger of", &path))?;
            self.children.reap_later(child);
            pipes.push(write);
        }
        let err = pipes
            .pop()
            .ok_or(LaunchError::Logger("no stderr pipe".into()))?;
        let out = pipes
            .pop()
            .ok_or(LaunchError::Logger("no stdout pipe".into()))?;
        Ok((out, err))
    }
}

/// Gives `path` to the task's user.
fn chown_to(path: &Path, user: &User) -> Result<(), LaunchError> {
    chown(path, Some(user.uid), Some(user.gid)).map_err(path_error("chown", path))
}

/// Creates the sandbox and its `stdout`/`stderr`, owned by the task's user.
fn make_sandbox(sandbox: &Path, user: Option<&User>) -> Result<(OwnedFd, OwnedFd), LaunchError> {
    fs::create_dir_all(sandbox).map_err(path_error("create the sandbox", sandbox))?;
    let open = |name: &str| -> Result<OwnedFd, LaunchError> {
        let path = sandbox.join(name);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .open(&path)
            .map_err(path_error("create", &path))?;
        if let Some(u) = user {
            chown_to(&path, u)?;
        }
        Ok(OwnedFd::from(f))
    };
    let stdout = open("stdout")?;
    let stderr = open("stderr")?;
    if let Some(u) = user {
        chown_to(sandbox, u)?;
    }
    Ok((stdout, stderr))
}

/// Creates `<runtime_dir>/containers/<id>` afresh and opens it for the init.
fn make_runtime_dir(dir: &Path) -> Result<OwnedFd, LaunchError> {
    fs::create_dir_all(dir).map_err(path_error("create", dir))?;
    let _ = fs::remove_file(dir.join("status"));
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(path_error("open", dir))?;
    Ok(OwnedFd::from(f))
}

fn cstring(s: &str, what: &'static str) -> Result<CString, LaunchError> {
    CString::new(s).map_err(|_| LaunchError::Nul { what })
}

#[allow(clippy::too_many_arguments)]
fn build_spec(
    req: &LaunchRequest,
    task: &super::provision::runtime::TaskCommand,
    user: Option<&User>,
    sandbox: &Path,
    plan: &Plan,
    stdout: OwnedFd,
    stderr: OwnedFd,
    cgroup_fd: Option<OwnedFd>,
    runtime_dir: OwnedFd,
) -> Result<LaunchSpec, LaunchError> {
    let program = task.program.clone();
    let argv = task.argv.clone();
    // Inside an image the sandbox is where filesystem/linux mounted it.
    let sandbox_str = match &task.sandbox {
        Some(s) => s.to_string_lossy().into_owned(),
        None => sandbox.to_string_lossy().into_owned(),
    };
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("MESOS_SANDBOX".into(), sandbox_str.clone()),
        ("MESOS_CONTAINER_ID".into(), req.id.as_str().to_string()),
    ];
    if let Some(u) = user {
        env.push(("HOME".into(), u.home.clone()));
        env.push(("USER".into(), u.name.clone()));
    }
    for (k, v) in plan.env.iter().chain(&task.environment) {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let search_path = path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .filter_map(|d| CString::new(d).ok())
        .collect();
    let argv = argv
        .iter()
        .map(|a| cstring(a, "an argument"))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}"), "an environment variable"))
        .collect::<Result<Vec<_>, _>>()?;
    let hostname = match &plan.hostname {
        Some(h) => Some(cstring(h, "the hostname")?),
        None => None,
    };
    Ok(LaunchSpec {
        namespaces: plan.namespaces,
        mount_proc: plan.mount_proc,
        hostname,
        program: cstring(&program, "the command")?,
        search_path,
        argv: CStringArray::new(argv),
        envp: CStringArray::new(envp),
        cwd: CString::new(
            task.cwd
                .as_deref()
                .unwrap_or(Path::new(&sandbox_str))
                .as_os_str()
                .as_bytes(),
        )
        .map_err(|_| LaunchError::NulCwd)?,
        stdout,
        stderr,
        user: user.map(|u| (u.uid, u.gid, u.groups.clone())),
        cgroup_fd,
        cgroup_procs: Vec::new(),
        runtime_dir,
        child: plan.child.clone(),
        title: format!("mesolite-init {}", req.id),
    })
}
