//! Which instances go when an app scales down. Marathon first keeps its `GROUP_BY`
//! distributions even (`Constraints.selectInstancesToKill`: an instance of the largest group
//! goes), then orders the rest by `killSelection`; the fleet also keeps its default spread,
//! so between those two an instance on the node with the most instances of the app goes
//! first. Removal is one at a time, each choice made on what remains.

use std::cmp::Ordering;

use super::{field_value, App, FieldCounts, Node, Placed};
use crate::apps::definition::KillSelection;
use crate::apps::TaskId;

/// The `count` instances (at most all of `placed`) to remove, in the order to remove them.
pub fn choose_to_remove(nodes: &[Node], app: &App, placed: &[Placed], count: usize) -> Vec<TaskId> {
    let group_by: Vec<_> = app.constraints.iter().filter(|c| c.is_group_by()).collect();
    // Per instance, its value of each GROUP_BY field.
    let values: Vec<Vec<Option<String>>> = placed
        .iter()
        .map(|p| {
            let node = nodes.iter().find(|n| n.hostname == p.hostname);
            let attributes = node.map(|n| &n.attributes);
            group_by
                .iter()
                .map(|c| field_value(c, &p.hostname, attributes))
                .collect()
        })
        .collect();
    let mut groups = vec![FieldCounts::default(); group_by.len()];
    let mut per_node = FieldCounts::default();
    for (i, p) in placed.iter().enumerate() {
        for (k, counts) in groups.iter_mut().enumerate() {
            counts.add(values[i][k].as_deref());
        }
        per_node.add(Some(&p.hostname));
    }
    // Larger first: each GROUP_BY group in order, then the node.
    let weight = |groups: &[FieldCounts], per_node: &FieldCounts, i: usize| {
        let sizes: Vec<usize> = (0..groups.len())
            .map(|k| groups[k].count(values[i][k].as_deref()))
            .collect();
        (sizes, per_node.count(Some(&placed[i].hostname)))
    };
    let age = |a: &Placed, b: &Placed| match app.kill_selection {
        KillSelection::YoungestFirst => b.seq.cmp(&a.seq),
        KillSelection::OldestFirst => a.seq.cmp(&b.seq),
    };
    let mut remaining: Vec<usize> = (0..placed.len()).collect();
    let mut out = Vec::with_capacity(count.min(placed.len()));
    while out.len() < count && !remaining.is_empty() {
        // `Less`: `a` goes before `b`.
        let first = |&a: &usize, &b: &usize| -> Ordering {
            weight(&groups, &per_node, b)
                .cmp(&weight(&groups, &per_node, a))
                .then_with(|| age(&placed[a], &placed[b]))
                .then_with(|| placed[a].task.cmp(&placed[b].task))
        };
        let Some(position) =
            (0..remaining.len()).min_by(|&x, &y| first(&remaining[x], &remaining[y]))
        else {
            break;
        };
        let chosen = remaining.remove(position);
        for (k, counts) in groups.iter_mut().enumerate() {
            counts.remove(values[chosen][k].as_deref());
        }
        per_node.remove(Some(&placed[chosen].hostname));
        out.push(placed[chosen].task.clone());
    }
    out
}
