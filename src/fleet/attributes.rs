//! A node's attributes, Mesos's `--attributes` (`rack:r1;zone:a;cores:4;slots:[1-8]`): named
//! TEXT, SCALAR or RANGES values that the agent only passes along, for placement constraints
//! (`["rack", "GROUP_BY"]`) to read.
//!
//! The syntax is Mesos's (`attributes.cpp`, `values.cpp`): items split on `;` or newlines
//! (empty ones skipped), each `name:value` split at the first `:`, spaces removed from the
//! value; a value starting with `[` is RANGES, one that reads as a number is SCALAR (fixed
//! point, three decimals), anything else TEXT; SET (`{a,b}`) is refused as Mesos refuses it
//! for attributes. Stricter than Mesos, names and TEXT values must keep to the grammar Mesos
//! documents (`[a-zA-Z0-9_/.-]`): Mesos takes any other character silently, and a value such
//! as `a:b` could then never be named by a constraint (Marathon's `IS` takes only that set).
//!
//! A constraint compares values as text ([`Value::to_constraint_text`]), the way Marathon
//! does: TEXT as written, SCALAR in Mesos's shortest form (`4`, `2.5`), RANGES as `[1-8,10-12]`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    /// Rounded to three decimals, as Mesos keeps scalars.
    Scalar(f64),
    /// Inclusive `(begin, end)` ranges, sorted and merged.
    Ranges(Vec<(u64, u64)>),
}

impl Value {
    /// The text a constraint compares: Marathon's formatting of an attribute value.
    pub fn to_constraint_text(&self) -> String {
        match self {
            Value::Text(text) => text.clone(),
            Value::Scalar(value) => format_scalar(*value),
            Value::Ranges(ranges) => {
                let items: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
                format!("[{}]", items.join(","))
            }
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Scalar(value) => serde_json::json!(value),
            other => serde_json::Value::String(other.to_constraint_text()),
        }
    }
}

/// A named value.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: Value,
}

/// A node's attributes in the order given. A name may repeat (Mesos allows it but
/// discourages it); lookups find the first, as Marathon's do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes(Vec<Attribute>);

/// Why an `--attributes` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributesError {
    /// An item without a `:`, or with an empty name or value.
    NotAPair { item: String },
    /// A name outside `[a-zA-Z0-9_/.-]`.
    BadName { name: String },
    /// A TEXT value outside `[a-zA-Z0-9_/.-]`.
    BadText { name: String, value: String },
    /// A RANGES value that is not `[begin-end,...]` of non-negative integers, begin <= end.
    BadRanges { name: String, value: String },
    /// A SET value (`{a,b}`): Mesos does not take sets as attributes.
    Set { name: String },
}

impl fmt::Display for AttributesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAPair { item } => write!(
                f,
                "bad attribute '{item}': expected name:value with neither empty"
            ),
            Self::BadName { name } => write!(
                f,
                "bad attribute name '{name}': names are letters, digits and _ / . -"
            ),
            Self::BadText { name, value } => write!(
                f,
                "attribute '{name}' has value '{value}': text values are letters, digits and _ / . - \
                 (a number is a scalar, [begin-end,...] ranges)"
            ),
            Self::BadRanges { name, value } => write!(
                f,
                "attribute '{name}' has bad ranges '{value}': expected [begin-end,...] of \
                 non-negative integers with begin <= end"
            ),
            Self::Set { name } => write!(
                f,
                "attribute '{name}' is a set: attributes are text, scalar or ranges"
            ),
        }
    }
}

impl std::error::Error for AttributesError {}

impl Attributes {
    /// Parses Mesos's text form; an empty string is no attributes.
    pub fn parse(text: &str) -> Result<Attributes, AttributesError> {
        let mut list = Vec::new();
        for item in text.split([';', '\n']).filter(|i| !i.trim().is_empty()) {
            let not_a_pair = || AttributesError::NotAPair {
                item: item.trim().to_string(),
            };
            let (name, value) = item.split_once(':').ok_or_else(not_a_pair)?;
            let name = name.trim();
            let value: String = value.chars().filter(|c| *c != ' ').collect();
            if name.is_empty() || value.is_empty() {
                return Err(not_a_pair());
            }
            if !is_text(name) {
                return Err(AttributesError::BadName { name: name.into() });
            }
            let value = parse_value(name, &value)?;
            list.push(Attribute {
                name: name.to_string(),
                value,
            });
        }
        Ok(Attributes(list))
    }

    /// The first attribute of that name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Attribute> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Mesos's text form (`rack:r1;cores:4;slots:[1-8]`); it parses back to the same value.
    pub fn to_text(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|a| format!("{}:{}", a.name, a.value.to_constraint_text()))
            .collect();
        items.join(";")
    }

    /// The object Mesos's `/state` shows: scalars as numbers, text and ranges as strings.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        for a in &self.0 {
            object
                .entry(a.name.clone())
                .or_insert_with(|| a.value.to_json());
        }
        serde_json::Value::Object(object)
    }
}

impl fmt::Display for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Stored and exchanged (a node's record) as the text form.
impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Attributes::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Mesos's `text` grammar: `[a-zA-Z0-9_/.-]+`.
fn is_text(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-'))
}

fn parse_value(name: &str, value: &str) -> Result<Value, AttributesError> {
    if value.starts_with('{') {
        return Err(AttributesError::Set { name: name.into() });
    }
    if value.starts_with('[') {
        return parse_ranges(value).ok_or_else(|| AttributesError::BadRanges {
            name: name.into(),
            value: value.into(),
        });
    }
    if let Some(number) = parse_scalar(value) {
        return Ok(Value::Scalar(number));
    }
    if !is_text(value) {
        return Err(AttributesError::BadText {
            name: name.into(),
            value: value.into(),
        });
    }
    Ok(Value::Text(value.to_string()))
}

/// A number as Mesos reads one (digits, a point, an exponent, a sign), finite; `inf`, `nan`
/// and `1.2.3` stay text.
fn parse_scalar(value: &str) -> Option<f64> {
    let numeric = value
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !numeric || !value.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let number: f64 = value.parse().ok()?;
    number
        .is_finite()
        .then(|| (number * 1000.0).round() / 1000.0)
}

/// `[1-8,10-12]`: sorted and merged, as Mesos coalesces ranges.
fn parse_ranges(value: &str) -> Option<Value> {
    let body = value.strip_prefix('[')?.strip_suffix(']')?;
    let mut ranges = Vec::new();
    for item in body.split(',') {
        let (begin, end) = item.split_once('-')?;
        let (begin, end): (u64, u64) = (begin.parse().ok()?, end.parse().ok()?);
        if begin > end {
            return None;
        }
        ranges.push((begin, end));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (begin, end) in ranges {
        match merged.last_mut() {
            Some(last) if begin <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((begin, end)),
        }
    }
    Some(Value::Ranges(merged))
}

/// Mesos's shortest form of a three-decimal scalar: `4`, `2.5`, `0.125`.
fn format_scalar(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn text_of(attrs: &Attributes, name: &str) -> Option<String> {
        attrs.get(name).map(Value::to_constraint_text)
    }

    #[test]
    fn test_parse_text_scalar_and_ranges() {
        let attrs =
            Attributes::parse("rack:r1;zone:us-east-1a;cores:4;ratio:2.5;slots:[1-8]").unwrap();
        assert_eq!(attrs.get("rack"), Some(&Value::Text("r1".into())));
        assert_eq!(attrs.get("cores"), Some(&Value::Scalar(4.0)));
        assert_eq!(attrs.get("ratio"), Some(&Value::Scalar(2.5)));
        assert_eq!(attrs.get("slots"), Some(&Value::Ranges(vec![(1, 8)])));
        assert_eq!(text_of(&attrs, "zone").as_deref(), Some("us-east-1a"));
        assert_eq!(text_of(&attrs, "cores").as_deref(), Some("4"));
        assert_eq!(attrs.get("missing"), None);
    }

    #[test]
    fn test_mesos_tokenising_rules() {
        // Newlines separate like `;`, empty items are skipped, spaces inside values dropped,
        // the value is split at the first `:` only (so the rest must still be valid).
        let attrs = Attributes::parse("\nrack : r 1;;\nslots:[ 10-12 , 1-3, 4-5 ];").unwrap();
        assert_eq!(text_of(&attrs, "rack").as_deref(), Some("r1"));
        assert_eq!(text_of(&attrs, "slots").as_deref(), Some("[1-5,10-12]"));
        assert_eq!(Attributes::parse("").unwrap(), Attributes::default());
        assert!(matches!(
            Attributes::parse("zone:a:b"),
            Err(AttributesError::BadText { .. })
        ));
    }

    #[test]
    fn test_scalar_fixed_point_and_text_that_looks_numeric() {
        let attrs = Attributes::parse("a:0.1234;b:1e3;c:1.2.3;d:v2;e:007;f:-0.0001").unwrap();
        assert_eq!(text_of(&attrs, "a").as_deref(), Some("0.123"));
        assert_eq!(text_of(&attrs, "b").as_deref(), Some("1000"));
        assert_eq!(attrs.get("c"), Some(&Value::Text("1.2.3".into())));
        assert_eq!(attrs.get("d"), Some(&Value::Text("v2".into())));
        assert_eq!(text_of(&attrs, "e").as_deref(), Some("7"));
        assert_eq!(text_of(&attrs, "f").as_deref(), Some("0"));
        assert_eq!(
            Attributes::parse("x:inf").unwrap().get("x"),
            Some(&Value::Text("inf".into()))
        );
    }

    #[test]
    fn test_refusals() {
        let err = |s: &str| Attributes::parse(s).unwrap_err();
        assert!(matches!(err("rack"), AttributesError::NotAPair { .. }));
        assert!(matches!(err("rack:"), AttributesError::NotAPair { .. }));
        assert!(matches!(err(":r1"), AttributesError::NotAPair { .. }));
        assert!(matches!(err("ra ck:r1"), AttributesError::BadName { .. }));
        assert!(matches!(err("tags:{a,b}"), AttributesError::Set { .. }));
        for bad in ["s:[1-2", "s:[5-1]", "s:[a-b]", "s:[]", "s:[1]", "s:[-1-2]"] {
            assert!(
                matches!(err(bad), AttributesError::BadRanges { .. }),
                "{bad}"
            );
        }
        assert!(matches!(err("r:a[1]"), AttributesError::BadText { .. }));
        assert!(err("rack:r$1").to_string().contains("text values are"));
    }

    #[test]
    fn test_round_trip_json_and_serde() {
        let text = "rack:r1;cores:4;slots:[1-8,10-10]";
        let attrs = Attributes::parse(text).unwrap();
        assert_eq!(attrs.to_text(), text);
        assert_eq!(Attributes::parse(&attrs.to_text()).unwrap(), attrs);
        assert_eq!(
            attrs.to_json(),
            serde_json::json!({"rack": "r1", "cores": 4.0, "slots": "[1-8,10-10]"})
        );
        let json = serde_json::to_string(&attrs).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        let back: Attributes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, attrs);
        assert!(serde_json::from_str::<Attributes>("\"rack\"").is_err());
    }

    #[test]
    fn test_repeated_name_finds_the_first() {
        let attrs = Attributes::parse("rack:r1;rack:r2").unwrap();
        assert_eq!(text_of(&attrs, "rack").as_deref(), Some("r1"));
        assert_eq!(attrs.iter().count(), 2);
        assert_eq!(attrs.to_json(), serde_json::json!({"rack": "r1"}));
    }
}
