//! The scheduler's pass on small fleets: spreading, constraints and waiting, a lost node's
//! instances placed anew, a node within its grace left alone, scaling down, a changed
//! definition, a deleted app.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use super::*;
use crate::apps::AppId;
use crate::fleet::attributes::Attributes;

fn node(host: &str) -> NodeView {
    NodeView {
        hostname: host.into(),
        attributes: Attributes::default(),
        total: Resources::parse_text("cpus:2;mem:1024;ports:[31000-31009]").unwrap(),
        reserved: Resources::default(),
    }
}

fn app(stem: &str, instances: i64, constraints: serde_json::Value) -> AppView {
    let def: AppDefinition = serde_json::from_value(serde_json::json!({
        "id": format!("/{stem}"), "cmd": "sleep 100", "cpus": 0.1, "mem": 16,
        "instances": instances, "constraints": constraints, "version": "v1",
    }))
    .unwrap();
    let need = placement::App::from_definition(AppId::parse(&def.id).unwrap(), &def).unwrap();
    AppView {
        stem: stem.into(),
        def,
        need,
    }
}

fn current(host: &str, a: &AppView, n: u32) -> Current {
    let mut def = a.def.clone();
    def.instances = i64::from(n);
    Current {
        host: host.into(),
        stem: a.stem.clone(),
        assignment: Assignment {
            app: def,
            instances: n,
        },
    }
}

fn run(nodes: &[NodeView], apps: &[AppView], assigned: &[Current], keep: &[&str]) -> Vec<Change> {
    let keep: BTreeSet<String> = keep.iter().map(|s| s.to_string()).collect();
    let waiting = BTreeMap::new();
    schedule(&Input {
        nodes,
        apps,
        assigned,
        keep: &keep,
        waiting: &waiting,
        now: "now",
    })
}

/// The count each Put writes, by host.
fn puts(changes: &[Change]) -> BTreeMap<String, u32> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Put {
                host, assignment, ..
            } => Some((host.clone(), assignment.instances)),
            _ => None,
        })
        .collect()
}

fn deletes(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Delete { host, .. } => Some(host.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn six_instances_spread_two_per_node() {
    let nodes = [node("a"), node("b"), node("c")];
    let changes = run(&nodes, &[app("web", 6, serde_json::json!([]))], &[], &[]);
    let want: BTreeMap<String, u32> = [("a", 2), ("b", 2), ("c", 2)]
        .iter()
        .map(|(h, n)| (h.to_string(), *n))
        .collect();
    assert_eq!(puts(&changes), want);
    assert!(!changes.iter().any(|c| matches!(c, Change::Waiting { .. })));
}

#[test]
fn unique_hostnames_place_three_and_one_waits() {
    let nodes = [node("a"), node("b"), node("c")];
    let web = app("web", 4, serde_json::json!([["hostname", "UNIQUE"]]));
    let changes = run(&nodes, &[web], &[], &[]);
    assert_eq!(puts(&changes).values().sum::<u32>(), 3);
    let waiting = changes.iter().find_map(|c| match c {
        Change::Waiting { record, .. } => record.clone(),
        _ => None,
    });
    let w = waiting.unwrap();
    assert_eq!(w.count, 1);
    assert!(w.reason.contains("hostname:UNIQUE"), "{}", w.reason);
}

#[test]
fn a_lost_nodes_instances_go_to_the_others_and_a_node_in_grace_keeps_its_own() {
    let web = app("web", 6, serde_json::json!([]));
    let assigned = [
        current("a", &web, 2),
        current("b", &web, 2),
        current("c", &web, 2),
    ];
    let nodes = [node("a"), node("c")];
    let changes = run(&nodes, std::slice::from_ref(&web), &assigned, &[]);
    assert_eq!(deletes(&changes), vec!["b".to_string()]);
    let want: BTreeMap<String, u32> = [("a", 3), ("c", 3)]
        .iter()
        .map(|(h, n)| (h.to_string(), *n))
        .collect();
    assert_eq!(puts(&changes), want);
    // Within its grace, b's instances stay where they are: nothing changes.
    let changes = run(&nodes, std::slice::from_ref(&web), &assigned, &["b"]);
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn scaling_down_takes_from_the_fullest_node_and_a_new_version_is_written_everywhere() {
    let nodes = [node("a"), node("b")];
    let web = app("web", 3, serde_json::json!([]));
    let assigned = [current("a", &web, 3), current("b", &web, 1)];
    let changes = run(&nodes, std::slice::from_ref(&web), &assigned, &[]);
    assert_eq!(puts(&changes).get("a"), Some(&2));
    assert!(!puts(&changes).contains_key("b"));
    let mut v2 = web.clone();
    v2.def.version = Some("v2".into());
    v2.def.instances = 4;
    let changes = run(&nodes, &[v2], &assigned, &[]);
    assert_eq!(puts(&changes).len(), 2, "{changes:?}");
}

#[test]
fn a_deleted_apps_assignments_and_waiting_record_go() {
    let nodes = [node("a")];
    let web = app("web", 1, serde_json::json!([]));
    let assigned = [current("a", &web, 1)];
    let keep = BTreeSet::new();
    let mut waiting = BTreeMap::new();
    waiting.insert(
        "web".to_string(),
        WaitingRecord {
            count: 1,
            reason: "x".into(),
            since: "t".into(),
        },
    );
    let changes = schedule(&Input {
        nodes: &nodes,
        apps: &[],
        assigned: &assigned,
        keep: &keep,
        waiting: &waiting,
        now: "now",
    });
    assert_eq!(deletes(&changes), vec!["a".to_string()]);
    assert!(changes.contains(&Change::Waiting {
        stem: "web".into(),
        record: None
    }));
}

#[test]
fn resources_held_by_other_apps_and_containers_are_respected() {
    let mut small = node("a");
    small.reserved = Resources::parse_text("cpus:1.85").unwrap();
    let nodes = [small];
    let big = app("big", 1, serde_json::json!([]));
    let web = app("web", 2, serde_json::json!([]));
    let assigned = [current("a", &big, 1)];
    let changes = run(&nodes, &[big, web], &assigned, &[]);
    // 2 - 1.85 - 0.1 leaves 0.05 cpus: no room for web.
    assert!(puts(&changes).is_empty(), "{changes:?}");
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::Waiting { record: Some(w), .. } if w.count == 2)));
}
