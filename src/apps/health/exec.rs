//! `mesolite health-exec --pid=N -- PROGRAM ARGS...`: runs a COMMAND health check in the
//! namespaces of a container's process (a hidden verb, started by the health checker).
//!
//! It joins the ipc, uts, net, pid and mount namespaces of `N` through `/proc/N/ns/*`, then
//! forks the program (only a child enters the pid namespace) with `/` as its directory, its
//! stdout and stderr on one pipe, and waits for it. What it prints on its own stdout is the
//! tail of that output, or why the program could not run; it exits with the program's status
//! (128 + the signal that killed it), or 125 when the namespaces or the program could not be
//! entered.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::sys::{fd, ns};

pub const VERB: &str = "health-exec";

/// The status when the command could not even start (as `docker exec`'s).
const CANNOT_RUN: i32 = 125;
/// The most of the command's output passed on (its end: where the reason of a failure is).
const TAIL: usize = 1024;
/// For a task whose environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, PartialEq)]
struct Args {
    proc_dir: PathBuf,
    pid: i32,
    program: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let split = args
        .iter()
        .position(|a| a == "--")
        .ok_or("expected -- PROGRAM [ARGS...]")?;
    let (flags, program) = (&args[..split], &args[split + 1..]);
    let mut pid = None;
    let mut proc_dir = PathBuf::from("/proc");
    for a in flags {
        let (k, v) = a
            .strip_prefix("--")
            .and_then(|kv| kv.split_once('='))
            .ok_or_else(|| format!("expected --name=value, got '{a}'"))?;
        match k {
            "pid" => {
                pid = Some(
                    v.parse::<i32>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("--pid: '{v}' is not a process id"))?,
                )
            }
            "proc_dir" => proc_dir = PathBuf::from(v),
            _ => return Err(format!("unknown flag --{k}")),
        }
    }
    if program.is_empty() {
        return Err("no program after --".into());
    }
    Ok(Args {
        proc_dir,
        pid: pid.ok_or("--pid is required")?,
        program: program.to_vec(),
    })
}

/// The verb's body; returns its exit status.
pub fn run(args: &[String]) -> i32 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            println!("mesolite {VERB}: {e}");
            return 2;
        }
    };
    match run_inside(&args) {
        Ok(status) => status,
        Err(e) => {
            println!("{e}");
            CANNOT_RUN
        }
    }
}

fn run_inside(args: &Args) -> Result<i32, String> {
    ns::Opened::open(&args.proc_dir, args.pid, &ns::CONTAINER)
        .and_then(ns::Opened::join)
        .map_err(|e| e.to_string())?;
    let (read, write) = fd::pipe(false).map_err(|e| format!("cannot make a pipe: {e}"))?;
    let copy = write
        .try_clone()
        .map_err(|e| format!("cannot make a pipe: {e}"))?;
    let mut command = Command::new(&args.program[0]);
    command
        .args(&args.program[1..])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(copy));
    if std::env::var_os("PATH").is_none() {
        command.env("PATH", DEFAULT_PATH);
    }
    // Should this process be killed (the check's deadline), the command goes with it.
    ns::die_with_parent_across(&mut command);
    let spawned = command.spawn();
    // The command holds the pipe's write ends: the output ends only once they are closed.
    drop(command);
    let mut child = spawned.map_err(|e| format!("cannot run {}: {e}", args.program[0]))?;
    let tail = read_tail(File::from(read));
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for {}: {e}", args.program[0]))?;
    let _ = io::stdout().write_all(&tail);
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Everything `from` brings until its end, of which the last [`TAIL`] bytes are kept.
fn read_tail(mut from: impl Read) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match from.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                let excess = tail.len().saturating_sub(TAIL);
                tail.drain(..excess);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_name_the_process_and_the_program() {
        let a = parse_args(&strings(&["--pid=7", "--", "/bin/sh", "-c", "exit 3"])).expect("ok");
        assert_eq!(
            a,
            Args {
                proc_dir: PathBuf::from("/proc"),
                pid: 7,
                program: strings(&["/bin/sh", "-c", "exit 3"]),
            }
        );
        let a = parse_args(&strings(&["--proc_dir=/p", "--pid=1", "--", "true"])).expect("ok");
        assert_eq!(a.proc_dir, PathBuf::from("/p"));
        for bad in [
            &["--pid=7"][..],
            &["--pid=7", "--"],
            &["--", "true"],
            &["--pid=0", "--", "true"],
            &["--pid=x", "--", "true"],
            &["--user=1", "--pid=1", "--", "true"],
        ] {
            assert!(parse_args(&strings(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_the_end_of_the_output_is_kept() {
        let long: Vec<u8> = b"abcdefghijklmnopqrstuvwxyz"
            .iter()
            .cycle()
            .take(5000)
            .copied()
            .collect();
        let tail = read_tail(&long[..]);
        assert_eq!(tail, long[long.len() - TAIL..]);
        assert_eq!(read_tail(&b"short\n"[..]), b"short\n");
    }
}
