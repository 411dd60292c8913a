//! Issue 11: `command.user` is looked up off the loop. The agent runs in a private mount
//! namespace whose NSS reads `/etc/passwd` from files only, and that `/etc/passwd` is a FIFO
//! this test writes into when it chooses: a lookup then blocks until it does, as one to a hung
//! LDAP server would. Meanwhile the agent answers `/health`; once the FIFO is written the
//! launch goes on (known user) or fails with 400 naming the user (unknown).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{root_or_skip, Agent};
use serde_json::json;

/// Starts the agent under `unshare -m` with `/etc/nsswitch.conf` and `/etc/passwd` replaced.
fn start(dir: &std::path::Path, fifo: &std::path::Path) -> Agent {
    let nss = dir.join("nsswitch.conf");
    std::fs::write(&nss, "passwd: files\ngroup: files\n").unwrap();
    let tag = format!("mltest-{}-userlookup", std::process::id());
    let mut agent = Agent {
        child: None,
        extra: Vec::new(),
        env: Vec::new(),
        socket: dir.join("agent.sock"),
        work_dir: dir.join("work"),
        runtime_dir: dir.join("run"),
        cgroups_root: tag,
        log: dir.join("agent.log"),
        dir: dir.to_path_buf(),
    };
    let script = format!(
        "mount --make-rprivate / && mount --bind {} /etc/nsswitch.conf && \
         mount --bind {} /etc/passwd && exec \"$@\"",
        nss.display(),
        fifo.display()
    );
    let log = std::fs::File::create(&agent.log).unwrap();
    let child = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            &script,
            "sh",
            env!("CARGO_BIN_EXE_mesolite"),
            "agent",
        ])
        .arg(format!("--work_dir={}", agent.work_dir.display()))
        .arg(format!("--runtime_dir={}", agent.runtime_dir.display()))
        .arg(format!("--socket={}", agent.socket.display()))
        .arg(format!("--cgroups_root={}", agent.cgroups_root))
        .arg("--logging_level=DEBUG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    agent.child = Some(child);
    Agent::eventually("the agent answers /health", Duration::from_secs(20), || {
        agent.client().get("/health").is_ok_and(|r| r.status == 200)
    });
    agent
}

/// Launches as `user` in a thread; returns its handle.
fn launch_as(agent: &Agent, id: &str, user: &str) -> std::thread::JoinHandle<(u16, String)> {
    let client = agent.client();
    let body = json!({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": id},
        "command": {"value": "echo ran > out", "shell": true, "user": user}}});
    std::thread::spawn(move || {
        let r = client.post_json("/api/v1", &body).unwrap();
        (r.status, r.text())
    })
}

/// Waits until the agent started the lookup for `id`, shows `/health` is answered while it
/// blocks on the FIFO, then writes `passwd` into it.
fn answer_lookup(agent: &Agent, id: &str, fifo: &std::path::Path, passwd: &str) {
    Agent::eventually("the lookup started", Duration::from_secs(20), || {
        agent
            .log_text()
            .contains(&format!("Container {id}: looking up user"))
    });
    for _ in 0..5 {
        let t = Instant::now();
        let r = agent.client().get("/health").unwrap();
        assert_eq!(r.status, 200);
        // A hang-catching bound, not a timing: the lookup is still blocked meanwhile.
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
    let c = agent.container(id).expect("the container is STARTING");
    assert_eq!(c["state"], "STARTING", "{c}");
    // Blocks until the lookup child opened it for reading (it may not have yet).
    let mut w = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
    w.write_all(passwd.as_bytes()).unwrap();
}

/// Bind-mounts `source` over `/etc/passwd` in the agent's mount namespace.
fn passwd_in_agent(agent: &Agent, source: &std::path::Path) {
    let pid = agent.child.as_ref().unwrap().id().to_string();
    let status = Command::new("nsenter")
        .args(["-t", &pid, "-m", "mount", "--bind"])
        .arg(source)
        .arg("/etc/passwd")
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_user_lookup_blocks_no_request_and_the_launch_goes_on_from_its_answer() {
    if !root_or_skip("user_lookup") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mltest-userlookup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("passwd.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let agent = start(&dir, &fifo);
    let passwd = "root:x:0:0:root:/root:/bin/sh\nmltestu:x:4242:4242::/nonexistent:/bin/sh\n";

    // A lookup stuck in NSS: requests are answered meanwhile, and what NSS then says (glibc
    // cannot seek a FIFO: an error; another C library may read it) decides the launch.
    let pending = launch_as(&agent, "slow", "mltestu");
    answer_lookup(&agent, "slow", &fifo, passwd);
    let (status, text) = pending.join().unwrap();
    if status == 400 {
        assert!(text.contains("user 'mltestu'"), "{text}");
        assert!(agent.container("slow").is_none());
    } else {
        assert_eq!(status, 200, "{text}");
    }

    // A plain file from here on.
    let file = dir.join("passwd");
    std::fs::write(&file, passwd).unwrap();
    passwd_in_agent(&agent, &file);
    let r = launch_as(&agent, "known", "mltestu").join().unwrap();
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(agent.wait_json("known")["exit_status"], 0);
    // The sandbox was chowned to the user, and the task ran as it.
    let sb = agent.sandbox("known");
    assert_eq!(std::fs::metadata(&sb).unwrap().uid(), 4242);
    assert_eq!(std::fs::metadata(sb.join("out")).unwrap().uid(), 4242);

    let (status, text) = launch_as(&agent, "ghost", "mltest-ghost").join().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("unknown user 'mltest-ghost'"), "{text}");
    assert!(agent.container("ghost").is_none());
    assert!(!agent.sandbox("ghost").exists());

    // Killed while its lookup blocks: the launch is answered, the container forgotten.
    passwd_in_agent(&agent, &fifo);
    let pending = launch_as(&agent, "killed", "mltestu");
    Agent::eventually("the lookup started", Duration::from_secs(20), || {
        agent
            .log_text()
            .contains("Container killed: looking up user")
    });
    assert_eq!(agent.kill("killed", None).status, 200);
    let (status, text) = pending.join().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("while its user was looked up"), "{text}");
    assert!(agent.container("killed").is_none());
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}
