//! A fleet (issue 17) on one machine: a real 3-member etcd cluster on loopback and three real
//! agents (node-a, node-b, node-c) with their own directories, cgroup roots, TCP ports and port
//! ranges, coordinating through it (tests/fleet_support). The acceptance: an app spread
//! over the nodes and a UNIQUE constraint leaving one instance waiting; a killed node's
//! instances placed elsewhere and nothing stale when it returns (also with its containers left
//! running); a node stopped past its lease killing its stale copies on return; etcd losing a
//! member (refusing, or hanging), then its quorum; the scheduler's agent killed. Plus the fleet
//! as `/v2/leader`, `/v2/info`, `/master/slaves` and `mesolite nodes` show it, constraints on
//! the nodes' `--attributes`, and the harness itself (it starts, kills, stops and cleans up).
//!
//! Instances are counted both through the API (`GET /v2/tasks`, by task "host") and on the host
//! (the containers' cgroups with live processes). Bounds on waits are hang catchers; the times
//! measured are printed (`--nocapture`). The tests take the etcd cluster's lock, so they run one
//! at a time (about 110 s in all). FLEET_KEEP_LOGS=<dir> keeps a failed test's agent logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fleet_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::root_or_skip;
use fleet_support::{sleeper, tcp, Fleet, A, B, C, NAMES, TTL};
use serde_json::{json, Value};

/// Hang catcher for anything the fleet should do in seconds.
const LONG: Duration = Duration::from_secs(90);
/// What a bound of "one TTL" is given on top, on a loaded 2-core machine: a launch or a kill,
/// the loop's next turn, etcd's answer.
const SLACK: Duration = Duration::from_secs(5);

fn fleet(tag: &str) -> Option<Fleet> {
    if !root_or_skip(tag) {
        return None;
    }
    Fleet::start(tag)
}

/// Checks `f` every 200 ms for `d` (it must hold each time); `what` names it in the failure.
fn holds_for(fleet: &Fleet, what: &str, d: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let t = Instant::now();
    let mut samples = 0;
    while t.elapsed() < d {
        if let Err(e) = f() {
            panic!(
                "{what}: broken after {:?} ({samples} samples held): {e}\n{}",
                t.elapsed(),
                fleet.state()
            );
        }
        samples += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("{what}: held for {d:?} ({samples} samples)");
}

fn sum(c: [usize; 3]) -> usize {
    c.iter().sum()
}

/// The running task ids of app `id` as node `i` sees them.
fn task_ids(f: &Fleet, i: usize, id: &str) -> Option<BTreeSet<String>> {
    Some(
        f.running_tasks(i, Some(id))?
            .iter()
            .map(|t| t["id"].as_str().unwrap_or_default().to_string())
            .collect(),
    )
}

/// Every live container of app `stem` on the hosts, with its pids, per node.
fn live_all(f: &Fleet, stem: &str) -> [BTreeMap<String, BTreeSet<i32>>; 3] {
    [
        f.live_instances(A, stem),
        f.live_instances(B, stem),
        f.live_instances(C, stem),
    ]
}

/// Deploys `sleeper(id, 6)` on node A and waits for two instances on each node, by every
/// node's API and on the hosts.
fn six_spread(f: &Fleet, id: &str) {
    f.deploy(A, &sleeper(id, 6));
    f.wait_counts(id, [2, 2, 2], LONG);
    f.wait_until(
        &format!("2 live containers of {id} on each host"),
        LONG,
        || f.live_counts(id) == [2, 2, 2],
    );
}

#[test]
fn the_harness_starts_three_agents_and_leaves_nothing_behind() {
    let Some(mut f) = fleet("harness") else {
        return;
    };
    for n in &f.nodes {
        // Its TCP listener is on 127.0.0.1:<its port>.
        let ping = tcp::get(n.port, "/ping", None);
        assert_eq!(ping.status, 200, "{}: {}", n.name, ping.text());
        assert!(n
            .args
            .iter()
            .any(|a| a == &format!("--hostname={}", n.name)));
    }
    // A standalone container on each node runs in that node's cgroup root.
    for i in 0..3 {
        let r = f.nodes[i]
            .client()
            .post_json(
                "/api/v1",
                &json!({"type": "LAUNCH_CONTAINER", "launch_container": {
                    "container_id": {"value": format!("harness{i}")},
                    "command": {"value": "exec sleep 1000", "shell": true},
                    "resources": common::resources(0.1, 16.0)}}),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    f.wait_until("each node's container runs in its cgroups", LONG, || {
        (0..3).all(|i| {
            let live = f.nodes[i].live_containers();
            live.len() == 1 && live.contains_key(&format!("harness{i}"))
        })
    });
    // Kill B and its container: nothing of it is left running; it starts again.
    f.sigkill(B);
    assert!(f.kill_containers(B) >= 1);
    assert!(f.nodes[B].live_containers().is_empty());
    assert_eq!(f.nodes[A].live_containers().len(), 1, "A's is untouched");
    f.restart(B);
    // Stop and continue C: it answers again.
    f.sigstop(C);
    let asked = f.nodes[C]
        .client()
        .with_timeout(Some(Duration::from_millis(500)))
        .get("/health");
    assert!(asked.is_err(), "a stopped agent answered: {asked:?}");
    std::thread::sleep(Duration::from_millis(500));
    f.sigcont(C);
    f.wait_until("C answers after SIGCONT", LONG, || {
        f.try_get(C, "/health").is_some_and(|(s, _)| s == 200)
    });
    // Dropped with a container running on A and C and C once stopped: nothing is left.
    let dir = f.dir.clone();
    let roots: Vec<String> = f.nodes.iter().map(|n| n.cgroups_root.clone()).collect();
    let etcd_dir = format!("/var/tmp/mesolite-etcd-flharness-{}", std::process::id());
    drop(f);
    let left = Fleet::leftovers(&dir, &roots);
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        !std::path::Path::new(&etcd_dir).exists(),
        "{etcd_dir} is left"
    );
}

/// Acceptance 1.
#[test]
fn an_app_is_spread_over_the_nodes_and_a_unique_hostname_leaves_one_waiting() {
    let Some(f) = fleet("spread") else {
        return;
    };
    six_spread(&f, "six");
    // Node C shows all six, each on its host with a port of its host's range.
    let on_c = f.running_tasks(C, Some("six")).unwrap();
    assert_eq!(on_c.len(), 6, "{on_c:?}");
    for t in &on_c {
        let host = t["host"].as_str().unwrap();
        let n = &f.nodes[f.index_of(host).unwrap_or_else(|| panic!("host {host}"))];
        if let Some(port) = t["ports"][0].as_u64() {
            assert!(
                (u64::from(n.port_range.0)..=u64::from(n.port_range.1)).contains(&port),
                "task {} on {host} has port {port}, outside {:?}",
                t["id"],
                n.port_range
            );
        }
    }
    // The app as any node shows it.
    let app = f.get_json(B, "/v2/apps/six")["app"].clone();
    assert_eq!(app["instances"], 6, "{app}");
    assert_eq!(app["tasksRunning"], 6, "{app}");

    // hostname UNIQUE with 4 instances on 3 nodes: 3 placed, the fourth waits for a node.
    let mut uniq = sleeper("uniq", 4);
    uniq["constraints"] = json!([["hostname", "UNIQUE"]]);
    f.deploy(B, &uniq);
    f.wait_counts("uniq", [1, 1, 1], LONG);
    let mut entry = Value::Null;
    f.wait_until(
        "/v2/queue on every node: uniq waits with count 1",
        LONG,
        || {
            (0..3).all(|i| {
                f.queued(i, "uniq").is_some_and(|e| {
                    let ok = e["count"] == 1;
                    entry = e;
                    ok
                })
            })
        },
    );
    println!("queue entry: {entry}");
    let reason = entry["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("waiting for a node"),
        "the reason: {entry}"
    );
    // And it stays at 3: nothing places the fourth, on the hosts either.
    holds_for(&f, "uniq stays [1, 1, 1]", 2 * TTL, || {
        let api = f.running_counts(A, "uniq");
        let live = f.live_counts("uniq");
        if api == Some([1, 1, 1]) && live == [1, 1, 1] {
            Ok(())
        } else {
            Err(format!("API {api:?}, live {live:?}"))
        }
    });
    assert_eq!(f.live_counts("six"), [2, 2, 2]);
}

/// Acceptance 2.
#[test]
fn a_killed_node_s_instances_run_elsewhere_and_on_its_return_it_runs_nothing_stale() {
    let Some(mut f) = fleet("nodeloss") else {
        return;
    };
    six_spread(&f, "bee");
    let old_b: BTreeSet<String> = f.live_instances(B, "bee").into_keys().collect();
    let old_tasks = task_ids(&f, A, "bee").unwrap();
    f.sigkill(B);
    let killed = Instant::now();
    assert!(f.kill_containers(B) >= 2);
    let took = f.wait_until(
        "bee's 6 instances run on a and c (API of a and c, and on the hosts)",
        LONG,
        || {
            [A, C].iter().all(|&i| {
                f.running_counts(i, "bee")
                    .is_some_and(|c| c[B] == 0 && sum(c) == 6)
            }) && {
                let live = f.live_counts("bee");
                live[B] == 0 && sum(live) == 6
            }
        },
    );
    println!("node B's instances ran elsewhere {took:?} after its death (lease TTL {TTL:?})");
    assert!(
        killed.elapsed() <= TTL + SLACK + Duration::from_secs(5),
        "{:?} from B's death to its instances running elsewhere: more than the TTL {TTL:?} + a launch",
        killed.elapsed()
    );

    // B comes back on its directories: its old instances stay dead and their cgroups go.
    f.restart(B);
    f.wait_until("B's API sees the 6 instances on a and c", LONG, || {
        f.running_counts(B, "bee")
            .is_some_and(|c| sum(c) == 6 && c[B] == 0)
    });
    f.wait_until("B registered again (/master/slaves on A)", LONG, || {
        f.try_get(A, "/master/slaves").is_some_and(|(s, v)| {
            s == 200
                && v["slaves"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|n| n["hostname"] == "node-b"))
        })
    });
    f.wait_until("the cgroups of B's old instances are removed", LONG, || {
        f.nodes[B].container_cgroups().is_disjoint(&old_b)
    });
    holds_for(&f, "6 instances of bee, none stale", 2 * TTL, || {
        let live = f.live_counts("bee");
        if sum(live) != 6 {
            return Err(format!("live {live:?}"));
        }
        let b_live: BTreeSet<String> = f.live_instances(B, "bee").into_keys().collect();
        if !b_live.is_disjoint(&old_b) {
            return Err(format!("old instances of B run again: {b_live:?}"));
        }
        for (i, name) in NAMES.iter().enumerate() {
            let Some(c) = f.running_counts(i, "bee") else {
                return Err(format!("{} does not answer", name));
            };
            if sum(c) != 6 {
                return Err(format!("{} says {c:?}", name));
            }
            let ids = task_ids(&f, i, "bee").unwrap_or_default();
            let stale: Vec<&String> = ids
                .iter()
                .filter(|t| old_b.contains(&t.replace('.', "_")))
                .collect();
            if !stale.is_empty() {
                return Err(format!("{} lists B's old tasks {stale:?}", name));
            }
        }
        Ok(())
    });
    let now = task_ids(&f, A, "bee").unwrap();
    println!(
        "bee's tasks kept from before B's death: {} of 6",
        now.intersection(&old_tasks).count()
    );
}

/// Acceptance 2, the agent alone: its containers outlive it (a crash of the agent, not of the
/// machine), its instances are placed elsewhere meanwhile, and on its return it kills its
/// stale copies (fenced by the assignment's revision) within a TTL.
#[test]
fn an_agent_killed_with_its_containers_running_kills_its_stale_copies_on_its_return() {
    let Some(mut f) = fleet("crash") else {
        return;
    };
    six_spread(&f, "kay");
    let old_b = f.live_instances(B, "kay");
    f.sigkill(B);
    f.wait_until(
        "kay's 6 run on a and c (API of a and c, and on their hosts)",
        LONG,
        || {
            [A, C].iter().all(|&i| {
                f.running_counts(i, "kay")
                    .is_some_and(|c| c[B] == 0 && sum(c) == 6)
            }) && {
                let live = f.live_counts("kay");
                live[A] + live[C] == 6
            }
        },
    );
    assert_eq!(
        f.live_instances(B, "kay"),
        old_b,
        "B's containers outlive its agent"
    );
    f.restart(B);
    let back = Instant::now();
    let took = f.wait_until(
        "B killed its stale copies: 6 live containers of kay in all",
        LONG,
        || {
            let b_now = f.live_instances(B, "kay");
            sum(f.live_counts("kay")) == 6 && b_now.keys().all(|k| !old_b.contains_key(k))
        },
    );
    println!("B killed its stale copies {took:?} after its restart (TTL {TTL:?})");
    assert!(
        back.elapsed() <= TTL + SLACK,
        "{:?} from B's return to its stale copies gone",
        back.elapsed()
    );
    holds_for(&f, "6 instances of kay, none stale", 2 * TTL, || {
        let live = f.live_counts("kay");
        if sum(live) != 6 {
            return Err(format!("live {live:?}"));
        }
        for (i, name) in NAMES.iter().enumerate() {
            let c = f.running_counts(i, "kay");
            if c.map(sum) != Some(6) {
                return Err(format!("{name} says {c:?}"));
            }
        }
        Ok(())
    });
}

/// Acceptance 3.
#[test]
fn a_node_stopped_past_its_lease_kills_its_stale_copies_within_a_ttl_of_its_return() {
    let Some(mut f) = fleet("stopped") else {
        return;
    };
    six_spread(&f, "cee");
    let on_c = f.live_instances(C, "cee");
    f.sigstop(C);
    let stopped = Instant::now();
    let took = f.wait_until("a and b run cee's 6 (API of a and b)", LONG, || {
        [A, B].iter().all(|&i| {
            f.running_counts(i, "cee")
                .is_some_and(|c| c[C] == 0 && sum(c) == 6)
        }) && f.live_counts("cee")[A] + f.live_counts("cee")[B] == 6
    });
    println!("C's instances replaced on a and b {took:?} after SIGSTOP (TTL {TTL:?})");
    // C's containers kept running while its agent was stopped.
    assert_eq!(
        f.live_instances(C, "cee"),
        on_c,
        "C's containers run on, unchanged"
    );
    // Stopped for longer than the TTL, whatever the replacement took.
    if let Some(rest) = (TTL + Duration::from_secs(1)).checked_sub(stopped.elapsed()) {
        std::thread::sleep(rest);
    }
    f.sigcont(C);
    let back = Instant::now();
    // From now on, sample: how long any app runs more than asked, on the hosts and per the API.
    let mut above_until = Duration::ZERO;
    let mut highest = 0;
    let mut api_above_until = Duration::ZERO;
    let until = TTL + SLACK + 2 * TTL;
    while back.elapsed() < until {
        let live = sum(f.live_counts("cee"));
        highest = highest.max(live);
        if live > 6 {
            above_until = back.elapsed();
        }
        for i in 0..3 {
            if let Some(c) = f.running_counts(i, "cee") {
                if sum(c) > 6 {
                    api_above_until = api_above_until.max(back.elapsed());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "after SIGCONT: at most {highest} live containers of cee; above 6 until {above_until:?} \
         on the hosts, until {api_above_until:?} per some node's API (TTL {TTL:?})"
    );
    assert!(
        above_until <= TTL + SLACK,
        "more than 6 cee containers ran {above_until:?} after C's return\n{}",
        f.state()
    );
    assert!(
        api_above_until <= TTL + SLACK,
        "some node's API listed more than 6 running cee until {api_above_until:?}\n{}",
        f.state()
    );
    // After a TTL: exactly 6 everywhere, and C runs none of its old copies.
    let live = f.live_counts("cee");
    assert_eq!(sum(live), 6, "live {live:?}\n{}", f.state());
    for (i, name) in NAMES.iter().enumerate() {
        let c = f.running_counts(i, "cee");
        assert_eq!(c.map(sum), Some(6), "{}: {c:?}\n{}", name, f.state());
    }
    let c_now = f.live_instances(C, "cee");
    assert!(
        c_now.keys().all(|k| !on_c.contains_key(k)),
        "C still runs stale copies: {c_now:?}"
    );
}

/// Acceptance 4.
#[test]
fn etcd_losing_a_member_changes_nothing_and_without_quorum_instances_run_and_a_new_app_waits() {
    let Some(mut f) = fleet("quorum") else {
        return;
    };
    six_spread(&f, "dee");
    let ids = task_ids(&f, A, "dee").unwrap();
    let live = live_all(&f, "dee");
    let unchanged = |f: &Fleet, api: bool| -> Result<(), String> {
        let now = live_all(f, "dee");
        if now != live {
            return Err(format!("live containers changed: {now:?}, were {live:?}"));
        }
        if api {
            for (i, name) in NAMES.iter().enumerate() {
                let got = task_ids(f, i, "dee");
                if got.as_ref() != Some(&ids) {
                    return Err(format!("{} lists {got:?}, was {ids:?}", name));
                }
            }
        }
        Ok(())
    };

    // A minority down: nothing lost, nothing relaunched.
    f.cluster.kill(0);
    println!("[{:?}] etcd member 0 killed", f.started.elapsed());
    holds_for(
        &f,
        "one etcd member down: same tasks, same containers",
        3 * TTL,
        || unchanged(&f, true),
    );

    // No quorum: instances keep running; a new app is accepted and waits.
    f.cluster.kill(1);
    println!(
        "[{:?}] etcd member 1 killed: no quorum",
        f.started.elapsed()
    );
    holds_for(&f, "no quorum: the same containers run", 3 * TTL, || {
        unchanged(&f, false)
    });
    let r = f.post_app(B, &sleeper("late", 1));
    assert_eq!(r.status, 201, "POST without quorum: {}", r.text());
    holds_for(&f, "no quorum: late is not placed", 2 * TTL, || {
        let late = f.live_counts("late");
        if sum(late) != 0 {
            return Err(format!("late runs: {late:?}"));
        }
        unchanged(&f, false)
    });
    let (status, body) = f.try_get(B, "/v2/apps/late").expect("B answers");
    assert_eq!(status, 200, "B shows the app it accepted: {body}");

    // Quorum back: the new app is placed, the old ones run as asked.
    f.cluster.restart(0);
    f.cluster.restart(1);
    let back = Instant::now();
    f.cluster.wait_healthy(&[0, 1, 2], Duration::from_secs(60));
    println!(
        "[{:?}] etcd members 0 and 1 back, healthy after {:?}",
        f.started.elapsed(),
        back.elapsed()
    );
    f.wait_total("late", 1, LONG);
    f.wait_until("late's container runs", LONG, || {
        sum(f.live_counts("late")) == 1
    });
    println!("late placed {:?} after quorum came back", back.elapsed());
    f.wait_total("dee", 6, LONG);
    let live_dee = f.live_counts("dee");
    assert_eq!(sum(live_dee), 6, "{live_dee:?}");
    let now = task_ids(&f, A, "dee").unwrap();
    println!(
        "dee's tasks kept across the quorum loss: {} of 6",
        now.intersection(&ids).count()
    );
}

/// Acceptance 4, a member that hangs instead of refusing (SIGSTOP: it holds its connections and
/// answers nothing), the one every agent talks to first: it is left for the next within the
/// request timeout, no lease is lost, nothing changes, and a new app is placed meanwhile.
#[test]
fn an_etcd_member_that_hangs_is_left_for_the_next_and_nothing_changes() {
    let Some(mut f) = fleet("hang") else {
        return;
    };
    six_spread(&f, "ash");
    let ids = task_ids(&f, A, "ash").unwrap();
    let live = live_all(&f, "ash");
    f.cluster.stop(0);
    println!(
        "[{:?}] etcd member 0 stopped (SIGSTOP)",
        f.started.elapsed()
    );
    let unchanged = |f: &Fleet| -> Result<(), String> {
        let now = live_all(f, "ash");
        if now != live {
            return Err(format!("live containers changed: {now:?}, were {live:?}"));
        }
        for (i, name) in NAMES.iter().enumerate() {
            let got = task_ids(f, i, "ash");
            if got.as_ref() != Some(&ids) {
                return Err(format!("{name} lists {got:?}, was {ids:?}"));
            }
        }
        Ok(())
    };
    holds_for(
        &f,
        "a hung etcd member: same tasks, same containers",
        4 * TTL,
        || unchanged(&f),
    );
    f.deploy(C, &sleeper("elm", 3));
    f.wait_total("elm", 3, LONG);
    holds_for(
        &f,
        "a hung etcd member, a new app placed: ash unchanged",
        TTL,
        || unchanged(&f),
    );
    f.cluster.cont(0);
    let lost: Vec<String> = f
        .nodes
        .iter()
        .filter(|n| n.log_text().contains("is gone (its lease ended)"))
        .map(|n| n.name.clone())
        .collect();
    assert!(lost.is_empty(), "nodes saw a lease end: {lost:?}");
}

/// Acceptance 5.
#[test]
fn the_scheduler_s_agent_killed_another_takes_over_within_a_ttl_and_the_fleet_converges() {
    let Some(mut f) = fleet("failover") else {
        return;
    };
    six_spread(&f, "eff");
    f.wait_until("every node names the same leader", LONG, || {
        f.agreed_leader().is_some()
    });
    let old = f.agreed_leader().unwrap();
    println!("the scheduler: {}", NAMES[old]);
    f.sigkill(old);
    let killed = Instant::now();
    f.kill_containers(old);
    let mut new = old;
    let took = f.wait_until(
        "another agent leads: the others agree, and /v2/info says elected on it alone",
        LONG,
        || {
            let Some(l) = f.agreed_leader() else {
                return false;
            };
            new = l;
            l != old
                && f.up().iter().all(|&i| {
                    f.try_get(i, "/v2/info")
                        .is_some_and(|(_, v)| v["elected"] == (i == l))
                })
        },
    );
    println!(
        "{} took over {took:?} after {}'s death (TTL {TTL:?})",
        NAMES[new], NAMES[old]
    );
    assert!(
        killed.elapsed() <= TTL + SLACK,
        "{:?} from the scheduler's death to another's election",
        killed.elapsed()
    );
    let conv = f.wait_until(
        "eff runs 6, none on the dead node (API of the others, and on the hosts)",
        LONG,
        || {
            f.up().iter().all(|&i| {
                f.running_counts(i, "eff")
                    .is_some_and(|c| c[old] == 0 && sum(c) == 6)
            }) && {
                let live = f.live_counts("eff");
                live[old] == 0 && sum(live) == 6
            }
        },
    );
    println!("the fleet converged {conv:?} after the takeover");
    // The new scheduler places a new app.
    let other = f.up()[0];
    f.deploy(other, &sleeper("gee", 2));
    f.wait_until("gee runs 2, none on the dead node", LONG, || {
        f.running_counts(other, "gee")
            .is_some_and(|c| c[old] == 0 && sum(c) == 2)
            && sum(f.live_counts("gee")) == 2
    });
}

/// `/v2/leader`, `/v2/info` and `/master/slaves` (on the socket and on TCP) name the same
/// fleet and the same leader on every node.
#[test]
fn every_node_names_the_same_leader_and_lists_the_same_nodes() {
    let Some(f) = fleet("leader") else {
        return;
    };
    f.wait_until("all 3 nodes in /master/slaves of every node", LONG, || {
        (0..3).all(|i| {
            f.try_get(i, "/master/slaves").is_some_and(|(s, v)| {
                s == 200 && v["slaves"].as_array().is_some_and(|a| a.len() == 3)
            })
        })
    });
    f.wait_until("every node names the same leader", LONG, || {
        f.agreed_leader().is_some()
    });
    let l = f.agreed_leader().unwrap();
    println!("leader: {}", NAMES[l]);
    for (i, name) in NAMES.iter().enumerate() {
        let leader = f.get_json(i, "/v2/leader")["leader"].clone();
        assert_eq!(
            f.node_named(leader.as_str().unwrap()),
            Some(l),
            "{}: /v2/leader {leader}",
            name
        );
        let info = f.get_json(i, "/v2/info");
        assert_eq!(
            info["leader"].as_str().and_then(|s| f.node_named(s)),
            Some(l),
            "{}: /v2/info {info}",
            name
        );
        assert_eq!(info["elected"], i == l, "{}: /v2/info {info}", name);
        assert_eq!(info["name"], "mesolite");
        // Its own hostname and port range.
        let config = &info["marathon_config"];
        assert_eq!(config["hostname"], *name, "{info}");
        assert_eq!(config["local_port_min"], f.nodes[i].port_range.0, "{info}");
        assert_eq!(config["local_port_max"], f.nodes[i].port_range.1, "{info}");
        // The same on its TCP listener.
        let tcp_leader = tcp::get(f.nodes[i].port, "/v2/leader", None);
        assert_eq!(tcp_leader.status, 200, "{}", tcp_leader.text());
        assert_eq!(tcp_leader.json()["leader"], leader);
        let slaves = f.get_json(i, "/master/slaves")["slaves"].clone();
        let mut hosts = BTreeSet::new();
        for s in slaves.as_array().unwrap() {
            let host = s["hostname"].as_str().unwrap();
            hosts.insert(host.to_string());
            let k = f.index_of(host).unwrap();
            assert_eq!(s["address"], f.nodes[k].address().as_str(), "{s}");
            assert_eq!(s["active"], true, "{s}");
            assert_eq!(s["leader"], k == l, "{s}");
        }
        assert_eq!(hosts, NAMES.iter().map(|s| s.to_string()).collect());
    }
}

/// `mesolite nodes` (and `--json`) on each node's socket: the three nodes, the leader marked.
#[test]
fn mesolite_nodes_lists_the_fleet_and_marks_the_leader() {
    let Some(f) = fleet("nodes") else {
        return;
    };
    let l = f.agreed_leader().expect("formed with a leader");
    for (i, name) in NAMES.iter().enumerate() {
        let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
            .args([
                "nodes",
                &format!("--socket={}", f.nodes[i].socket.display()),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "mesolite nodes: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("mesolite nodes on {}:\n{text}", name);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        // HOSTNAME and ADDRESS first, LEADER last (the columns between say what each node
        // has and has allocated).
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header[..2], ["HOSTNAME", "ADDRESS"], "{text}");
        assert_eq!(header.last(), Some(&"LEADER"), "{text}");
        let column = lines[0].find("LEADER").unwrap();
        assert_eq!(lines.len(), 4, "a header and 3 nodes: {text}");
        for (k, host) in NAMES.iter().enumerate() {
            let row = lines[1..]
                .iter()
                .find(|r| r.split_whitespace().next() == Some(host))
                .unwrap_or_else(|| panic!("no row for {host}: {text}"));
            let fields: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(fields[1], f.nodes[k].address(), "{row}");
            let mark = row.get(column..).unwrap_or_default().trim();
            assert_eq!(
                !mark.is_empty(),
                k == l,
                "{host}'s LEADER column is {mark:?} (the leader is {}): {text}",
                NAMES[l]
            );
        }

        let out = Command::new(env!("CARGO_BIN_EXE_mesolite"))
            .args([
                "nodes",
                "--json",
                &format!("--socket={}", f.nodes[i].socket.display()),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "mesolite nodes --json: {e}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        let list = if v.is_array() {
            v.clone()
        } else {
            ["nodes", "slaves"]
                .iter()
                .find_map(|k| v.get(*k).filter(|x| x.is_array()).cloned())
                .unwrap_or_else(|| panic!("no list of nodes in {v}"))
        };
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 3, "{v}");
        let leaders: Vec<&str> = list
            .iter()
            .filter(|n| n["leader"] == true)
            .map(|n| n["hostname"].as_str().unwrap())
            .collect();
        assert_eq!(leaders, [NAMES[l]], "{v}");
    }
}

/// Constraints on attributes: each node's `--attributes` reach the scheduler through its
/// registration (and `/master/slaves`), and GROUP_BY, LIKE and CLUSTER place by them.
#[test]
fn constraints_on_the_nodes_attributes_place_by_them() {
    if !root_or_skip("attrs") {
        return;
    }
    let Some(f) = Fleet::start_each(
        "attrs",
        [
            &["--attributes=rack:r1;zone:z1"],
            &["--attributes=rack:r1;zone:z2"],
            &["--attributes=rack:r2;zone:z3"],
        ],
    ) else {
        return;
    };
    let slaves = f.get_json(A, "/master/slaves");
    let c = slaves["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["hostname"] == NAMES[C])
        .cloned()
        .unwrap_or_default();
    assert_eq!(c["attributes"]["rack"], "r2", "{slaves}");
    assert_eq!(c["attributes"]["zone"], "z3", "{slaves}");

    // GROUP_BY rack: 4 instances over the two racks, 2 and 2 (r1 has two nodes, r2 one).
    let mut grouped = sleeper("grouped", 4);
    grouped["constraints"] = json!([["rack", "GROUP_BY", "2"]]);
    f.deploy(A, &grouped);
    f.wait_total("grouped", 4, LONG);
    let counts = f.running_counts(B, "grouped").unwrap();
    assert_eq!(counts[A] + counts[B], 2, "rack r1: {counts:?}");
    assert_eq!(counts[C], 2, "rack r2: {counts:?}");

    // LIKE r1: none on node-c.
    let mut liked = sleeper("liked", 3);
    liked["constraints"] = json!([["rack", "LIKE", "r1"]]);
    f.deploy(B, &liked);
    f.wait_total("liked", 3, LONG);
    let counts = f.running_counts(C, "liked").unwrap();
    assert_eq!(counts[C], 0, "{counts:?}");

    // CLUSTER zone z3: all on node-c.
    let mut clustered = sleeper("clustered", 2);
    clustered["constraints"] = json!([["zone", "CLUSTER", "z3"]]);
    f.deploy(C, &clustered);
    f.wait_counts("clustered", [0, 0, 2], LONG);
    assert_eq!(f.live_counts("clustered"), [0, 0, 2]);
}
