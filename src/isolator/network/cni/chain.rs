//! Running a container's plugin chains, one plugin at a time, each a child of the loop with
//! `--network_cni_plugin_timeout`: ADD network by network, plugin by plugin, each given the
//! previous plugin's result as `prevResult`; DEL network by network in reverse, the plugins of
//! each in reverse, given the checkpointed result.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::config::plugin_path;
use super::invoke::{self, Answer, Runtime, Verb};
use super::state::{self, Net};
use crate::children::{ChildId, Program};
use crate::isolator::Ops;
use crate::sys::netlink::Netlink;

/// The most of a plugin's stdout read as its result.
const RESULT_LIMIT: usize = 1 << 20;
/// The most of its stderr put in a message.
const STDERR_LIMIT: u64 = 4096;

/// A container's networks and the chain running for them.
#[derive(Debug)]
pub struct Attached {
    pub id: String,
    pub dir: PathBuf,
    pub hostname: String,
    pub nets: Vec<Net>,
    pub run: Option<Run>,
    /// A socket made in the container's namespace at its first statistics request and kept:
    /// entering the namespace (setns there and back) is most of a sample's cost.
    pub netlink: RefCell<Option<Netlink>>,
}

/// A chain in progress.
#[derive(Debug)]
pub struct Run {
    pub verb: Verb,
    /// The invocations still to make: (network, plugin) indexes.
    todo: VecDeque<(usize, usize)>,
    current: Option<Current>,
    /// DEL: a plugin failed (or could not run); what a retry needs is kept.
    pub del_failed: bool,
}

#[derive(Debug)]
struct Current {
    child: ChildId,
    net: usize,
    plugin: usize,
    stdout: String,
    stderr: PathBuf,
}

impl Run {
    pub fn new(verb: Verb, nets: &[Net]) -> Run {
        let mut todo = VecDeque::new();
        match verb {
            Verb::Add => {
                for (n, net) in nets.iter().enumerate() {
                    for p in 0..net.config.plugins().len() {
                        todo.push_back((n, p));
                    }
                }
            }
            Verb::Del => {
                for (n, net) in nets.iter().enumerate().rev() {
                    if !net.added {
                        continue;
                    }
                    for p in (0..net.config.plugins().len()).rev() {
                        todo.push_back((n, p));
                    }
                }
            }
        }
        Run {
            verb,
            todo,
            current: None,
            del_failed: false,
        }
    }

    /// The running plugin's child, to kill.
    pub fn child(&self) -> Option<ChildId> {
        self.current.as_ref().map(|c| c.child)
    }

    pub fn take_line(&mut self, line: &str) {
        if let Some(c) = self.current.as_mut() {
            if c.stdout.len() + line.len() < RESULT_LIMIT {
                c.stdout.push_str(line);
                c.stdout.push('\n');
            }
        }
    }
}

/// What a step of the chain came to.
#[derive(Debug)]
pub enum Step {
    /// A plugin runs.
    Running,
    /// The chain is done.
    Done,
    /// A plugin failed (ADD: the chain stops), with the message.
    Failed(String),
}

/// Where the plugins are, and how long each may take.
#[derive(Debug, Clone)]
pub struct Exec<'a> {
    pub plugins_dir: &'a Path,
    pub timeout: std::time::Duration,
}

impl Attached {
    /// Starts the next plugin of the chain (for the loop's `slot`).
    pub fn advance(&mut self, slot: u32, exec: &Exec<'_>, ops: &mut Ops<'_>) -> Step {
        loop {
            let Some(run) = self.run.as_mut() else {
                return Step::Done;
            };
            let Some((n, p)) = run.todo.pop_front() else {
                return Step::Done;
            };
            let verb = run.verb;
            match self.spawn(n, p, verb, slot, exec, ops) {
                Ok(current) => {
                    if let Some(run) = self.run.as_mut() {
                        run.current = Some(current);
                    }
                    return Step::Running;
                }
                Err(why) if verb == Verb::Add => return Step::Failed(why),
                // A DEL that cannot run is logged; the others still run.
                Err(why) => {
                    log::warn!("Container {}: {why}", self.id);
                    if let Some(run) = self.run.as_mut() {
                        run.del_failed = true;
                    }
                }
            }
        }
    }

    fn spawn(
        &mut self,
        n: usize,
        p: usize,
        verb: Verb,
        slot: u32,
        exec: &Exec<'_>,
        ops: &mut Ops<'_>,
    ) -> Result<Current, String> {
        let netns = state::netns_path(&self.dir);
        let net = &mut self.nets[n];
        let plugin = net.config.plugins()[p].clone();
        let kind = plugin
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string();
        let what = |why: String| {
            format!(
                "the CNI plugin '{kind}' of network '{}' could not {} {}: {why}",
                net.config.name,
                verb.name(),
                net.ifname
            )
        };
        let path = plugin_path(exec.plugins_dir, &kind)
            .ok_or_else(|| what(format!("it is not in {}", exec.plugins_dir.display())))?;
        if verb == Verb::Add {
            net.added = true;
        }
        let rt = Runtime {
            container_id: &self.id,
            netns: &netns,
            ifname: &net.ifname,
            plugins_dir: exec.plugins_dir,
            request: &net.request,
        };
        let stdin = invoke::plugin_config(&net.config.list, &plugin, net.result.as_ref(), &rt);
        let (stdin_path, stderr_path) = invoke::io_paths(&self.dir, &net.config.name, p, verb);
        let files = (|| -> std::io::Result<(File, File)> {
            if let Some(parent) = stdin_path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&stdin_path, serde_json::to_vec(&stdin).unwrap_or_default())?;
            Ok((File::open(&stdin_path)?, File::create(&stderr_path)?))
        })();
        let (input, err) = files.map_err(|e| what(format!("{}: {e}", stdin_path.display())))?;
        let cmd = invoke::command(&path, verb, &rt, input, err);
        let child = ops
            .run(slot, Program::Exec(cmd), Some(exec.timeout))
            .map_err(|e| what(e.to_string()))?;
        log::debug!(
            "Container {}: CNI {} {kind} for network '{}' ({})",
            self.id,
            verb.name(),
            net.config.name,
            net.ifname
        );
        Ok(Current {
            child,
            net: n,
            plugin: p,
            stdout: String::new(),
            stderr: stderr_path,
        })
    }

    /// The running plugin ended: its result is kept, and the chain goes on or stops.
    pub fn finished(
        &mut self,
        status: i32,
        timed_out: bool,
        slot: u32,
        exec: &Exec<'_>,
        ops: &mut Ops<'_>,
    ) -> Step {
        let Some(run) = self.run.as_mut() else {
            return Step::Done;
        };
        let Some(cur) = run.current.take() else {
            return Step::Done;
        };
        let verb = run.verb;
        let net = &mut self.nets[cur.net];
        let kind = net.config.plugins()[cur.plugin]
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string();
        let answer = if timed_out {
            Answer::Failed(format!(
                "it timed out after {:?} and was killed",
                exec.timeout
            ))
        } else {
            let stderr = crate::sys::bounded::read_file(&cur.stderr, STDERR_LIMIT * 16)
                .map(|b| {
                    let start = b.len().saturating_sub(STDERR_LIMIT as usize);
                    String::from_utf8_lossy(&b[start..]).into_owned()
                })
                .unwrap_or_default();
            invoke::judge(verb, status, &cur.stdout, &stderr)
        };
        match answer {
            Answer::Result(Some(result)) => net.result = Some(result),
            Answer::Result(None) => {}
            Answer::Failed(why) => {
                let msg = format!(
                    "the CNI plugin '{kind}' failed to {} container {} {} network '{}': {why}",
                    if verb == Verb::Add {
                        "attach"
                    } else {
                        "detach"
                    },
                    self.id,
                    if verb == Verb::Add { "to" } else { "from" },
                    net.config.name
                );
                if verb == Verb::Add {
                    self.run = None;
                    return Step::Failed(msg);
                }
                log::warn!("{msg}");
                if let Some(run) = self.run.as_mut() {
                    run.del_failed = true;
                }
            }
        }
        self.advance(slot, exec, ops)
    }
}
