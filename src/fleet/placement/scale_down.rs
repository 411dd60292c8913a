//! Which instances go when an app scales down. Marathon first keeps its `GROUP_BY`
//! distributions even (`Constraints.selectInstancesToKill`: an instance of the largest group
//! goes), then orders the rest by `killSelection`; the fleet also keeps its default spread,
//! so between those two an instance on the node with the most instances of the app goes
//! first. Removal is one at a time, each choice made on what remains.

use std::cmp::Ordering;

use super::constraint::group_sizes;
use super::{field_value, App, Node, Placed};
use crate::apps::definition::KillSelection;
use crate::apps::TaskId;

/// The `count` instances (at most all of `placed`) to remove, in the order to remove them.
pub fn choose_to_remove(nodes: &[Node], app: &App, placed: &[Placed], count: usize) -> Vec<TaskId> {
    let group_by: Vec<_> = app.constraints.iter().filter(|c| c.is_group_by()).collect();
    // Per instance, its value of each GROUP_BY field.
    let values: Vec<Vec<Option<String>>> = placed
        .iter()
        .map(|p| {
            let attributes = nodes
                .iter()
                .find(|n| n.hostname == p.hostname)
                .map(|n| &n.attributes);
            group_by
                .iter()
                .map(|c| field_value(c, &p.hostname, attributes))
                .collect()
        })
        .collect();
    let mut remaining: Vec<usize> = (0..placed.len()).collect();
    let mut out = Vec::with_capacity(count.min(placed.len()));
    while out.len() < count && !remaining.is_empty() {
        // Group sizes per GROUP_BY constraint, and instances per node, among what remains.
        let columns: Vec<Vec<Option<String>>> = (0..group_by.len())
            .map(|k| remaining.iter().map(|&i| values[i][k].clone()).collect())
            .collect();
        let groups: Vec<_> = columns.iter().map(|col| group_sizes(col)).collect();
        let hosts: Vec<Option<String>> = remaining
            .iter()
            .map(|&i| Some(placed[i].hostname.clone()))
            .collect();
        let per_node = group_sizes(&hosts);
        let weight = |i: usize| -> (Vec<usize>, usize) {
            let sizes = groups
                .iter()
                .enumerate()
                .map(|(k, g)| g.get(&values[i][k].as_deref()).copied().unwrap_or(0))
                .collect();
            let node = per_node
                .get(&Some(placed[i].hostname.as_str()))
                .copied()
                .unwrap_or(0);
            (sizes, node)
        };
        let first = |a: usize, b: usize| -> Ordering {
            // `Less` means `a` goes before `b`.
            weight(b)
                .cmp(&weight(a))
                .then_with(|| match app.kill_selection {
                    KillSelection::YoungestFirst => placed[b].seq.cmp(&placed[a].seq),
                    KillSelection::OldestFirst => placed[a].seq.cmp(&placed[b].seq),
                })
                .then_with(|| placed[a].task.cmp(&placed[b].task))
        };
        let Some(position) =
            (0..remaining.len()).min_by(|&x, &y| first(remaining[x], remaining[y]))
        else {
            break;
        };
        let chosen = remaining.remove(position);
        out.push(placed[chosen].task.clone());
    }
    out
}
