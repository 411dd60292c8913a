//! Where an app's instances go across the fleet: the scheduler's decision, pure and
//! deterministic (the same nodes, app and placements give the same answer), no I/O.
//!
//! Placing: each new instance goes, one after the other, to a node that has the free
//! resources it needs (cpus, mem, disk and its host ports) and that every constraint accepts
//! given the instances placed so far, the earlier new ones included (Marathon checks each
//! offer against the app's running instances the same way). Among those nodes the default
//! spread picks the one with the fewest instances of this app, then the most free resources
//! (the mean of its free cpu, mem and disk fractions), then the smallest hostname. An instance
//! no node takes waits, with the reason.
//!
//! Scaling down: [`choose_to_remove`] (see `scale_down.rs`).

mod constraint;
mod regex;
mod scale_down;
#[cfg(test)]
mod tests;

pub use constraint::{
    parse_constraints, Constraint, ConstraintError, ConstraintErrorKind, Field, FieldCounts,
    Operator,
};
pub use regex::{Regex, RegexError};
pub use scale_down::choose_to_remove;

use std::collections::BTreeMap;
use std::fmt;

use super::attributes::Attributes;
use crate::apps::definition::{KillSelection, PortNeed};
use crate::apps::{AppDefinition, AppId, TaskId};
use crate::resources::{PortRange, Resources};

/// A node of the fleet as the scheduler sees it. Hostnames are unique in the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub hostname: String,
    pub attributes: Attributes,
    pub total: Resources,
    /// What is not allocated (total less every instance placed on it, of any app).
    pub free: Resources,
}

/// What one instance of an app needs and where it may go.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: AppId,
    pub cpus: f64,
    pub mem_mb: f64,
    pub disk_mb: f64,
    /// Its host ports: a fixed port, or 0 for any of the node's free ports.
    pub ports: Vec<PortNeed>,
    pub constraints: Vec<Constraint>,
    pub kill_selection: KillSelection,
}

impl App {
    /// From a validated definition; refused constraints come back with their paths.
    pub fn from_definition(id: AppId, def: &AppDefinition) -> Result<App, Vec<ConstraintError>> {
        Ok(App {
            id,
            cpus: def.cpus,
            mem_mb: def.mem,
            disk_mb: def.disk,
            ports: def.port_needs(),
            constraints: parse_constraints(&def.constraints)?,
            kill_selection: def.kill_selection,
        })
    }

    fn scalars(&self) -> Resources {
        Resources {
            cpus: self.cpus,
            mem_mb: self.mem_mb,
            disk_mb: self.disk_mb,
            ports: Vec::new(),
        }
    }

    /// `cpus:1; mem:128; 2 ports`, for a waiting reason.
    fn describe_need(&self) -> String {
        let mut parts = vec![self.scalars().to_text()];
        match self.ports.len() {
            0 => {}
            1 => parts.push("1 port".into()),
            n => parts.push(format!("{n} ports")),
        }
        parts.retain(|p| !p.is_empty());
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join("; ")
        }
    }
}

/// An instance of the app already placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub task: TaskId,
    pub hostname: String,
    /// Launch order (higher: younger), for `killSelection`.
    pub seq: u64,
}

/// The answer for the new instances: a hostname per placed one, in order, and the rest
/// waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub nodes: Vec<String>,
    pub waiting: Option<Waiting>,
}

/// Instances no node can take now, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub count: usize,
    pub reason: WaitReason,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaitReason {
    /// The fleet has no node at all.
    NoNodes,
    /// No node has the free resources (`need` as text).
    NoResources { need: String },
    /// Nodes have room, but this constraint is satisfied by none of them.
    Constraint(Constraint),
    /// Each constraint is satisfied by some node with room, but none satisfies all.
    Constraints(Vec<Constraint>),
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("waiting for a node: ")?;
        match self {
            Self::NoNodes => f.write_str("no node is registered"),
            Self::NoResources { need } => write!(f, "no node has free resources for {need}"),
            Self::Constraint(c) => {
                write!(f, "constraint {c} satisfied by no node with free resources")
            }
            Self::Constraints(all) => {
                let names: Vec<String> = all.iter().map(Constraint::to_string).collect();
                write!(
                    f,
                    "constraints {} satisfied together by no node with free resources",
                    names.join(", ")
                )
            }
        }
    }
}

/// The fleet as placement goes on: free resources and the app's instances, per node.
struct Fleet<'a> {
    nodes: &'a [Node],
    free: Vec<Resources>,
    /// Instances of the app per node index.
    count: Vec<usize>,
    /// Per constraint, the placed instances as its field sees them.
    placed: Vec<FieldCounts>,
    /// The field values of each node, per constraint (read once).
    node_values: Vec<Vec<Option<String>>>,
}

impl<'a> Fleet<'a> {
    fn new(nodes: &'a [Node], app: &'a App, placed: &'a [Placed]) -> Fleet<'a> {
        let node_values: Vec<Vec<Option<String>>> = nodes
            .iter()
            .map(|n| {
                let values = app.constraints.iter();
                values
                    .map(|c| field_value(c, &n.hostname, Some(&n.attributes)))
                    .collect()
            })
            .collect();
        let mut fleet = Fleet {
            nodes,
            free: nodes.iter().map(|n| n.free.clone()).collect(),
            count: vec![0; nodes.len()],
            placed: vec![FieldCounts::default(); app.constraints.len()],
            node_values,
        };
        let by_name: BTreeMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.hostname.as_str(), i))
            .collect();
        for p in placed {
            let index = by_name.get(p.hostname.as_str()).copied();
            if let Some(i) = index {
                fleet.count[i] += 1;
            }
            for (c, constraint) in app.constraints.iter().enumerate() {
                // An instance on a node the fleet no longer lists still counts by hostname.
                let value = match (index, &constraint.field) {
                    (Some(i), _) => fleet.node_values[i][c].as_deref(),
                    (None, Field::Hostname) => Some(p.hostname.as_str()),
                    (None, Field::Attribute(_)) => None,
                };
                fleet.placed[c].add(value);
            }
        }
        fleet
    }

    fn has_room(&self, app: &App, i: usize) -> bool {
        app.scalars().fits_in(&self.free[i])
            && take_ports(&app.ports, &self.free[i].ports).is_some()
    }

    fn accepts(&self, constraint: usize, c: &Constraint, i: usize) -> bool {
        c.accepts(
            self.node_values[i][constraint].as_deref(),
            &self.placed[constraint],
        )
    }

    fn fits(&self, app: &App, i: usize) -> bool {
        self.has_room(app, i)
            && app
                .constraints
                .iter()
                .enumerate()
                .all(|(k, c)| self.accepts(k, c, i))
    }

    /// The default spread's order: fewest instances, most free, smallest hostname.
    fn best(&self, app: &App) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.fits(app, i))
            .min_by(|&a, &b| {
                self.count[a]
                    .cmp(&self.count[b])
                    .then(
                        free_share(&self.free[b], &self.nodes[b].total)
                            .cmp(&free_share(&self.free[a], &self.nodes[a].total)),
                    )
                    .then(self.nodes[a].hostname.cmp(&self.nodes[b].hostname))
            })
    }

    fn take(&mut self, app: &App, i: usize) {
        let mut used = app.scalars();
        used.ports = take_ports(&app.ports, &self.free[i].ports).unwrap_or_default();
        self.free[i].subtract(&used);
        self.count[i] += 1;
        for (c, counts) in self.placed.iter_mut().enumerate() {
            counts.add(self.node_values[i][c].as_deref());
        }
    }

    fn reason(&self, app: &App) -> WaitReason {
        if self.nodes.is_empty() {
            return WaitReason::NoNodes;
        }
        let with_room: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.has_room(app, i))
            .collect();
        if with_room.is_empty() {
            return WaitReason::NoResources {
                need: app.describe_need(),
            };
        }
        for (k, c) in app.constraints.iter().enumerate() {
            if !with_room.iter().any(|&i| self.accepts(k, c, i)) {
                return WaitReason::Constraint(c.clone());
            }
        }
        WaitReason::Constraints(app.constraints.clone())
    }
}

/// Places `count` new instances of `app`. `placed` are its instances already placed (on
/// nodes the caller still counts: instances of a lost node are left out and placed anew).
pub fn place(nodes: &[Node], app: &App, placed: &[Placed], count: usize) -> Placement {
    let mut fleet = Fleet::new(nodes, app, placed);
    let mut chosen = Vec::with_capacity(count);
    for done in 0..count {
        let Some(i) = fleet.best(app) else {
            return Placement {
                nodes: chosen,
                waiting: Some(Waiting {
                    count: count - done,
                    reason: fleet.reason(app),
                }),
            };
        };
        fleet.take(app, i);
        chosen.push(nodes[i].hostname.clone());
    }
    Placement {
        nodes: chosen,
        waiting: None,
    }
}

/// Takes what one instance of `app` holds out of a node's `free` resources (its scalars and
/// its host ports: the fixed ones and the lowest free for each other), as placing it would;
/// false (nothing taken) if they do not fit.
pub fn consume(free: &mut Resources, app: &App) -> bool {
    if !app.scalars().fits_in(free) {
        return false;
    }
    let Some(ports) = take_ports(&app.ports, &free.ports) else {
        return false;
    };
    let mut used = app.scalars();
    used.ports = ports;
    free.subtract(&used);
    true
}

/// What a constraint reads from a node (`attributes` unknown: an unlisted node).
fn field_value(c: &Constraint, hostname: &str, attributes: Option<&Attributes>) -> Option<String> {
    match &c.field {
        Field::Hostname => Some(hostname.to_string()),
        Field::Attribute(name) => attributes?.get(name).map(|v| v.to_constraint_text()),
    }
}

/// The ports an instance would hold on a node with `free` ports: its fixed ones and the
/// lowest free ones for each 0, or `None` if they are not all free.
fn take_ports(needs: &[PortNeed], free: &[PortRange]) -> Option<Vec<PortRange>> {
    let is_free = |p: u16| free.iter().any(|r| r.begin <= p && p <= r.end);
    let mut taken: Vec<u16> = Vec::with_capacity(needs.len());
    for need in needs.iter().filter(|n| n.host_port != 0) {
        if !is_free(need.host_port) || taken.contains(&need.host_port) {
            return None;
        }
        taken.push(need.host_port);
    }
    let mut any = needs.iter().filter(|n| n.host_port == 0).count();
    for port in free.iter().flat_map(|r| r.begin..=r.end) {
        if any == 0 {
            break;
        }
        if !taken.contains(&port) {
            taken.push(port);
            any -= 1;
        }
    }
    if any > 0 {
        return None;
    }
    let mut ranges: Vec<PortRange> = taken.iter().map(|&p| PortRange::new(p, p)).collect();
    ranges.sort();
    Some(ranges)
}

/// A node's free share in millionths: the mean over cpus, mem and disk (those it has) of
/// free / total, so nodes of different sizes compare by how loaded they are.
fn free_share(free: &Resources, total: &Resources) -> i64 {
    let pairs = [
        (free.cpus, total.cpus),
        (free.mem_mb, total.mem_mb),
        (free.disk_mb, total.disk_mb),
    ];
    let shares: Vec<f64> = pairs
        .iter()
        .filter(|(_, t)| *t > 0.0)
        .map(|(f, t)| (f / t).clamp(0.0, 1.0))
        .collect();
    if shares.is_empty() {
        return 0;
    }
    (shares.iter().sum::<f64>() / shares.len() as f64 * 1_000_000.0).round() as i64
}
