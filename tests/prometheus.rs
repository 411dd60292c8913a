//! Debian's Prometheus server scrapes the agent's `/metrics` over TCP and answers queries on
//! the per-container figures under cAdvisor's names; promtool accepts the exposition.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::tcp::{self, free_port, get};
use common::{resources, root_or_skip, Agent};
use mesolite::http::percent_encode;

/// A Prometheus server of the test's own, stopped when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Prometheus {
    /// Starts `prometheus` scraping 127.0.0.1:`target` every second, storing under `dir`.
    fn start(dir: &Path, target: u16) -> Prometheus {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: mesolite\n    scrape_interval: 1s\n    \
                 scrape_timeout: 1s\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus");
        Prometheus { child, port, log }
    }

    /// An instant query's result list (empty while it has no sample, or while starting).
    fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            return Vec::new();
        }
        let target = format!("/api/v1/query?query={}", percent_encode(promql));
        let r = get(self.port, &target, None);
        if r.status != 200 {
            return Vec::new();
        }
        r.json()["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn targets(&self) -> String {
        std::net::TcpStream::connect(("127.0.0.1", self.port))
            .map(|_| get(self.port, "/api/v1/targets", None).text())
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SAFETY: kill with our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prometheus is not a kernel feature: the test set installs it, so its absence fails.
fn require_prometheus() {
    let found = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "prometheus is not installed: run scripts/packages.sh test"
    );
}

#[test]
fn prometheus_scrapes_per_container_figures_over_tcp() {
    if !root_or_skip("prometheus") {
        return;
    }
    require_prometheus();
    let agent = Agent::start_tcp(&[]);
    let port = agent.port();
    let id = "prom-1";
    assert_eq!(
        agent
            .launch_shell(id, "sleep 1000", resources(0.25, 48.0))
            .status,
        200
    );
    let prom = Prometheus::start(&agent.dir.join("prometheus"), port);
    let rss = format!("container_memory_rss{{container_id=\"{id}\"}}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let result = loop {
        let r = prom.query(&rss);
        if !r.is_empty() {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no {rss} sample within 90 s; targets: {}\nprometheus log:\n{}",
            prom.targets(),
            std::fs::read_to_string(&prom.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(result.len(), 1, "{result:?}");
    assert_eq!(result[0]["metric"]["container_id"], id);
    assert_eq!(result[0]["metric"]["job"], "mesolite");
    let value: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(value > 0.0, "rss {value}");
    // The same scrape holds the spec figures dashboards divide by.
    let limit = prom.query(&format!(
        "container_spec_memory_limit_bytes{{container_id=\"{id}\"}}"
    ));
    assert_eq!(limit[0]["value"][1], "50331648", "{limit:?}");
    let shares = prom.query(&format!(
        "container_spec_cpu_shares{{container_id=\"{id}\"}}"
    ));
    assert_eq!(shares[0]["value"][1], "256", "{shares:?}");
    drop(prom);
}

#[test]
fn promtool_accepts_the_exposition_with_odd_container_ids() {
    if !root_or_skip("promtool") {
        return;
    }
    require_prometheus();
    let agent = Agent::start_tcp(&[]);
    let port = agent.port();
    // Mesos IDs may hold quotes: the label value must be escaped.
    let odd = "odd\"id";
    assert_eq!(
        agent
            .launch_shell(odd, "sleep 1000", resources(0.1, 32.0))
            .status,
        200
    );
    let text = get(port, "/metrics", None);
    assert_eq!(text.status, 200);
    assert!(
        text.text()
            .contains("container_memory_rss{container_id=\"odd\\\"id\"} "),
        "{}",
        text.text()
    );
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(&text.body).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_of_many_containers_are_streamed_and_complete() {
    if !root_or_skip("metrics stream") {
        return;
    }
    const N: usize = 40;
    let agent = Agent::start_tcp(&[]);
    let port = agent.port();
    for i in 0..N {
        let r = agent.launch_shell(&format!("m{i}"), "sleep 1000", resources(0.01, 16.0));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = get(port, "/metrics", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    for i in 0..N {
        for family in ["container_memory_rss", "container_cpu_user_seconds_total"] {
            let line = format!("\n{family}{{container_id=\"m{i}\"}} ");
            assert!(text.contains(&line), "no {line:?}");
        }
    }
    // One HELP and TYPE per family, however many containers.
    assert_eq!(
        text.matches("# TYPE container_memory_rss gauge\n").count(),
        1
    );
    // The agent's own metrics still lead the answer; HEAD gets the head alone.
    assert!(text.starts_with("# HELP mesolite_containers"), "{text}");
    assert!(text.contains("mesolite_containers{state=\"RUNNING\"} 40\n"));
    let head = tcp::request(port, "HEAD", "/metrics", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}
