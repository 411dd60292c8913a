//! COMMAND checks: `/bin/sh -c <value>` in the instance's container, run by the `health-exec`
//! verb of the mesolite binary as a child of the loop's runner. The verb joins the container's
//! namespaces and forks the shell into them; its stdout (the runner's pipe) brings the tail of
//! the command's output, or why it could not run.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::book::Outcome;
use super::exec::VERB;
use super::{HealthCheck, Target};
use crate::sys::process;

/// The most of the command's output kept for `lastFailureCause`.
const MAX_CAUSE_OUTPUT: usize = 200;

/// The verb's command line for `spec`'s command in the namespaces of the target's process,
/// with the task's environment; why there is none otherwise.
pub(super) fn command(
    binary: &Path,
    spec: &HealthCheck,
    target: &Target,
) -> Result<Command, String> {
    let value = spec
        .command
        .as_ref()
        .ok_or("a COMMAND check without a command")?;
    let pid = target.pid.ok_or("no process to run the command in")?;
    let mut c = Command::new(binary);
    c.arg(VERB)
        .arg(format!("--pid={pid}"))
        .args(["--", "/bin/sh", "-c", &value.value])
        .env_clear()
        .envs(target.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        // A group of its own, so a kill at the deadline reaches the shell and what it started
        // (the runner signals the group of a child that leads one).
        .process_group(0);
    Ok(c)
}

/// The last line the check printed, kept short.
pub(super) fn keep_line(last: &mut Option<String>, lines: Vec<String>) {
    if let Some(line) = lines.into_iter().last() {
        let mut end = line.len().min(MAX_CAUSE_OUTPUT);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        *last = Some(line[..end].to_string());
    }
}

/// The outcome of the verb's raw wait `status`, with the last line it printed.
pub(super) fn outcome(status: i32, last_line: Option<&str>) -> Outcome {
    let what = match process::decode_status(status) {
        (Some(0), _) => return Outcome::Healthy,
        (Some(code), _) => format!("command exited with status {code}"),
        (_, Some(sig)) => format!("command killed by signal {sig}"),
        (None, None) => format!("command ended with wait status {status}"),
    };
    Outcome::Unhealthy(match last_line {
        Some(line) => format!("{what}: {line}"),
        None => what,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_status_decides() {
        assert_eq!(outcome(0, Some("ok")), Outcome::Healthy);
        assert_eq!(
            outcome(1 << 8, None),
            Outcome::Unhealthy("command exited with status 1".into())
        );
        assert_eq!(
            outcome(125 << 8, Some("cannot join /proc/9/ns/mnt: denied")),
            Outcome::Unhealthy(
                "command exited with status 125: cannot join /proc/9/ns/mnt: denied".into()
            )
        );
        assert_eq!(
            outcome(process::status_signaled(libc::SIGKILL), None),
            Outcome::Unhealthy("command killed by signal 9".into())
        );
    }

    #[test]
    fn only_a_short_last_line_is_kept() {
        let mut last = None;
        keep_line(&mut last, vec!["one".into(), "two".into()]);
        assert_eq!(last.as_deref(), Some("two"));
        keep_line(&mut last, Vec::new());
        assert_eq!(last.as_deref(), Some("two"));
        keep_line(&mut last, vec!["é".repeat(150)]);
        let kept = last.unwrap_or_default();
        assert!(
            kept.len() <= MAX_CAUSE_OUTPUT && kept.starts_with('é'),
            "{kept}"
        );
    }

    #[test]
    fn the_verb_gets_the_pid_the_shell_and_only_the_task_environment() {
        let spec: HealthCheck =
            serde_json::from_str(r#"{"protocol": "COMMAND", "command": {"value": "test -f /x"}}"#)
                .expect("check");
        let mut target = Target {
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            ports: Vec::new(),
            pid: Some(42),
            env: vec![("PORT0".to_string(), "31001".to_string())],
        };
        let binary = Path::new("/usr/bin/mesolite");
        let c = command(binary, &spec, &target).expect("command");
        let args: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [VERB, "--pid=42", "--", "/bin/sh", "-c", "test -f /x"]
        );
        let envs: Vec<_> = c.get_envs().collect();
        assert_eq!(envs.len(), 1);
        assert_eq!(envs[0].0, "PORT0");
        target.pid = None;
        assert_eq!(
            command(binary, &spec, &target).err().as_deref(),
            Some("no process to run the command in")
        );
        target.pid = Some(1);
        let spec: HealthCheck = serde_json::from_str(r#"{"protocol": "COMMAND"}"#).expect("check");
        assert!(command(binary, &spec, &target).is_err());
    }
}
