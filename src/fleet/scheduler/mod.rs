//! The scheduler's pass: from the fleet as the mirror shows it (nodes, apps, assignments),
//! the assignments to write so that each app has its `instances` placed. Pure: the
//! coordinator reads the mirror into an [`Input`] and writes the [`Change`]s in one fenced
//! transaction.
//!
//! An assignment is a count per node and app. Instances of a lost node are placed anew (its
//! assignment deleted, so a node coming back finds it gone); those of a node that is absent
//! but within its grace (`keep`: a scheduler that just took over has not seen it go) still
//! count, where they are. Placement and scaling down are `placement`'s.

use std::collections::{BTreeMap, BTreeSet};

use super::placement::{self, choose_to_remove, place, Node, Placed};
use super::records::{Assignment, WaitingRecord};
use crate::apps::{AppDefinition, TaskId};
use crate::resources::Resources;

/// A live node: registered under a lease now.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub hostname: String,
    pub attributes: super::attributes::Attributes,
    pub total: Resources,
    /// Held by its containers outside the fleet's apps.
    pub reserved: Resources,
}

#[derive(Debug, Clone)]
pub struct AppView {
    pub stem: String,
    pub def: AppDefinition,
    pub need: placement::App,
}

/// An assignment as etcd holds it.
#[derive(Debug, Clone)]
pub struct Current {
    pub host: String,
    pub stem: String,
    pub assignment: Assignment,
}

#[derive(Debug)]
pub struct Input<'a> {
    pub nodes: &'a [NodeView],
    pub apps: &'a [AppView],
    pub assigned: &'a [Current],
    /// Absent nodes whose assignments stay for now.
    pub keep: &'a BTreeSet<String>,
    pub waiting: &'a BTreeMap<String, WaitingRecord>,
    /// For a new waiting record.
    pub now: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put {
        host: String,
        stem: String,
        assignment: Box<Assignment>,
    },
    Delete {
        host: String,
        stem: String,
    },
    Waiting {
        stem: String,
        record: Option<WaitingRecord>,
    },
}

pub fn schedule(input: &Input<'_>) -> Vec<Change> {
    let live: BTreeSet<&str> = input.nodes.iter().map(|n| n.hostname.as_str()).collect();
    let apps: BTreeMap<&str, &AppView> = input.apps.iter().map(|a| (a.stem.as_str(), a)).collect();
    let mut changes = Vec::new();
    // What every node has free once every kept assignment is taken out.
    let mut free: BTreeMap<&str, Resources> = input
        .nodes
        .iter()
        .map(|n| {
            let mut f = n.total.clone();
            f.subtract(&n.reserved);
            (n.hostname.as_str(), f)
        })
        .collect();
    let mut counts: BTreeMap<&str, BTreeMap<&str, u32>> = BTreeMap::new();
    for c in input.assigned {
        let kept = live.contains(c.host.as_str()) || input.keep.contains(&c.host);
        let Some(app) = apps.get(c.stem.as_str()).filter(|_| kept) else {
            changes.push(Change::Delete {
                host: c.host.clone(),
                stem: c.stem.clone(),
            });
            continue;
        };
        if let Some(f) = free.get_mut(c.host.as_str()) {
            for _ in 0..c.assignment.instances {
                placement::consume(f, &app.need);
            }
        }
        *counts
            .entry(c.stem.as_str())
            .or_default()
            .entry(c.host.as_str())
            .or_default() += c.assignment.instances;
    }
    for app in input.apps {
        let before = counts.remove(app.stem.as_str()).unwrap_or_default();
        let (after, waiting) = place_app(input, app, &before, &mut free);
        for (host, n) in &after {
            let old = input
                .assigned
                .iter()
                .find(|c| c.host == *host && c.stem == app.stem);
            let mut def = app.def.clone();
            def.instances = i64::from(*n);
            let assignment = Assignment {
                app: def,
                instances: *n,
            };
            if *n == 0 {
                if old.is_some() {
                    changes.push(Change::Delete {
                        host: host.clone(),
                        stem: app.stem.clone(),
                    });
                }
            } else if old.map(|c| &c.assignment) != Some(&assignment) {
                changes.push(Change::Put {
                    host: host.clone(),
                    stem: app.stem.clone(),
                    assignment: Box::new(assignment),
                });
            }
        }
        let had = input.waiting.get(&app.stem);
        let wanted = waiting.map(|(count, reason)| WaitingRecord {
            count,
            since: had
                .filter(|h| h.reason == reason)
                .map_or_else(|| input.now.to_string(), |h| h.since.clone()),
            reason,
        });
        if had != wanted.as_ref() {
            changes.push(Change::Waiting {
                stem: app.stem.clone(),
                record: wanted,
            });
        }
    }
    for stem in input.waiting.keys() {
        if !apps.contains_key(stem.as_str()) {
            changes.push(Change::Waiting {
                stem: stem.clone(),
                record: None,
            });
        }
    }
    changes
}

/// The app's count per node after placing or removing what its `instances` ask, and the
/// instances left waiting with the reason.
fn place_app(
    input: &Input<'_>,
    app: &AppView,
    before: &BTreeMap<&str, u32>,
    free: &mut BTreeMap<&str, Resources>,
) -> (BTreeMap<String, u32>, Option<(usize, String)>) {
    let mut after: BTreeMap<String, u32> =
        before.iter().map(|(h, n)| (h.to_string(), *n)).collect();
    let placed: Vec<Placed> = before
        .iter()
        .flat_map(|(host, n)| {
            (0..*n).map(move |k| Placed {
                task: TaskId::from_string(format!("{host}#{k}")),
                hostname: host.to_string(),
                seq: u64::from(k),
            })
        })
        .collect();
    let target = usize::try_from(app.def.instances).unwrap_or(0);
    let nodes: Vec<Node> = input
        .nodes
        .iter()
        .map(|n| Node {
            hostname: n.hostname.clone(),
            attributes: n.attributes.clone(),
            total: n.total.clone(),
            free: free.get(n.hostname.as_str()).cloned().unwrap_or_default(),
        })
        .collect();
    let mut waiting = None;
    if placed.len() < target {
        let p = place(&nodes, &app.need, &placed, target - placed.len());
        for host in p.nodes {
            if let Some(f) = free.get_mut(host.as_str()) {
                placement::consume(f, &app.need);
            }
            *after.entry(host).or_default() += 1;
        }
        waiting = p.waiting.map(|w| (w.count, w.reason.to_string()));
    } else if placed.len() > target {
        for task in choose_to_remove(&nodes, &app.need, &placed, placed.len() - target) {
            let host = task.as_str().split('#').next().unwrap_or_default();
            if let Some(n) = after.get_mut(host) {
                *n = n.saturating_sub(1);
            }
        }
    }
    (after, waiting)
}

#[cfg(test)]
mod tests;
