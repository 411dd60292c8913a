//! What the task runs: its command as given, or, in an image with `docker/runtime`, the
//! image's Entrypoint/Cmd/Env/WorkingDir merged with it as Mesos does
//! (`docs/isolators/docker-runtime.md`): a command value wins over Entrypoint and Cmd;
//! arguments replace Cmd; task environment variables win over the image's. An AppC image's
//! `app` (with `appc/runtime`) comes as a config with `exec` as Cmd, which gives Mesos's
//! appc/runtime merge: `exec` when there is no value, arguments replacing `exec[1..]`.

use std::path::{Path, PathBuf};

use super::error::RuntimeError;
use super::ImageRun;
use crate::spec::Command;

/// The task's program, argv, environment and directories.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCommand {
    pub program: String,
    pub argv: Vec<String>,
    /// Applied in order over the agent's defaults (PATH, MESOS_*).
    pub environment: Vec<(String, String)>,
    /// None: the sandbox.
    pub cwd: Option<PathBuf>,
    /// The sandbox as the task sees it, when that is not its host path (in an image).
    pub sandbox: Option<PathBuf>,
}

/// Builds the task's command; an error is a launch failure.
pub fn task_command(
    cmd: &Command,
    image: Option<&ImageRun>,
    image_runtime: bool,
    sandbox_directory: &Path,
) -> Result<TaskCommand, RuntimeError> {
    let config = image.filter(|_| image_runtime).map(|i| &i.config);
    let argv: Vec<String> = if cmd.shell {
        if cmd.value.is_empty() {
            return Err(RuntimeError::NoShellValue);
        }
        vec!["sh".into(), "-c".into(), cmd.value.clone()]
    } else if !cmd.value.is_empty() {
        if cmd.arguments.is_empty() {
            vec![cmd.value.clone()]
        } else {
            cmd.arguments.clone()
        }
    } else {
        let entrypoint = config
            .and_then(|c| c.entrypoint.clone())
            .unwrap_or_default();
        let image_cmd = config.and_then(|c| c.cmd.clone()).unwrap_or_default();
        let mut argv = entrypoint;
        if argv.is_empty() {
            match image_cmd.split_first() {
                Some((first, rest)) => {
                    argv.push(first.clone());
                    if cmd.arguments.is_empty() {
                        argv.extend_from_slice(rest);
                    }
                }
                None => return Err(RuntimeError::NoCommand),
            }
        } else if cmd.arguments.is_empty() {
            argv.extend(image_cmd);
        }
        argv.extend(cmd.arguments.iter().cloned());
        argv
    };
    let program = if cmd.shell {
        "/bin/sh".to_string()
    } else if !cmd.value.is_empty() {
        cmd.value.clone()
    } else {
        argv.first().cloned().unwrap_or_default()
    };
    let mut environment: Vec<(String, String)> = config
        .map(|c| {
            c.env
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    environment.extend(cmd.environment.iter().cloned());
    let sandbox = image.map(|_| sandbox_directory.to_path_buf());
    let cwd = match config.and_then(|c| c.working_dir.as_deref()) {
        Some(dir) => Some(Path::new("/").join(dir)),
        None => sandbox.clone(),
    };
    Ok(TaskCommand {
        program,
        argv,
        environment,
        cwd,
        sandbox,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::provisioner::ImageConfig;

    fn command(value: &str, shell: bool, args: &[&str]) -> Command {
        Command {
            value: value.into(),
            shell,
            arguments: args.iter().map(|a| a.to_string()).collect(),
            environment: vec![("A".into(), "task".into())],
            user: None,
            uris: Vec::new(),
        }
    }

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageRun {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        ImageRun {
            rootfs: "/r".into(),
            config: ImageConfig {
                entrypoint: entrypoint.map(list),
                cmd: cmd.map(list),
                env: vec!["A=image".into(), "PATH=/bin".into()],
                working_dir: Some("work".into()),
                user: None,
            },
            provider: crate::config::ImageProvider::Docker,
        }
    }

    const SB: &str = "/mnt/mesos/sandbox";

    #[test]
    fn image_entrypoint_and_cmd_unless_the_command_says_otherwise() {
        let img = image(Some(&["/bin/echo", "hi"]), Some(&["there"]));
        let t = task_command(&command("", false, &[]), Some(&img), true, Path::new(SB)).unwrap();
        assert_eq!(t.argv, ["/bin/echo", "hi", "there"]);
        assert_eq!(t.program, "/bin/echo");
        // Arguments replace Cmd.
        let t = task_command(&command("", false, &["x"]), Some(&img), true, Path::new(SB)).unwrap();
        assert_eq!(t.argv, ["/bin/echo", "hi", "x"]);
        // A value replaces both.
        let t = task_command(&command("ls", true, &[]), Some(&img), true, Path::new(SB)).unwrap();
        assert_eq!(t.argv, ["sh", "-c", "ls"]);
        // Task environment wins; WorkingDir is rooted.
        assert_eq!(t.environment.last().unwrap(), &("A".into(), "task".into()));
        assert_eq!(t.environment[0], ("A".into(), "image".into()));
        assert_eq!(t.cwd.as_deref(), Some(Path::new("/work")));
        assert_eq!(t.sandbox.as_deref(), Some(Path::new(SB)));
    }

    #[test]
    fn cmd_alone_and_nothing_at_all() {
        let img = image(None, Some(&["/bin/sh", "-c", "true"]));
        let t = task_command(&command("", false, &[]), Some(&img), true, Path::new(SB)).unwrap();
        assert_eq!(t.argv, ["/bin/sh", "-c", "true"]);
        let empty = image(None, None);
        assert!(task_command(&command("", false, &[]), Some(&empty), true, Path::new(SB)).is_err());
        // Without docker/runtime the image config is ignored.
        assert!(task_command(&command("", false, &[]), Some(&img), false, Path::new(SB)).is_err());
        assert!(task_command(&command("", true, &[]), Some(&img), true, Path::new(SB)).is_err());
    }

    #[test]
    fn appc_exec_follows_mesos_appc_runtime_table() {
        let manifest = crate::provisioner::appc::AciManifest::parse(
            br#"{"acKind":"ImageManifest","name":"a","app":{"exec":["/bin/app","-x"],
            "environment":[{"name":"E","value":"1"}],"workingDirectory":"/w"}}"#,
        )
        .unwrap();
        let img = ImageRun {
            rootfs: "/r".into(),
            config: manifest.image_config(),
            provider: crate::config::ImageProvider::Appc,
        };
        let run = |c: Command| task_command(&c, Some(&img), true, Path::new(SB)).unwrap();
        // No value, no arguments: exec as is.
        let t = run(command("", false, &[]));
        assert_eq!(
            (t.program.as_str(), t.argv.clone()),
            ("/bin/app", vec!["/bin/app".to_string(), "-x".into()])
        );
        assert_eq!(t.environment[0], ("E".into(), "1".into()));
        assert_eq!(t.cwd.as_deref(), Some(Path::new("/w")));
        // Arguments replace exec[1..].
        assert_eq!(run(command("", false, &["-y"])).argv, ["/bin/app", "-y"]);
        // A value ignores exec.
        assert_eq!(run(command("/bin/other", false, &[])).argv, ["/bin/other"]);
        assert_eq!(run(command("ls", true, &[])).argv, ["sh", "-c", "ls"]);
    }

    #[test]
    fn no_image_keeps_the_command_and_the_sandbox() {
        let t = task_command(&command("echo hi", true, &[]), None, true, Path::new(SB)).unwrap();
        assert_eq!(t.program, "/bin/sh");
        assert_eq!(t.cwd, None);
        assert_eq!(t.sandbox, None);
        assert_eq!(t.environment, vec![("A".into(), "task".into())]);
    }
}

/// The most of an image's `/etc/passwd` or `/etc/group` the agent reads.
pub const IMAGE_USER_FILE_LIMIT: u64 = 1 << 20;

/// An image's `/etc/passwd` or `/etc/group`, read inside its rootfs only (a link resolves in
/// the rootfs, never out of it), if it is a regular file of at most `IMAGE_USER_FILE_LIMIT`
/// bytes; a file the image does not have reads as empty.
fn image_file(rootfs: &Path, path: &'static str) -> Result<String, RuntimeError> {
    use crate::sys::inroot::{read_in_root, InRootError};
    match read_in_root(rootfs, Path::new(path), IMAGE_USER_FILE_LIMIT) {
        Ok(data) => Ok(String::from_utf8_lossy(&data).into_owned()),
        Err(InRootError::Open(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(RuntimeError::ImageFile {
            path,
            reason: e.to_string(),
        }),
    }
}

/// docker/runtime's `User` (`name`, `uid`, `name:group` or `uid:gid`), resolved in the image's
/// own `/etc/passwd` and `/etc/group` (the host's mean nothing inside the image), each read
/// only when the spec needs it.
pub fn image_user(rootfs: &Path, spec: &str) -> Result<crate::sys::user::User, RuntimeError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = image_file(rootfs, "/etc/passwd")?;
    // name:x:uid:gid:gecos:home:shell
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && (f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user)));
    let uid = match (&entry, user.parse::<u32>()) {
        (Some(f), _) => f[2].parse::<u32>().ok(),
        (None, Ok(uid)) => Some(uid),
        (None, Err(_)) => None,
    }
    .ok_or_else(|| RuntimeError::UnknownUser {
        user: user.to_string(),
    })?;
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => image_file(rootfs, "/etc/group")?
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| RuntimeError::UnknownGroup {
                    group: g.to_string(),
                })?,
        },
        None => entry
            .as_ref()
            .and_then(|f| f[3].parse().ok())
            .unwrap_or(uid),
    };
    Ok(crate::sys::user::User {
        name: entry
            .as_ref()
            .map_or_else(|| user.to_string(), |f| f[0].to_string()),
        uid,
        gid,
        groups: vec![gid],
        home: entry
            .as_ref()
            .map_or_else(|| "/".to_string(), |f| f[5].to_string()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod user_tests {
    use super::*;

    #[test]
    fn image_users_resolve_in_the_image() {
        let root = std::env::temp_dir().join(format!("mesolite-imguser-{}", std::process::id()));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "staff:x:50:\n").unwrap();
        let u = image_user(&root, "app").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1001, "/home/app"));
        let u = image_user(&root, "app:staff").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        let u = image_user(&root, "4321:99").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4321, 99, "/"));
        assert!(image_user(&root, "nobody").is_err());
        assert!(image_user(&root, "app:nogroup").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn image_user_files_are_read_in_the_rootfs_only_and_bounded() {
        let base =
            std::env::temp_dir().join(format!("mesolite-imguser-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let image = |name: &str, passwd: Option<&str>| {
            let root = base.join(name);
            std::fs::create_dir_all(root.join("etc")).unwrap();
            if let Some(target) = passwd {
                std::os::unix::fs::symlink(target, root.join("etc/passwd")).unwrap();
            }
            root
        };
        // A link to /dev/zero or to the host's passwd never reads the host's file: a name
        // fails, and so does a uid looked up in it.
        for (name, target) in [("zero", "/dev/zero"), ("host", "/etc/passwd")] {
            let root = image(name, Some(target));
            let err = image_user(&root, "root").unwrap_err();
            assert!(
                matches!(
                    err,
                    RuntimeError::UnknownUser { .. } | RuntimeError::ImageFile { .. }
                ),
                "{name}: {err:?}"
            );
        }
        // A device or FIFO is no passwd file.
        let root = image("fifo", None);
        crate::sys::fs::mknod(&root.join("etc/passwd"), libc::S_IFIFO | 0o644, 0, 0).unwrap();
        let err = image_user(&root, "app").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Failed to read the image's /etc/passwd to resolve its user: not a regular file"
        );
        // Over the bound: refused, not read.
        let root = image("big", None);
        std::fs::write(root.join("etc/passwd"), "app:x:1:1::/:/bin/sh\n").unwrap();
        let group = std::fs::File::create(root.join("etc/group")).unwrap();
        group.set_len(IMAGE_USER_FILE_LIMIT + 1).unwrap();
        let err = image_user(&root, "app:staff").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Failed to read the image's /etc/group to resolve its user: larger than 1048576 bytes"
        );
        assert_eq!(image_user(&root, "app").unwrap().uid, 1);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
