//! `command.uris`: validated here so that a bad URI is a 400 before anything is created, with
//! Mesos's messages (basename rules, output files within the sandbox).

use serde_json::Value;

use crate::fetcher::protocol::Uri;
use crate::fetcher::uri;

/// Parses and validates `command.uris`.
pub fn parse(v: &Value) -> Result<Vec<Uri>, String> {
    let items = v.as_array().ok_or("'command.uris' must be an array")?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let mut u: Uri = serde_json::from_value(item.clone())
            .map_err(|e| format!("invalid 'command.uris' entry {item}: {e}"))?;
        u.value = uri::trim(&u.value).to_string();
        uri::basename(&u.value).map_err(|e| format!("URI '{}': {e}", u.value))?;
        if let Some(f) = &u.output_file {
            uri::validate_output_file(f).map_err(|e| format!("URI '{}': {e}", u.value))?;
        }
        out.push(u);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn defaults_and_refusals() {
        let u = parse(&json!([{"value": "  http://h/a.tgz"}])).unwrap();
        assert_eq!(u[0].value, "http://h/a.tgz");
        assert!(u[0].extract && !u[0].cache && !u[0].executable);
        assert!(parse(&json!([{"value": "http://h/a", "output_file": "/etc/x"}])).is_err());
        assert!(parse(&json!([{"value": "http://h/a", "output_file": "a/../../x"}])).is_err());
        assert!(parse(&json!([{"value": "http://host"}])).is_err());
        assert!(parse(&json!([{"no_value": 1}])).is_err());
        assert!(parse(&json!({"value": "x"})).is_err());
    }
}
