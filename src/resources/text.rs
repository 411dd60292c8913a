//! Mesos's text form of resources: `cpus:4;mem:4096;disk:20000;ports:[31000-32000]`.

use super::ranges::{self, PortRange};
use super::{checked_scalar, Name, Partial, Resources, ResourcesError};

/// Parses `name(role):value` items separated by `;`; empty items are skipped, as Mesos does.
pub(super) fn parse_text(text: &str) -> Result<Partial, ResourcesError> {
    let mut partial = Partial::default();
    for item in text.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item.split_once(':').ok_or_else(|| ResourcesError::Syntax {
            item: item.to_string(),
            reason: "expected name:value",
        })?;
        let name = parse_key(item, key.trim())?;
        let value = value.trim();
        match name {
            Name::Ports => partial.add_ranges(&parse_ranges(name, value)?),
            scalar => {
                if value.starts_with('[') || value.starts_with('{') {
                    return Err(ResourcesError::WrongType {
                        name: scalar.as_str(),
                        expected: "a SCALAR",
                        found: value.to_string(),
                    });
                }
                let number: f64 = value.parse().map_err(|_| ResourcesError::BadScalar {
                    name: scalar.as_str(),
                    value: value.to_string(),
                })?;
                partial.add_scalar(scalar, checked_scalar(scalar, number)?);
            }
        }
    }
    Ok(partial)
}

/// `cpus` or `cpus(*)`; any other role is refused.
fn parse_key(item: &str, key: &str) -> Result<Name, ResourcesError> {
    let Some((name, rest)) = key.split_once('(') else {
        return Name::parse(key);
    };
    let role = rest
        .strip_suffix(')')
        .ok_or_else(|| ResourcesError::Syntax {
            item: item.to_string(),
            reason: "role is not closed by ')'",
        })?;
    let name = name.trim();
    if role.trim() != "*" {
        return Err(ResourcesError::Role {
            name: name.to_string(),
            role: role.to_string(),
        });
    }
    Name::parse(name)
}

/// `[31000-31005,32000-32010]` (a lone port `[80]` is taken as `80-80`).
fn parse_ranges(name: Name, value: &str) -> Result<Vec<PortRange>, ResourcesError> {
    let body = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| ResourcesError::WrongType {
            name: name.as_str(),
            expected: "RANGES, written [begin-end,...]",
            found: value.to_string(),
        })?;
    let mut result = Vec::new();
    for range in body.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let bad = || ResourcesError::BadRange {
            name: name.as_str(),
            range: range.to_string(),
        };
        let (begin, end) = range.split_once('-').unwrap_or((range, range));
        let begin: u16 = begin.trim().parse().map_err(|_| bad())?;
        let end: u16 = end.trim().parse().map_err(|_| bad())?;
        if begin > end {
            return Err(bad());
        }
        result.push(PortRange::new(begin, end));
    }
    ranges::normalize(&mut result);
    Ok(result)
}

/// Renders a scalar at Mesos's three-decimal precision (`4`, `0.5`, `0.3`).
pub(super) fn format_scalar(value: f64) -> String {
    format!("{}", super::round3(value))
}

pub(super) fn to_text(resources: &Resources) -> String {
    let mut items = Vec::new();
    for (name, value) in [
        (Name::Cpus, resources.cpus),
        (Name::Mem, resources.mem_mb),
        (Name::Disk, resources.disk_mb),
    ] {
        if super::millis(value) != 0 {
            items.push(format!("{}:{}", name.as_str(), format_scalar(value)));
        }
    }
    if !resources.ports.is_empty() {
        items.push(format!(
            "ports:[{}]",
            ranges::format_ranges(&resources.ports)
        ));
    }
    items.join("; ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Resources, ResourcesError> {
        Resources::parse_text(text)
    }

    #[test]
    fn test_parse_full_spec() {
        let parsed = parse("cpus:4;mem:4096;disk:20000;ports:[31000-32000]").unwrap();
        assert_eq!(
            parsed,
            Resources {
                cpus: 4.0,
                mem_mb: 4096.0,
                disk_mb: 20000.0,
                ports: vec![PortRange::new(31000, 32000)],
            }
        );
    }

    #[test]
    fn test_parse_ranges_roles_spaces_and_duplicates() {
        let parsed =
            parse("cpus(*):0.5; ports:[32000-32010, 31000-31005]; cpus:1.5;ports(*):[31006]")
                .unwrap();
        assert_eq!(parsed.cpus, 2.0);
        assert_eq!(
            parsed.ports,
            vec![PortRange::new(31000, 31006), PortRange::new(32000, 32010)]
        );
        assert_eq!(parse(" ; ").unwrap(), Resources::default());
    }

    #[test]
    fn test_parse_errors() {
        assert!(matches!(parse("gpus:1"), Err(ResourcesError::UnknownName(n)) if n == "gpus"));
        assert!(matches!(parse("cpus"), Err(ResourcesError::Syntax { .. })));
        assert!(matches!(
            parse("cpus(*:1"),
            Err(ResourcesError::Syntax { .. })
        ));
        assert!(matches!(
            parse("cpus(web):1"),
            Err(ResourcesError::Role { role, .. }) if role == "web"
        ));
        assert!(matches!(
            parse("cpus:-1"),
            Err(ResourcesError::BadScalar { .. })
        ));
        assert!(matches!(
            parse("cpus:NaN"),
            Err(ResourcesError::BadScalar { .. })
        ));
        assert!(matches!(
            parse("mem:lots"),
            Err(ResourcesError::BadScalar { .. })
        ));
        assert!(matches!(
            parse("cpus:[1-2]"),
            Err(ResourcesError::WrongType { .. })
        ));
        assert!(matches!(
            parse("ports:31000"),
            Err(ResourcesError::WrongType { .. })
        ));
        assert!(matches!(
            parse("ports:[2-1]"),
            Err(ResourcesError::BadRange { .. })
        ));
        assert!(matches!(
            parse("ports:[1-70000]"),
            Err(ResourcesError::BadRange { .. })
        ));
        assert!(matches!(
            parse("ports:[a-b]"),
            Err(ResourcesError::BadRange { .. })
        ));
    }

    #[test]
    fn test_error_names_the_resource() {
        let err = parse("cpus:1;gpus:1").unwrap_err();
        assert!(err.to_string().contains("'gpus'"), "{err}");
    }

    #[test]
    fn test_to_text_round_trips() {
        let text = "cpus:0.3; mem:64; disk:10.5; ports:[31000-31005,32000-32010]";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.to_text(), text);
        assert_eq!(parse(&parsed.to_text()).unwrap(), parsed);
        assert_eq!(Resources::default().to_text(), "");
    }
}
