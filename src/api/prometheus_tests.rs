#![allow(clippy::unwrap_used)] // a panic is how a test fails

use super::*;
use std::collections::HashMap;
use std::time::Duration;

/// A label value parsed back: the inverse of `escape_label`; None where the text is not one.
fn unescape(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                _ => return None,
            },
            '\n' => return None,
            c => out.push(c),
        }
    }
    None
}

/// A sample line taken apart: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

fn parse_sample(line: &str) -> Option<Sample> {
    let brace = line.find('{')?;
    let name = &line[..brace];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let mut rest = &line[brace + 1..];
    let mut labels = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            rest = r;
            break;
        }
        let eq = rest.find("=\"")?;
        let key = rest[..eq].to_string();
        let (value, r) = unescape(&rest[eq + 2..])?;
        labels.push((key, value));
        rest = r.strip_prefix(',').unwrap_or(r);
    }
    let value = rest.strip_prefix(' ')?;
    let v = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((name.to_string(), labels, v))
}

/// Checks the whole text: every line HELP, TYPE or a sample; every family's samples after its
/// one TYPE and before the next family. Returns samples by (name, container_id).
fn parse(text: &str) -> HashMap<(String, String), f64> {
    let mut samples = HashMap::new();
    let mut typed: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(rest.split_once(' ').is_some(), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(matches!(kind, "counter" | "gauge" | "histogram"), "{line}");
            assert!(!typed.contains(&name.to_string()), "second TYPE for {name}");
            typed.push(name.to_string());
        } else {
            let (name, labels, v) =
                parse_sample(line).unwrap_or_else(|| panic!("bad line {line:?}"));
            let family = typed.last().unwrap();
            assert!(
                name.starts_with(family.as_str()),
                "{name} outside its family {family}"
            );
            let id = labels
                .iter()
                .find(|(k, _)| k == "container_id")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            samples.insert((name, id), v);
        }
    }
    samples
}

fn sample(rss: u64) -> ResourceStatistics {
    ResourceStatistics {
        timestamp: 1_700_000_000.75,
        processes: Some(2),
        threads: Some(5),
        cpus_user_time_secs: Some(1.5),
        cpus_system_time_secs: Some(0.25),
        cpus_limit: Some(0.5),
        cpus_soft_limit: Some(0.5),
        cpus_nr_periods: Some(10),
        cpus_nr_throttled: Some(3),
        cpus_throttled_time_secs: Some(0.125),
        mem_total_bytes: Some(10_000),
        mem_rss_bytes: Some(rss),
        mem_cache_bytes: Some(4000),
        mem_inactive_file_bytes: Some(1000),
        mem_max_usage_bytes: Some(20_000),
        mem_limit_bytes: Some(64 << 20),
        ..Default::default()
    }
}

fn ids(names: &[&str]) -> Vec<ContainerId> {
    names
        .iter()
        .map(|n| ContainerId::parse(n).unwrap())
        .collect()
}

fn write_all(samples: &[(ContainerId, ResourceStatistics)], cfs: bool, until: Instant) -> String {
    let mut phase = Phase::Write {
        family: 0,
        row: 0,
        open: false,
    };
    let mut out = Vec::new();
    let mut slices = 0;
    while !write_families(samples, Spec { cfs }, &mut phase, &mut out, until) {
        slices += 1;
        assert!(slices < 10_000, "no progress");
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn the_exposition_parses_and_holds_cadvisor_figures() {
    let names = ids(&["web-1", "db_2"]);
    let samples = vec![
        (names[0].clone(), sample(4096)),
        (names[1].clone(), sample(8192)),
    ];
    let text = write_all(&samples, true, Instant::now() + Duration::from_secs(60));
    let got = parse(&text);
    let at = |name: &str, id: &str| got[&(name.to_string(), id.to_string())];
    assert_eq!(at("container_memory_rss", "web-1"), 4096.0);
    assert_eq!(at("container_memory_rss", "db_2"), 8192.0);
    assert_eq!(at("container_cpu_usage_seconds_total", "web-1"), 1.75);
    assert_eq!(at("container_memory_working_set_bytes", "web-1"), 9000.0);
    assert_eq!(at("container_memory_max_usage_bytes", "web-1"), 20_000.0);
    assert_eq!(at("container_spec_cpu_shares", "web-1"), 512.0);
    assert_eq!(at("container_spec_cpu_quota", "web-1"), 50_000.0);
    assert_eq!(at("container_spec_cpu_period", "web-1"), 100_000.0);
    assert_eq!(at("container_cpu_cfs_throttled_periods_total", "db_2"), 3.0);
    assert_eq!(at("container_last_seen", "db_2"), 1_700_000_000.0);
    assert!(text.contains(
        "container_cpu_usage_seconds_total{container_id=\"web-1\",cpu=\"total\"} 1.75\n"
    ));
    assert!(text.contains(
        "# HELP container_memory_rss Size of RSS in bytes.\n# TYPE container_memory_rss gauge\n"
    ));
    // Without a CFS quota there is neither a quota nor CFS counters, as in cAdvisor.
    let plain = write_all(&samples, false, Instant::now() + Duration::from_secs(60));
    assert!(!plain.contains("container_spec_cpu_quota"), "{plain}");
    assert!(
        !plain.contains("container_cpu_cfs_periods_total"),
        "{plain}"
    );
    parse(&plain);
}

#[test]
fn slices_write_the_same_text_as_one_pass() {
    let names: Vec<String> = (0..300).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let samples: Vec<_> = ids(&refs)
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, sample(i as u64)))
        .collect();
    let whole = write_all(&samples, true, Instant::now() + Duration::from_secs(60));
    let sliced = write_all(&samples, true, Instant::now());
    assert_eq!(whole, sliced);
    // Every family but the two the sample has no figure for (mapped file, swap).
    assert_eq!(parse(&whole).len(), (FAMILIES.len() - 2) * 300);
}

#[test]
fn label_values_are_escaped() {
    let mut out = Vec::new();
    escape_label(&mut out, "a\"b\\c\nd");
    assert_eq!(out, b"a\\\"b\\\\c\\nd");
    let f = &FAMILIES[0];
    let mut line = Vec::new();
    write_sample(&mut line, f, "we\"ird\\id\n", 1.0);
    let line = String::from_utf8(line).unwrap();
    let (name, labels, v) = parse_sample(line.trim_end_matches('\n')).unwrap();
    assert_eq!(name, f.name);
    assert_eq!(
        labels,
        vec![("container_id".to_string(), "we\"ird\\id\n".to_string())]
    );
    assert_eq!(v, 1.0);
    let mut vals = Vec::new();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-7, 0.5, 3.0] {
        write_value(&mut vals, v);
        vals.push(b' ');
    }
    assert_eq!(
        String::from_utf8(vals).unwrap(),
        "NaN +Inf -Inf 0.0000001 0.5 3 "
    );
}
