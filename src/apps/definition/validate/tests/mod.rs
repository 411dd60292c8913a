//! One test per rule: the path and Marathon's message, and that a valid variant passes.

mod app;
mod container;

use serde_json::{json, Value};

use super::{parse, Invalid};

pub(super) fn invalid(body: Value) -> Invalid {
    match parse(&body, None) {
        Ok(def) => panic!("accepted {body}: {def:?}"),
        Err(e) => e,
    }
}

/// `path` has an error containing `fragment`.
pub(super) fn has(inv: &Invalid, path: &str, fragment: &str) {
    assert!(
        inv.errors_at(path).iter().any(|e| e.contains(fragment)),
        "no '{fragment}' at {path} in {}",
        inv.to_json()
    );
}

pub(super) fn ok(body: Value) -> crate::apps::AppDefinition {
    match parse(&body, None) {
        Ok(def) => def,
        Err(e) => panic!("refused {body}: {}", e.to_json()),
    }
}

pub(super) fn app(extra: Value) -> Value {
    let mut v = json!({"id": "/web", "cmd": "sleep 100"});
    for (k, x) in extra.as_object().expect("an object").clone() {
        v[k] = x;
    }
    v
}

pub(super) fn docker(network: &str, mappings: Value) -> Value {
    json!({"type": "DOCKER", "docker": {"image": "busybox", "network": network,
        "portMappings": mappings}})
}
