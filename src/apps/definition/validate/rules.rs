//! The app-level rules of Marathon's validators (`AppValidation`, `AppDefinition`'s
//! `validBasicAppDefinition`), with their messages, on the typed definition; and what one node
//! cannot honour (GPUs, executors, roles, placement beyond the hostname).

use super::{at, index, scala, Found, Invalid};
use crate::apps::definition::{AppDefinition, ContainerType};
use crate::apps::AppId;

/// Marathon's pattern for one segment of an app path (`PathId`'s).
const ID_PATTERN: &str = "must fully match regular expression \
     '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'";
const RESERVED: [&str; 5] = ["restart", "tasks", "versions", ".", ".."];
const CMD_ARGS_OR_CONTAINER: &str =
    "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.";
const OPERATORS: [&str; 7] = [
    "UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "MAX_PER", "UNLIKE", "IS",
];

/// What only the posted form shows: older fields given beside their replacements (folded
/// away by `normalise`).
pub(super) fn before_normalise(def: &AppDefinition, found: &mut Found) {
    if !def.uris.is_empty() && !def.fetch.is_empty() {
        found.add("/uris", "may not be set in conjunction with fetch");
    }
    if let (Some(ports), Some(defs)) = (&def.ports, &def.port_definitions) {
        let same = ports.len() == defs.len()
            && ports.iter().zip(defs).all(|(p, d)| i64::from(*p) == d.port);
        if !same {
            found.add("/", "cannot specify both ports and port definitions");
        }
    }
    let Some(c) = &def.container else { return };
    let Some(mappings) = c.port_mappings.as_ref().filter(|m| !m.is_empty()) else {
        return;
    };
    match &c.docker {
        _ if c.kind == ContainerType::Mesos => found.add(
            "/container/portMappings",
            "must be empty: MESOS containers run on the host network here",
        ),
        Some(d) if !d.port_mappings.is_empty() && d.port_mappings != *mappings => found.add(
            "/container/portMappings",
            "give the port mappings once: container.portMappings or \
             container.docker.portMappings",
        ),
        _ => {}
    }
}

/// The rules on a normalised definition.
pub(super) fn check_into(def: &AppDefinition, found: &mut Found) {
    check_id(&def.id, "/id", found);
    for (i, dep) in def.dependencies.iter().enumerate() {
        if dep.split('/').any(|s| !segment_ok(s)) {
            found.add(&index("/dependencies", i), ID_PATTERN);
        }
    }
    if def.instances < 0 {
        found.add(
            "/instances",
            format!("got {}, expected 0 or more", def.instances),
        );
    }
    for (name, value) in [("cpus", def.cpus), ("mem", def.mem), ("disk", def.disk)] {
        at_least(found, &format!("/{name}"), value, 0.0);
    }
    not_negative(found, "/gpus", def.gpus);
    if def.gpus > 0.0 {
        found.add(
            "/gpus",
            "GPU resources are not supported: mesolite does not isolate GPUs",
        );
    }
    check_command(def, found);
    if !matches!(def.executor.as_str(), "" | "//cmd") {
        found.add(
            "/executor",
            "custom executors are not supported: only \"\" and \"//cmd\" (the command \
             executor) run here",
        );
    }
    not_negative(found, "/backoffSeconds", def.backoff_seconds);
    at_least(found, "/backoffFactor", def.backoff_factor, 1.0);
    not_negative(
        found,
        "/maxLaunchDelaySeconds",
        def.max_launch_delay_seconds,
    );
    if let Some(grace) = def.task_kill_grace_period_seconds {
        not_negative(found, "/taskKillGracePeriodSeconds", grace);
    }
    let strategy = &def.upgrade_strategy;
    for (name, value) in [
        ("minimumHealthCapacity", strategy.minimum_health_capacity),
        ("maximumOverCapacity", strategy.maximum_over_capacity),
    ] {
        if !(0.0..=1.0).contains(&value) {
            found.add(
                &format!("/upgradeStrategy/{name}"),
                format!("got {}, expected between 0.0 and 1.0", scala(value)),
            );
        }
    }
    check_env(def, found);
    if let Some(roles) = &def.accepted_resource_roles {
        if roles.is_empty() {
            found.add("/acceptedResourceRoles", "must not be empty");
        } else if roles.iter().any(|r| r != "*") {
            found.add(
                "/acceptedResourceRoles",
                "acceptedResourceRoles can only contain *",
            );
        }
    }
    for (i, c) in def.constraints.iter().enumerate() {
        check_constraint(c, def.instances, &index("/constraints", i), found);
    }
    for (i, f) in def.fetch.iter().enumerate() {
        if !uri_ok(&f.uri) {
            found.add(&at(&index("/fetch", i), "uri"), "URI has invalid syntax.");
        }
    }
}

fn check_id(id: &str, path: &str, found: &mut Found) {
    let trimmed = id.trim_matches('/');
    if trimmed.is_empty() {
        found.add(path, "Path must contain at least one path element");
        return;
    }
    let segments: Vec<&str> = trimmed.split('/').collect();
    let mut bad = false;
    if segments.iter().any(|s| !segment_ok(s)) {
        found.add(path, ID_PATTERN);
        bad = true;
    }
    if segments.last().is_some_and(|s| RESERVED.contains(s)) {
        found.add(
            path,
            format!(
                "must not end with any of the following reserved keywords: {}",
                RESERVED.join(", ")
            ),
        );
        bad = true;
    }
    // What remains is the agent's own bound (its length, relative segments).
    if let (false, Err(e)) = (bad, AppId::parse(id)) {
        found.add(path, e);
    }
}

/// Marathon's segment pattern (`.` and `..` match it; the agent refuses them in an app id).
fn segment_ok(s: &str) -> bool {
    s == "." || s == ".." || (!s.is_empty() && AppId::parse(s).is_ok())
}

fn check_command(def: &AppDefinition, found: &mut Found) {
    let cmd = def.cmd.is_some();
    let args = def.args.as_ref().is_some_and(|a| !a.is_empty());
    let image = def.container.as_ref().is_some_and(|c| c.docker.is_some());
    if !((cmd ^ args) || (!(cmd && args) && image)) {
        found.add("/", CMD_ARGS_OR_CONTAINER);
    }
    if def.cmd.as_deref().is_some_and(|c| c.trim().is_empty()) {
        found.add("/cmd", "must not be an empty string");
    }
    for (i, a) in def.args.iter().flatten().enumerate() {
        if a.contains('\0') {
            found.add(&index("/args", i), "must not contain a NUL byte");
        }
    }
}

fn check_env(def: &AppDefinition, found: &mut Found) {
    for (name, value) in &def.env {
        let here = at("/env", name);
        if name.is_empty() {
            found.add("/env", "environment variable names must not be empty");
        } else if name.contains(['=', '\0']) {
            found.add(&here, "the name must not contain '=' or a NUL byte");
        }
        if value.contains('\0') {
            found.add(&here, "must not contain a NUL byte");
        }
    }
}

/// Marathon's constraint rules, then one node's: only the hostname can be constrained, and
/// UNIQUE and MAX_PER bound the instances one host can hold.
fn check_constraint(c: &[String], instances: i64, path: &str, found: &mut Found) {
    let (field, operator, value) = match c {
        [f, o] => (f, o.to_uppercase(), None),
        [f, o, v] => (f, o.to_uppercase(), Some(v.as_str())),
        _ => return found.add(path, "Each constraint must have either 2 or 3 fields"),
    };
    if field.is_empty() {
        return found.add(path, "missing field for constraint declaration");
    }
    if !OPERATORS.contains(&operator.as_str()) {
        return found.add(
            path,
            "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, \
             UNLIKE or IS",
        );
    }
    if !matches!(field.as_str(), "hostname" | "@hostname") {
        return found.add(
            path,
            format!(
                "constraints on '{field}' cannot be honoured by one node: only hostname \
                 constraints are supported"
            ),
        );
    }
    let number = value.and_then(|v| v.parse::<i64>().ok());
    match (operator.as_str(), value) {
        ("UNIQUE", Some(v)) if !v.is_empty() => found.add(path, "UNIQUE does not accept a value"),
        ("UNIQUE", _) if instances > 1 => found.add(
            path,
            format!("hostname:UNIQUE allows one instance on a single node, not {instances}"),
        ),
        ("MAX_PER", _) => match number {
            None => found.add(path, "MAX_PER requires an integer value"),
            Some(n) if instances > n => found.add(
                path,
                format!(
                    "hostname:MAX_PER:{n} allows {n} instances on a single node, not {instances}"
                ),
            ),
            Some(_) => {}
        },
        ("GROUP_BY", Some(v)) if !v.is_empty() && number.is_none() => found.add(
            path,
            "GROUP BY must define an integer value or else no value at all",
        ),
        ("LIKE" | "UNLIKE", None | Some("")) => found.add(
            path,
            "LIKE and UNLIKE require a non-empty, regular expression value",
        ),
        ("LIKE" | "UNLIKE", Some(v)) if Pattern::new(v).is_none() => found.add(
            path,
            format!(
                "'{v}' cannot be matched here: give the hostname itself ('.' for any \
                 character) or '.*'"
            ),
        ),
        ("IS", None) => found.add(path, "IS requires a value"),
        _ => {}
    }
}

/// The hostname constraints against this node's name: a CLUSTER, IS or LIKE that names
/// another host (or an UNLIKE that names this one) could never be met.
pub fn check_node(def: &AppDefinition, hostname: &str) -> Result<(), Invalid> {
    let mut found = Found::default();
    for (i, c) in def.constraints.iter().enumerate() {
        let [field, operator, value] = c.as_slice() else {
            continue;
        };
        if !matches!(field.as_str(), "hostname" | "@hostname") || value.is_empty() {
            continue;
        }
        let operator = operator.to_uppercase();
        let met = match operator.as_str() {
            "CLUSTER" | "IS" => value == hostname,
            "LIKE" => Pattern::new(value).is_some_and(|p| p.matches(hostname)),
            "UNLIKE" => Pattern::new(value).is_some_and(|p| !p.matches(hostname)),
            _ => true,
        };
        if !met {
            found.add(
                &index("/constraints", i),
                format!("hostname:{operator}:{value} cannot be met: this node is {hostname}"),
            );
        }
    }
    found.into_result()
}

/// The regular expressions a hostname constraint can hold without a regex engine: the name
/// itself with `.` for any character, or `.*` for any name.
struct Pattern<'a>(Option<&'a str>);

impl<'a> Pattern<'a> {
    fn new(text: &'a str) -> Option<Pattern<'a>> {
        if text == ".*" {
            return Some(Pattern(None));
        }
        let literal = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        literal.then_some(Pattern(Some(text)))
    }

    fn matches(&self, name: &str) -> bool {
        let Some(p) = self.0 else { return true };
        p.len() == name.len()
            && p.bytes()
                .zip(name.bytes())
                .all(|(a, b)| a == b'.' || a == b)
    }
}

/// Java's `URI` refuses blanks and control characters; so does the fetcher.
fn uri_ok(uri: &str) -> bool {
    let uri = uri.trim();
    !uri.is_empty() && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `value >= min`, or Marathon's message (`got -1.0, expected 0.0 or more`).
fn at_least(found: &mut Found, path: &str, value: f64, min: f64) {
    if !value.is_finite() || value < min {
        found.add(
            path,
            format!("got {}, expected {} or more", scala(value), scala(min)),
        );
    }
}

/// An integer field of Marathon's held as a double: `value >= 0`, or the message with the
/// value printed as Marathon prints an Int (`got -1, expected 0 or more`).
fn not_negative(found: &mut Found, path: &str, value: f64) {
    if !value.is_finite() || value < 0.0 {
        let shown = if value.fract() == 0.0 && value.abs() < 1e15 {
            format!("{value:.0}")
        } else {
            scala(value)
        };
        found.add(path, format!("got {shown}, expected 0 or more"));
    }
}
