//! Placement across nodes: the default spread, resources, every operator in a fleet, the
//! waiting reasons, scaling down, and the refusals of bad constraints.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use super::*;
use crate::resources::PortRange;

fn node(hostname: &str, attributes: &str, cpus: f64, mem: f64, ports: (u16, u16)) -> Node {
    let total = Resources {
        cpus,
        mem_mb: mem,
        disk_mb: 0.0,
        ports: vec![PortRange::new(ports.0, ports.1)],
    };
    Node {
        hostname: hostname.into(),
        attributes: Attributes::parse(attributes).unwrap(),
        free: total.clone(),
        total,
    }
}

/// Three equal nodes, a, b, c, on racks r1, r1, r2.
fn three() -> Vec<Node> {
    vec![
        node("a", "rack:r1;cores:4", 4.0, 4096.0, (31000, 31099)),
        node("b", "rack:r1;cores:8", 4.0, 4096.0, (31000, 31099)),
        node("c", "rack:r2;cores:4", 4.0, 4096.0, (31000, 31099)),
    ]
}

fn app(constraints: &[&[&str]]) -> App {
    let arrays: Vec<Vec<String>> = constraints
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    App {
        id: AppId::parse("/web").unwrap(),
        cpus: 0.5,
        mem_mb: 128.0,
        disk_mb: 0.0,
        ports: vec![PortNeed { host_port: 0 }],
        constraints: parse_constraints(&arrays).unwrap(),
        kill_selection: KillSelection::YoungestFirst,
    }
}

fn placed(hosts: &[&str]) -> Vec<Placed> {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| Placed {
            task: TaskId::from_string(format!("web.{i:032x}")),
            hostname: h.to_string(),
            seq: i as u64,
        })
        .collect()
}

fn hosts(p: &Placement) -> Vec<&str> {
    p.nodes.iter().map(String::as_str).collect()
}

fn per_node(p: &Placement) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for h in &p.nodes {
        *m.entry(h.as_str()).or_insert(0) += 1;
    }
    m
}

fn reason(p: &Placement) -> String {
    p.waiting.as_ref().unwrap().reason.to_string()
}

#[test]
fn test_six_on_three_equal_nodes_is_two_each() {
    let p = place(&three(), &app(&[]), &[], 6);
    assert_eq!(hosts(&p), ["a", "b", "c", "a", "b", "c"]);
    assert_eq!(p.waiting, None);
}

#[test]
fn test_spread_counts_instances_already_placed() {
    // (The nodes' free resources here leave the placed instances out: only the new ones
    // lower them, so after c, b has more room left than c.)
    let p = place(&three(), &app(&[]), &placed(&["a", "a", "b"]), 3);
    assert_eq!(hosts(&p), ["c", "b", "c"]);
}

#[test]
fn test_spread_prefers_the_emptier_node_then_the_hostname() {
    let mut nodes = three();
    // a is loaded by another app: of the three, with no instance of this app, it comes last.
    nodes[0].free.cpus = 1.0;
    nodes[0].free.mem_mb = 1024.0;
    // c is twice b's size, all free: the same share free as b, so the hostname decides.
    nodes[2].total.cpus = 8.0;
    nodes[2].free.cpus = 8.0;
    let p = place(&nodes, &app(&[]), &[], 3);
    assert_eq!(hosts(&p), ["b", "c", "a"]);
    // Fewest instances still comes first: with one each, the emptiest share goes next.
    let p = place(&nodes, &app(&[]), &[], 4);
    assert_eq!(hosts(&p), ["b", "c", "a", "c"]);
}

#[test]
fn test_a_large_fleet_group_by_rack() {
    // 100 nodes on 4 racks, room for 10 instances each: 1000 instances fill every node and
    // every rack evenly, and the 1001st waits.
    let nodes: Vec<Node> = (0..100)
        .map(|i| {
            let rack = format!("rack:r{}", i % 4);
            node(&format!("n{i:03}"), &rack, 5.0, 4096.0, (31000, 31099))
        })
        .collect();
    let a = app(&[["rack", "GROUP_BY"].as_slice()]);
    let p = place(&nodes, &a, &[], 1001);
    assert_eq!(p.nodes.len(), 1000);
    assert!(per_node(&p).values().all(|&n| n == 10));
    assert!(reason(&p).contains("no node has free resources"));
}

#[test]
fn test_answer_does_not_depend_on_node_order() {
    let mut reversed = three();
    reversed.reverse();
    let a = app(&[["rack", "GROUP_BY"].as_slice()]);
    assert_eq!(place(&three(), &a, &[], 5), place(&reversed, &a, &[], 5));
}

#[test]
fn test_a_node_without_room_is_skipped() {
    let mut nodes = three();
    nodes[0].free.cpus = 0.4; // less than the 0.5 an instance needs
    nodes[1].free.mem_mb = 100.0; // less than 128
    let p = place(&nodes, &app(&[]), &[], 3);
    assert_eq!(hosts(&p), ["c", "c", "c"]);
    // c's 4 cpus hold 8 instances of 0.5; the ninth waits.
    let p = place(&nodes, &app(&[]), &[], 9);
    assert_eq!(p.nodes.len(), 8);
    assert_eq!(p.waiting.as_ref().unwrap().count, 1);
    assert_eq!(
        reason(&p),
        "waiting for a node: no node has free resources for cpus:0.5; mem:128; 1 port"
    );
}

#[test]
fn test_ports_are_counted() {
    let nodes = vec![
        node("a", "", 4.0, 4096.0, (31000, 31002)),
        node("b", "", 4.0, 4096.0, (31000, 31001)),
    ];
    let mut two_ports = app(&[]);
    two_ports.ports = vec![PortNeed { host_port: 0 }; 2];
    // a has 3 free ports (one instance), b has 2 (one instance).
    let p = place(&nodes, &two_ports, &[], 3);
    assert_eq!(hosts(&p), ["a", "b"]);
    assert!(reason(&p).ends_with("for cpus:0.5; mem:128; 2 ports"));
    // A fixed port: one instance per node, and only where it is free.
    let mut fixed = app(&[]);
    fixed.ports = vec![PortNeed { host_port: 31002 }];
    let p = place(&nodes, &fixed, &[], 2);
    assert_eq!(hosts(&p), ["a"]);
    // A node's free ports already exclude what other apps hold.
    let mut held = nodes.clone();
    held[0].free.ports = vec![PortRange::new(31000, 31001)];
    let p = place(&held, &fixed, &[], 1);
    assert_eq!(p.nodes.len(), 0);
}

#[test]
fn test_four_of_unique_places_three_and_one_waits() {
    let a = app(&[["hostname", "UNIQUE"].as_slice()]);
    let p = place(&three(), &a, &[], 4);
    assert_eq!(hosts(&p), ["a", "b", "c"]);
    let waiting = p.waiting.as_ref().unwrap();
    assert_eq!(waiting.count, 1);
    assert_eq!(
        waiting.reason.to_string(),
        "waiting for a node: constraint hostname:UNIQUE satisfied by no node with free resources"
    );
    // Later, with the three running, the fourth still waits.
    let p = place(&three(), &a, &placed(&["a", "b", "c"]), 1);
    assert_eq!(p.nodes.len(), 0);
}

#[test]
fn test_unique_on_an_attribute() {
    let p = place(&three(), &app(&[["rack", "UNIQUE"].as_slice()]), &[], 3);
    assert_eq!(hosts(&p), ["a", "c"]);
    assert!(reason(&p).contains("constraint rack:UNIQUE satisfied by no node"));
}

#[test]
fn test_cluster_with_a_value() {
    let p = place(
        &three(),
        &app(&[["hostname", "CLUSTER", "b"].as_slice()]),
        &[],
        3,
    );
    assert_eq!(hosts(&p), ["b", "b", "b"]);
    let p = place(
        &three(),
        &app(&[["rack", "CLUSTER", "r1"].as_slice()]),
        &[],
        4,
    );
    assert_eq!(hosts(&p), ["a", "b", "a", "b"]);
    let p = place(
        &three(),
        &app(&[["rack", "CLUSTER", "r9"].as_slice()]),
        &[],
        1,
    );
    assert!(reason(&p).contains("constraint rack:CLUSTER:r9 satisfied by no node"));
}

#[test]
fn test_cluster_without_a_value_follows_the_first() {
    let p = place(
        &three(),
        &app(&[["hostname", "CLUSTER"].as_slice()]),
        &[],
        3,
    );
    assert_eq!(hosts(&p), ["a", "a", "a"]);
    let p = place(
        &three(),
        &app(&[["hostname", "CLUSTER"].as_slice()]),
        &placed(&["c"]),
        2,
    );
    assert_eq!(hosts(&p), ["c", "c"]);
    // Rack r1, of the first placed (on b): a and b, spread.
    let p = place(
        &three(),
        &app(&[["rack", "CLUSTER"].as_slice()]),
        &placed(&["b"]),
        2,
    );
    assert_eq!(hosts(&p), ["a", "b"]);
    let p = place(
        &three(),
        &app(&[["rack", "CLUSTER", ""].as_slice()]),
        &placed(&["c"]),
        1,
    );
    assert_eq!(hosts(&p), ["c"]);
}

#[test]
fn test_group_by_spreads_evenly_over_values() {
    // Racks r1 (a, b) and r2 (c): the default spread alone would give r1 two thirds.
    let p = place(&three(), &app(&[["rack", "GROUP_BY"].as_slice()]), &[], 4);
    assert_eq!(per_node(&p), BTreeMap::from([("a", 1), ("b", 1), ("c", 2)]));
    let p = place(
        &three(),
        &app(&[["hostname", "GROUP_BY"].as_slice()]),
        &[],
        6,
    );
    assert_eq!(per_node(&p), BTreeMap::from([("a", 2), ("b", 2), ("c", 2)]));
}

#[test]
fn test_group_by_minimum_count_of_groups() {
    let nodes = vec![
        node("a", "zone:z1", 4.0, 4096.0, (31000, 31099)),
        node("b", "zone:z2", 4.0, 4096.0, (31000, 31099)),
    ];
    // Marathon: with fewer groups in use than the minimum, a used value is refused (a third
    // zone may yet appear), so with two zones and a minimum of 3 two instances place.
    let a = app(&[["zone", "GROUP_BY", "3"].as_slice()]);
    let p = place(&nodes, &a, &[], 3);
    assert_eq!(hosts(&p), ["a", "b"]);
    assert!(reason(&p).contains("constraint zone:GROUP_BY:3 satisfied by no node"));
    let p = place(
        &nodes,
        &app(&[["zone", "GROUP_BY", "2"].as_slice()]),
        &[],
        3,
    );
    assert_eq!(hosts(&p), ["a", "b", "a"]);
}

#[test]
fn test_like_and_unlike() {
    let like = |c: &[&str], n: usize| place(&three(), &app(&[c]), &[], n);
    assert_eq!(hosts(&like(&["hostname", "LIKE", "[ab]"], 2)), ["a", "b"]);
    assert_eq!(hosts(&like(&["rack", "LIKE", "r[2-9]"], 2)), ["c", "c"]);
    assert_eq!(hosts(&like(&["hostname", "UNLIKE", "a|b"], 2)), ["c", "c"]);
    assert_eq!(hosts(&like(&["rack", "UNLIKE", "r1"], 1)), ["c"]);
    // Whole value only: `r` matches no rack.
    assert!(like(&["rack", "LIKE", "r"], 1).nodes.is_empty());
    // A node without the attribute: refused by LIKE, taken by UNLIKE.
    assert!(like(&["gpu", "LIKE", ".*"], 1).nodes.is_empty());
    assert_eq!(like(&["gpu", "UNLIKE", "yes"], 3).nodes.len(), 3);
    // Scalars compare in Mesos's text form.
    assert_eq!(hosts(&like(&["cores", "LIKE", "8"], 1)), ["b"]);
}

#[test]
fn test_max_per() {
    let p = place(
        &three(),
        &app(&[["rack", "MAX_PER", "2"].as_slice()]),
        &[],
        5,
    );
    assert_eq!(per_node(&p), BTreeMap::from([("a", 1), ("b", 1), ("c", 2)]));
    assert!(reason(&p).contains("constraint rack:MAX_PER:2 satisfied by no node"));
    let p = place(
        &three(),
        &app(&[["hostname", "MAX_PER", "1"].as_slice()]),
        &[],
        4,
    );
    assert_eq!(p.nodes.len(), 3);
    // Marathon's rule: a value not yet used takes one instance even under MAX_PER 0.
    let p = place(
        &three(),
        &app(&[["rack", "MAX_PER", "0"].as_slice()]),
        &[],
        3,
    );
    assert_eq!(hosts(&p), ["a", "c"]);
}

#[test]
fn test_is() {
    let p = place(&three(), &app(&[["rack", "IS", "r2"].as_slice()]), &[], 2);
    assert_eq!(hosts(&p), ["c", "c"]);
    let p = place(&three(), &app(&[["cores", "IS", "4"].as_slice()]), &[], 2);
    assert_eq!(hosts(&p), ["a", "c"]);
    let p = place(
        &three(),
        &app(&[["hostname", "IS", "b"].as_slice()]),
        &[],
        1,
    );
    assert_eq!(hosts(&p), ["b"]);
}

#[test]
fn test_constraints_together() {
    // UNIQUE per host, and only rack r1: two places.
    let both = app(&[
        ["hostname", "UNIQUE"].as_slice(),
        ["rack", "LIKE", "r1"].as_slice(),
    ]);
    let p = place(&three(), &both, &[], 3);
    assert_eq!(hosts(&p), ["a", "b"]);
    // Each constraint alone is satisfied by some node (UNIQUE by c, LIKE by a and b).
    assert!(reason(&p)
        .contains("constraints hostname:UNIQUE, rack:LIKE:r1 satisfied together by no node"));
    let mix = app(&[
        ["hostname", "UNIQUE"].as_slice(),
        ["rack", "UNLIKE", "r2"].as_slice(),
    ]);
    let p = place(&three(), &mix, &placed(&["a", "c"]), 2);
    assert_eq!(hosts(&p), ["b"]);
    let p = place(&three(), &mix, &placed(&["a", "b"]), 1);
    assert_eq!(
        reason(&p),
        "waiting for a node: constraints hostname:UNIQUE, rack:UNLIKE:r2 satisfied together by \
         no node with free resources"
    );
}

#[test]
fn test_no_nodes_and_unlisted_nodes() {
    let p = place(&[], &app(&[]), &[], 2);
    assert_eq!(
        p.waiting,
        Some(Waiting {
            count: 2,
            reason: WaitReason::NoNodes
        })
    );
    // An instance on a node the fleet no longer lists still holds its hostname for UNIQUE,
    // and counts for no listed node's spread.
    let p = place(
        &three(),
        &app(&[["hostname", "UNIQUE"].as_slice()]),
        &placed(&["gone"]),
        3,
    );
    assert_eq!(hosts(&p), ["a", "b", "c"]);
}

#[test]
fn test_scale_down_takes_from_the_busiest_node_youngest_first() {
    let p = placed(&["a", "a", "a", "b", "b", "c"]);
    let a = app(&[]);
    let removed = choose_to_remove(&three(), &a, &p, 3);
    // a (3) loses its youngest (seq 2); then a and b tie at 2: the youngest of those (seq 4
    // on b); then a has 2, b and c 1: a's youngest left (seq 1).
    let ids: Vec<_> = [2, 4, 1].iter().map(|&i| p[i].task.clone()).collect();
    assert_eq!(removed, ids);
    let mut oldest = a.clone();
    oldest.kill_selection = KillSelection::OldestFirst;
    let removed = choose_to_remove(&three(), &oldest, &p, 2);
    assert_eq!(removed, vec![p[0].task.clone(), p[1].task.clone()]);
    assert_eq!(choose_to_remove(&three(), &a, &p, 10).len(), 6);
    assert!(choose_to_remove(&three(), &a, &p, 0).is_empty());
}

#[test]
fn test_scale_down_keeps_group_by_even() {
    // Rack r1 (a, b) holds 4, two per node; rack r2 (c) 3 on its one node. The node rule
    // alone takes from c; GROUP_BY rack takes from r1 first, its youngest.
    let p = placed(&["a", "a", "b", "b", "c", "c", "c"]);
    let a = app(&[["rack", "GROUP_BY"].as_slice()]);
    let removed = choose_to_remove(&three(), &a, &p, 1);
    assert_eq!(removed, vec![p[3].task.clone()]);
    let removed = choose_to_remove(&three(), &app(&[]), &p, 1);
    assert_eq!(removed, vec![p[6].task.clone()]);
    // Then 3 and 3: the racks stay within one of each other.
    let removed = choose_to_remove(&three(), &a, &p, 3);
    let ids: Vec<_> = [3, 6, 1].iter().map(|&i| p[i].task.clone()).collect();
    assert_eq!(removed, ids);
}

#[test]
fn test_from_definition() {
    let def: AppDefinition = serde_json::from_value(serde_json::json!({
        "id": "/web", "cmd": "sleep 100", "cpus": 0.25, "mem": 64,
        "portDefinitions": [{"port": 0}, {"port": 8080}],
        "constraints": [["hostname", "UNIQUE"], ["rack", "like", "r[12]"]],
        "killSelection": "OLDEST_FIRST"
    }))
    .unwrap();
    let app = App::from_definition(AppId::parse("/web").unwrap(), &def).unwrap();
    assert_eq!(app.cpus, 0.25);
    assert_eq!(app.ports.len(), 2);
    assert_eq!(app.ports[1].host_port, 8080);
    assert_eq!(app.constraints.len(), 2);
    assert_eq!(app.constraints[1].to_string(), "rack:like:r[12]");
    assert!(matches!(app.constraints[1].operator, Operator::Like(_)));
    assert_eq!(app.kill_selection, KillSelection::OldestFirst);
}

fn refused(array: &[&str]) -> String {
    let arrays = vec![
        vec!["hostname".to_string(), "UNIQUE".to_string()],
        array.iter().map(|s| s.to_string()).collect(),
    ];
    let errors = parse_constraints(&arrays).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path(), "/constraints(1)");
    errors[0].to_string()
}

#[test]
fn test_invalid_constraints_name_their_path() {
    assert!(refused(&["hostname", "SPREAD"]).starts_with("operator must be one of"));
    assert!(refused(&["hostname"]).contains("either 2 or 3 fields"));
    assert!(refused(&["a", "UNIQUE", "x", "y"]).contains("either 2 or 3 fields"));
    assert_eq!(refused(&["", "UNIQUE"]), "illegal constraint specification");
    assert_eq!(
        refused(&["hostname", "UNIQUE", "x"]),
        "UNIQUE does not accept a value"
    );
    for missing in [&["rack", "LIKE"][..], &["rack", "UNLIKE", ""][..]] {
        assert_eq!(
            refused(missing),
            "LIKE and UNLIKE require a non-empty, regular expression value"
        );
    }
    assert!(refused(&["rack", "LIKE", "rack-[1-"])
        .starts_with("'rack-[1-' is not a valid regular expression (unclosed character class"));
    assert!(refused(&["rack", "UNLIKE", "(?i)r1"]).contains("not a valid regular expression"));
    for bad in [&["rack", "MAX_PER"][..], &["rack", "MAX_PER", "two"][..]] {
        assert_eq!(refused(bad), "MAX_PER requires an integer value");
    }
    assert_eq!(
        refused(&["rack", "GROUP_BY", "x"]),
        "GROUP BY must define an integer value or else no value at all"
    );
    assert!(refused(&["rack", "IS", "a b"]).starts_with("IS only supports Mesos text"));
    assert_eq!(refused(&["rack", "IS"]), "IS requires a value");
}

#[test]
fn test_invalid_constraints_are_a_marathon_422_body() {
    let arrays = vec![
        vec!["hostname".to_string(), "BOGUS".to_string()],
        vec!["rack".to_string(), "UNIQUE".to_string()],
        vec!["rack".to_string(), "MAX_PER".to_string(), "x".to_string()],
    ];
    let errors = parse_constraints(&arrays).unwrap_err();
    let body = ConstraintError::to_invalid(&errors).to_json();
    assert_eq!(body["message"], "Object is not valid");
    assert_eq!(body["details"][0]["path"], "/constraints(0)");
    assert_eq!(body["details"][1]["path"], "/constraints(2)");
    assert_eq!(
        body["details"][1]["errors"][0],
        "MAX_PER requires an integer value"
    );
}
