//! Marathon's placement constraints, `[field, operator, value?]`: parsed and validated with
//! Marathon's rules and messages (`SchedulingValidation`), and checked against a node the way
//! Marathon's `Constraints.meetsConstraint` checks an offer.
//!
//! The field is `hostname` (or Marathon's newer `@hostname`) or an attribute name; a node
//! without the attribute is accepted by `UNLIKE` only. Values compare as text (see
//! [`crate::fleet::attributes::Value::to_constraint_text`]).

use std::collections::BTreeMap;
use std::fmt;

use super::regex::{Regex, RegexError};
use crate::apps::{Invalid, Violation};

/// What a constraint reads from a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Hostname,
    Attribute(String),
}

/// The operator, with its parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    /// No two instances on the same field value.
    Unique,
    /// All instances on that value; without one, on the value of the first placed.
    Cluster(Option<String>),
    /// Even spread over the field's values; the value is the minimum number of groups.
    GroupBy(u32),
    /// The field's value matches the regex (whole value).
    Like(Regex),
    /// The field's value does not match, or the node lacks the attribute.
    Unlike(Regex),
    /// At most N instances per field value.
    MaxPer(i32),
    /// The field's value is exactly this.
    Is(String),
}

/// One constraint as posted and as parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub field: Field,
    pub operator: Operator,
    /// The array as posted, for messages (`hostname:UNIQUE`).
    written: Vec<String>,
}

/// Why a constraint was refused; `index` is its place in `constraints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintError {
    pub index: usize,
    pub kind: ConstraintErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstraintErrorKind {
    FieldCount,
    EmptyField,
    UnknownOperator(String),
    UniqueTakesNoValue,
    MissingRegex,
    BadRegex { pattern: String, error: RegexError },
    MaxPerNotInteger,
    GroupByNotInteger,
    IsNotText,
    IsMissingValue,
}

impl ConstraintError {
    /// Marathon's path of the constraint, for a 422: `/constraints(0)`.
    pub fn path(&self) -> String {
        format!("/constraints({})", self.index)
    }

    /// The errors as Marathon's 422 body, one violation per constraint path.
    pub fn to_invalid(errors: &[ConstraintError]) -> Invalid {
        Invalid {
            violations: errors
                .iter()
                .map(|e| Violation {
                    path: e.path(),
                    errors: vec![e.to_string()],
                })
                .collect(),
        }
    }
}

impl fmt::Display for ConstraintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConstraintErrorKind as K;
        match &self.kind {
            K::FieldCount => f.write_str("Each constraint must have either 2 or 3 fields"),
            K::EmptyField => f.write_str("illegal constraint specification"),
            K::UnknownOperator(op) => write!(
                f,
                "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, \
                 UNLIKE or IS (got '{op}')"
            ),
            K::UniqueTakesNoValue => f.write_str("UNIQUE does not accept a value"),
            K::MissingRegex => {
                f.write_str("LIKE and UNLIKE require a non-empty, regular expression value")
            }
            K::BadRegex { pattern, error } => write!(
                f,
                "'{pattern}' is not a valid regular expression ({error}; supported: . * + ? {{n,m}} \
                 | ( ) [ ] \\d \\w \\s ^ $)"
            ),
            K::MaxPerNotInteger => f.write_str("MAX_PER requires an integer value"),
            K::GroupByNotInteger => {
                f.write_str("GROUP BY must define an integer value or else no value at all")
            }
            K::IsNotText => f.write_str(
                "IS only supports Mesos text and float values (see \
                 http://mesos.apache.org/documentation/latest/attributes-resources/)",
            ),
            K::IsMissingValue => f.write_str("IS requires a value"),
        }
    }
}

impl std::error::Error for ConstraintError {}

/// Parses an app's `constraints`; every refused one is reported.
pub fn parse_constraints(arrays: &[Vec<String>]) -> Result<Vec<Constraint>, Vec<ConstraintError>> {
    let mut parsed = Vec::with_capacity(arrays.len());
    let mut errors = Vec::new();
    for (index, array) in arrays.iter().enumerate() {
        match Constraint::parse(array) {
            Ok(c) => parsed.push(c),
            Err(kind) => errors.push(ConstraintError { index, kind }),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

fn java_int(value: &str) -> Option<i32> {
    // Java's Integer.parseInt: an optional sign and decimal digits, within i32.
    value.parse().ok()
}

impl Constraint {
    /// One `[field, operator, value?]` array; the operator is case-insensitive, as in Marathon.
    pub fn parse(array: &[String]) -> Result<Constraint, ConstraintErrorKind> {
        use ConstraintErrorKind as K;
        if !(2..=3).contains(&array.len()) {
            return Err(K::FieldCount);
        }
        let (field, op, value) = (&array[0], &array[1], array.get(2).map(String::as_str));
        if field.is_empty() {
            return Err(K::EmptyField);
        }
        let operator = match op.to_ascii_uppercase().as_str() {
            "UNIQUE" if value.is_some() => return Err(K::UniqueTakesNoValue),
            "UNIQUE" => Operator::Unique,
            "CLUSTER" => Operator::Cluster(value.filter(|v| !v.is_empty()).map(String::from)),
            "GROUP_BY" => match value {
                None => Operator::GroupBy(0),
                Some(v) => {
                    let minimum = java_int(v).ok_or(K::GroupByNotInteger)?;
                    Operator::GroupBy(u32::try_from(minimum).unwrap_or(0))
                }
            },
            "MAX_PER" => Operator::MaxPer(value.and_then(java_int).ok_or(K::MaxPerNotInteger)?),
            "LIKE" | "UNLIKE" => {
                let pattern = value.filter(|v| !v.is_empty()).ok_or(K::MissingRegex)?;
                let regex = Regex::new(pattern).map_err(|error| K::BadRegex {
                    pattern: pattern.to_string(),
                    error,
                })?;
                if op.eq_ignore_ascii_case("LIKE") {
                    Operator::Like(regex)
                } else {
                    Operator::Unlike(regex)
                }
            }
            "IS" => {
                let v = value.filter(|v| !v.is_empty()).ok_or(K::IsMissingValue)?;
                let text =
                    |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-');
                if !v.chars().all(text) {
                    return Err(K::IsNotText);
                }
                Operator::Is(v.to_string())
            }
            _ => return Err(K::UnknownOperator(op.clone())),
        };
        let field = match field.as_str() {
            "hostname" | "@hostname" => Field::Hostname,
            name => Field::Attribute(name.to_string()),
        };
        Ok(Constraint {
            field,
            operator,
            written: array.to_vec(),
        })
    }

    /// Whether a node whose field reads `offer` (`None`: it lacks the attribute) may take
    /// one more instance, given the instances already placed as this field sees them.
    pub fn accepts(&self, offer: Option<&str>, placed: &FieldCounts) -> bool {
        let Some(offer) = offer else {
            // Only UNLIKE takes a node that lacks the attribute.
            return matches!(self.operator, Operator::Unlike(_));
        };
        let here = placed.count(Some(offer));
        match &self.operator {
            Operator::Unique => here == 0,
            Operator::Cluster(Some(value)) => offer == value,
            Operator::Cluster(None) => placed.first().is_none_or(|first| first == Some(offer)),
            // A value not used yet always may be; a used one only if it is among the smallest
            // groups and at least `minimum` groups are in use.
            Operator::GroupBy(minimum) => {
                here == 0 || (placed.groups() >= *minimum as usize && here == placed.smallest())
            }
            // Marathon: a value not used yet is accepted whatever the maximum.
            Operator::MaxPer(max) => {
                here == 0 || i64::try_from(here).unwrap_or(i64::MAX) < i64::from(*max)
            }
            Operator::Like(regex) => regex.full_match(offer),
            Operator::Unlike(regex) => !regex.full_match(offer),
            Operator::Is(value) => offer == value,
        }
    }

    /// Whether this is a `GROUP_BY` (the one operator that steers which instances go first
    /// when scaling down).
    pub fn is_group_by(&self) -> bool {
        matches!(self.operator, Operator::GroupBy(_))
    }
}

/// The instances placed so far as one field sees them: how many on each value (`None`: on
/// nodes without the attribute, one group of their own, as in Marathon), and the value of the
/// first placed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldCounts {
    counts: BTreeMap<String, usize>,
    missing: usize,
    first: Option<Option<String>>,
}

impl FieldCounts {
    pub fn add(&mut self, value: Option<&str>) {
        if self.first.is_none() {
            self.first = Some(value.map(String::from));
        }
        match value {
            Some(v) => *self.counts.entry(v.to_string()).or_insert(0) += 1,
            None => self.missing += 1,
        }
    }

    /// Takes one instance away (scaling down); the first placed's value is kept.
    pub fn remove(&mut self, value: Option<&str>) {
        match value {
            Some(v) => {
                if let Some(n) = self.counts.get_mut(v) {
                    *n -= 1;
                    if *n == 0 {
                        self.counts.remove(v);
                    }
                }
            }
            None => self.missing = self.missing.saturating_sub(1),
        }
    }

    pub fn count(&self, value: Option<&str>) -> usize {
        match value {
            Some(v) => self.counts.get(v).copied().unwrap_or(0),
            None => self.missing,
        }
    }

    /// How many values have instances.
    pub fn groups(&self) -> usize {
        self.counts.len() + usize::from(self.missing > 0)
    }

    /// The size of the smallest group (0 for none).
    pub fn smallest(&self) -> usize {
        let present = self.counts.values().copied();
        let missing = (self.missing > 0).then_some(self.missing);
        present.chain(missing).min().unwrap_or(0)
    }

    /// The value of the first instance placed, if any was.
    pub fn first(&self) -> Option<Option<&str>> {
        self.first.as_ref().map(Option::as_deref)
    }
}

/// Marathon's text form, `hostname:UNIQUE`, `rack_id:CLUSTER:rack-1`.
impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written.join(":"))
    }
}
