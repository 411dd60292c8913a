//! The cgroup helper (issue 12): while other containers' inits attach themselves, a launch's
//! cgroups are made by a helper process rather than in the loop (a v1 attach holds the
//! kernel's cgroup lock for an RCU grace period, which a mkdir waits for); the launch goes on
//! from its answer, and a launch destroyed meanwhile leaves no cgroup behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{nice_of, resources, root_or_skip, Agent};

const SUBSYSTEMS: [&str; 5] = ["freezer", "cpu", "cpuacct", "memory", "pids"];

fn metric(agent: &Agent, name: &str) -> f64 {
    let r = agent.client().get("/metrics/snapshot").unwrap();
    r.json().unwrap()[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in /metrics/snapshot"))
}

/// The container's cgroups that exist, by subsystem.
fn cgroups_of(agent: &Agent, id: &str) -> Vec<&'static str> {
    SUBSYSTEMS
        .into_iter()
        .filter(|s| agent.v1_cgroup(s, id).is_dir())
        .collect()
}

fn launch_sleeper(agent: &Agent, id: &str) {
    let r = agent.launch_shell(id, "exec sleep 1000", resources(0.1, 32.0));
    assert_eq!(r.status, 200, "{id}: {}", r.text());
}

fn end(agent: &Agent, id: &str) {
    agent.kill(id, None);
    agent.wait_json(id);
    assert_eq!(agent.remove(id).status, 200);
}

fn hybrid_or_skip(what: &str) -> bool {
    if !root_or_skip(what) {
        return false;
    }
    if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        println!("SKIP {what}: no cgroup v1 memory hierarchy here (the qemu guest covers v2)");
        return false;
    }
    true
}

#[test]
fn parallel_launches_have_cgroups_made_off_the_loop_and_leave_none() {
    if !hybrid_or_skip("cgroup helper under parallel launches") {
        return;
    }
    // Room for many rounds of 0.1 cpus each (the host's 2 cpus hold 20).
    let agent = Agent::start(&["--resources=cpus:64;mem:65536"]);
    // Launches in parallel until some found another init attaching (each round is 8 at once).
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    while metric(&agent, "containerizer/cgroups_made_off_loop") == 0.0 {
        assert!(
            Instant::now() < deadline,
            "no launch had its cgroups made by the helper in {round} rounds of 8"
        );
        let batch: Vec<String> = (0..8).map(|k| format!("p{round}-{k}")).collect();
        std::thread::scope(|s| {
            for id in &batch {
                let agent = &agent;
                s.spawn(move || launch_sleeper(agent, id));
            }
        });
        ids.extend(batch);
        round += 1;
    }
    let off_loop = metric(&agent, "containerizer/cgroups_made_off_loop");
    println!(
        "{off_loop} of {} launches had their cgroups made by the helper",
        ids.len()
    );
    // Every container runs in all its cgroups, with its limits, whoever made them.
    for id in &ids {
        assert_eq!(cgroups_of(&agent, id), SUBSYSTEMS.to_vec(), "{id}");
        let shares = std::fs::read_to_string(agent.v1_cgroup("cpu", id).join("cpu.shares"));
        assert_eq!(shares.unwrap().trim(), "102", "{id}");
        let procs =
            std::fs::read_to_string(agent.v1_cgroup("memory", id).join("cgroup.procs")).unwrap();
        assert!(
            !procs.trim().is_empty(),
            "{id}: nothing in its memory cgroup"
        );
    }
    for id in &ids {
        end(&agent, id);
    }
    Agent::eventually("every cgroup removed", Duration::from_secs(30), || {
        ids.iter().all(|id| cgroups_of(&agent, id).is_empty())
    });
    assert_eq!(metric(&agent, "containerizer/cgroup_helper/failures"), 0.0);
}

#[test]
fn a_launch_destroyed_while_its_cgroups_are_made_leaves_none_and_its_id_launches_again() {
    if !hybrid_or_skip("cgroup helper and a destroy") {
        return;
    }
    let agent = Agent::start_with_env(
        &[],
        &[
            ("MESOLITE_TEST_CGROUPS_OFF_LOOP", "1"),
            ("MESOLITE_TEST_CGROUP_HELPER_DELAY_MS", "1000"),
        ],
    );
    let launched = std::thread::scope(|s| {
        let launch =
            s.spawn(|| agent.launch_shell("late", "exec sleep 1000", resources(0.1, 32.0)));
        // The launch waits for the helper (1 s): destroyed meanwhile.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(agent.kill("late", None).status, 200);
        launch.join().unwrap()
    });
    assert_eq!(launched.status, 400, "{}", launched.text());
    assert!(launched.text().contains("destroyed"), "{}", launched.text());
    agent.wait_json("late");
    assert_eq!(agent.remove("late").status, 200);
    // The helper made them after the destroy (its answer is logged) and then removed them, in
    // that order: none is left once it answered.
    Agent::eventually("the helper's late answer", Duration::from_secs(20), || {
        agent.log_text().contains("were made")
    });
    Agent::eventually("its cgroups removed", Duration::from_secs(20), || {
        cgroups_of(&agent, "late").is_empty()
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(cgroups_of(&agent, "late").is_empty(), "made again after");
    // The ID launches again, through the helper, and runs in cgroups of its own.
    launch_sleeper(&agent, "late");
    assert_eq!(cgroups_of(&agent, "late"), SUBSYSTEMS.to_vec());
    assert_eq!(metric(&agent, "containerizer/cgroups_made_off_loop"), 2.0);
    end(&agent, "late");
    Agent::eventually("its cgroups removed again", Duration::from_secs(20), || {
        cgroups_of(&agent, "late").is_empty()
    });
}

#[test]
fn a_cgroup_helper_killed_is_started_again_and_launches_go_on() {
    if !hybrid_or_skip("cgroup helper restart") {
        return;
    }
    let agent = Agent::start_with_env(&[], &[("MESOLITE_TEST_CGROUPS_OFF_LOOP", "1")]);
    launch_sleeper(&agent, "one");
    let helper = helper_pid(&agent).expect("the cgroup helper runs");
    // The helper runs at the agent's priority: a launch may wait on it.
    assert_eq!(nice_of(helper), 0);
    sigkill(helper);
    Agent::eventually("the helper started again", Duration::from_secs(10), || {
        helper_pid(&agent).is_some_and(|p| p != helper)
    });
    launch_sleeper(&agent, "two");
    assert_eq!(cgroups_of(&agent, "two"), SUBSYSTEMS.to_vec());
    assert!(metric(&agent, "containerizer/cgroup_helper/restarts") >= 1.0);
    end(&agent, "one");
    end(&agent, "two");
    Agent::eventually("their cgroups removed", Duration::from_secs(20), || {
        cgroups_of(&agent, "one").is_empty() && cgroups_of(&agent, "two").is_empty()
    });
}

fn helper_pid(agent: &Agent) -> Option<i32> {
    agent.child_named("mesolite-cg")
}

fn sigkill(pid: i32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
