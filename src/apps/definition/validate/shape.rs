//! The first pass: the posted JSON against the shape of Marathon's app (its RAML types), before
//! serde reads it. A value of the wrong type is a violation at its own path with play-json's
//! code (`error.expected.jsnumber`, `error.path.missing`, ...), as Marathon answers, and is
//! dropped so the rest of the definition still reads; `null` means absent, as in Marathon;
//! whole doubles where Marathon wants an integer (`"instances": 2.0`) become integers. Fields
//! Marathon has and one node cannot honour are refused here, by name.

use serde_json::{Map, Value};

use super::schema::{Field, Kind, APP};
use super::{at, index, Found};

/// Walks the app object; what fails is reported and removed.
pub(super) fn walk_app(obj: &mut Map<String, Value>, found: &mut Found) {
    walk_fields(obj, APP, "/", found);
}

/// Checks an object's known fields; returns whether a required one is missing.
fn walk_fields(
    obj: &mut Map<String, Value>,
    fields: &[Field],
    path: &str,
    found: &mut Found,
) -> bool {
    obj.retain(|_, v| !v.is_null());
    let mut missing = false;
    for field in fields {
        let here = at(path, field.name);
        let Some(v) = obj.get_mut(field.name) else {
            if field.required {
                found.drop(&here, "error.path.missing");
                missing = true;
            }
            continue;
        };
        if !walk(v, field.kind, &here, found) {
            obj.remove(field.name);
            missing |= field.required;
        }
    }
    missing
}

/// Checks one value; returns whether it is kept.
fn walk(v: &mut Value, kind: Kind, path: &str, found: &mut Found) -> bool {
    let expected = |found: &mut Found, what: &str| {
        found.drop(path, format!("error.expected.{what}"));
        false
    };
    match kind {
        Kind::Str => v.is_string() || expected(found, "jsstring"),
        Kind::Num => v.is_number() || expected(found, "jsnumber"),
        Kind::Bool => v.is_boolean() || expected(found, "jsboolean"),
        Kind::Int | Kind::Count | Kind::Port => integer(v, kind, path, found),
        Kind::Enum(names) => match v.as_str() {
            None => expected(found, "jsstring"),
            Some(s) if names.contains(&s) => true,
            Some(_) => {
                found.drop(path, format!("is not one of ({})", names.join(",")));
                false
            }
        },
        Kind::Array(item) => match v.as_array_mut() {
            None => expected(found, "jsarray"),
            Some(items) => {
                let mut all = true;
                for (i, x) in items.iter_mut().enumerate() {
                    all &= walk(x, *item, &index(path, i), found);
                }
                // One bad element drops the list: the rest would shift to other indices.
                all
            }
        },
        Kind::Map(value) => match v.as_object_mut() {
            None => expected(found, "jsobject"),
            Some(obj) => {
                obj.retain(|k, x| walk(x, *value, &at(path, k), found));
                true
            }
        },
        Kind::Object(fields) => match v.as_object_mut() {
            None => expected(found, "jsobject"),
            Some(obj) => !walk_fields(obj, fields, path, found),
        },
        Kind::Any => true,
        Kind::Refused(why) => {
            let empty = match v {
                Value::Bool(b) => !*b,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
            if !empty {
                found.drop(path, why);
            }
            false
        }
        Kind::Custom(check) => check(v, path, found),
    }
}

/// An integer field: whole doubles are made integers (play-json reads `2.0` as an Int).
fn integer(v: &mut Value, kind: Kind, path: &str, found: &mut Found) -> bool {
    let Some(n) = v.as_f64() else {
        found.drop(path, "error.expected.jsnumber");
        return false;
    };
    let whole = match v.as_i64() {
        Some(i) => i,
        // The bound keeps the cast exact: beyond it a double is no int32 anyway.
        None if n.fract() == 0.0 && n.abs() < 9.0e15 => n as i64,
        None => {
            found.drop(path, "error.expected.int");
            return false;
        }
    };
    *v = Value::from(whole);
    let (low, high) = match kind {
        Kind::Port => (0, 65535),
        Kind::Count => (0, i64::from(i32::MAX)),
        _ => return true,
    };
    if whole < low || whole > high {
        let message = match kind {
            Kind::Port => format!("got {whole}, expected between 0 and 65535"),
            _ if whole < low => format!("got {whole}, expected 0 or more"),
            _ => format!("got {whole}, expected {high} or less"),
        };
        found.drop(path, message);
        return false;
    }
    true
}

/// `env`: strings; Marathon's secret references (`{"secret": "name"}`) are refused by name.
pub(super) fn env(v: &mut Value, path: &str, found: &mut Found) -> bool {
    let Some(vars) = v.as_object_mut() else {
        found.drop(path, "error.expected.jsobject");
        return false;
    };
    vars.retain(|name, value| {
        let here = at(path, name);
        match value {
            Value::String(_) => true,
            Value::Object(o) if o.contains_key("secret") => {
                found.drop(
                    &here,
                    "use of secret-references in the environment needs the secrets feature, \
                     which mesolite does not have: give the value as a string",
                );
                false
            }
            _ => {
                found.drop(&here, "error.expected.jsstring");
                false
            }
        }
    });
    true
}

/// `role`: one node has only the unreserved role, `*`.
pub(super) fn role(v: &mut Value, path: &str, found: &mut Found) -> bool {
    match v.as_str() {
        None => found.drop(path, "error.expected.jsstring"),
        Some("*") => {}
        Some(other) => found.drop(path, format!("got {other}, expected one of: [*]")),
    }
    false
}

/// Marathon 1.5's `networks` folded into `container.docker.network` (what the model reads):
/// `host` is HOST, `container/bridge` BRIDGE. USER (`container`) networks and more than one
/// network are refused: an instance here joins one network, the host's or the bridge.
pub(super) fn fold_networks(obj: &mut Map<String, Value>, found: &mut Found) {
    let Some(networks) = obj.remove("networks") else {
        return;
    };
    let list = match networks {
        Value::Null => return,
        Value::Array(list) => list,
        _ => return found.add("/networks", "error.expected.jsarray"),
    };
    let modes: Vec<Option<&str>> = list
        .iter()
        .map(|n| n.get("mode").and_then(Value::as_str))
        .collect();
    let network = match modes.as_slice() {
        [] => return,
        [Some("host")] => "HOST",
        [Some("container/bridge")] => "BRIDGE",
        [Some("container")] => {
            return found.add(
                "/networks(0)/mode",
                "container (USER) networks are not supported by mesolite apps: use \
                 container/bridge or host",
            )
        }
        [Some(_)] => {
            return found.add(
                "/networks(0)/mode",
                "is not one of (container,container/bridge,host)",
            )
        }
        [None] => return found.add("/networks(0)/mode", "error.path.missing"),
        _ => {
            return found.add(
                "/networks",
                "an instance joins one network on this node: give one",
            )
        }
    };
    let docker = obj
        .get_mut("container")
        .and_then(Value::as_object_mut)
        .and_then(|c| c.get_mut("docker"))
        .and_then(Value::as_object_mut);
    match docker {
        Some(d) if d.get("network").is_some_and(|n| !n.is_null()) => found.add(
            "/",
            "must not specify both container.docker.network and networks",
        ),
        Some(d) => {
            d.insert("network".into(), Value::from(network));
        }
        None if network == "BRIDGE" => found.add(
            "/networks(0)/mode",
            "container/bridge needs a Docker image (container.docker): MESOS containers \
             run on the host network here",
        ),
        None => {}
    }
}
