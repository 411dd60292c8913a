//! Value syntaxes shared by flags and resources, as Mesos's stout writes them: durations
//! (`5secs`, `0.5secs`, `100ms`) and byte sizes (`512B`, `64KB`, `2GB`, powers of 1024).

use std::fmt;
use std::time::Duration;

/// A value that does not parse as a duration or a byte size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseValueError {
    /// Nothing before the unit (or nothing at all).
    MissingNumber(String),
    /// The number part is not a finite, non-negative number.
    BadNumber(String),
    /// The unit is missing or not one of the known ones.
    BadUnit {
        text: String,
        expected: &'static str,
    },
    /// The value does not fit in 64 bits.
    TooLarge(String),
}

impl fmt::Display for ParseValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingNumber(text) => write!(f, "'{text}' has no number"),
            Self::BadNumber(text) => {
                write!(f, "'{text}' does not start with a non-negative number")
            }
            Self::BadUnit { text, expected } => {
                write!(f, "'{text}' needs a unit, one of {expected}")
            }
            Self::TooLarge(text) => write!(f, "'{text}' is too large"),
        }
    }
}

impl std::error::Error for ParseValueError {}

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Mesos duration units, largest first so rendering picks the largest exact one.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("weeks", 7 * 24 * 3600 * NANOS_PER_SEC),
    ("days", 24 * 3600 * NANOS_PER_SEC),
    ("hrs", 3600 * NANOS_PER_SEC),
    ("mins", 60 * NANOS_PER_SEC),
    ("secs", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

const DURATION_UNIT_NAMES: &str = "ns, us, ms, secs, mins, hrs, days, weeks";

/// Byte units, largest first (Mesos's `Bytes`: powers of 1024).
const BYTE_UNITS: &[(&str, u64)] = &[
    ("TB", 1 << 40),
    ("GB", 1 << 30),
    ("MB", 1 << 20),
    ("KB", 1 << 10),
    ("B", 1),
];

const BYTE_UNIT_NAMES: &str = "B, KB, MB, GB, TB";

/// Splits `5secs` into `(5.0, "secs")`; the number may be fractional but not negative.
fn split_number(text: &str) -> Result<(f64, &str), ParseValueError> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    if number.is_empty() {
        return Err(ParseValueError::MissingNumber(text.to_string()));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| ParseValueError::BadNumber(text.to_string()))?;
    if !value.is_finite() {
        return Err(ParseValueError::BadNumber(text.to_string()));
    }
    Ok((value, unit))
}

/// Multiplies `value` by `unit`, refusing results that do not fit a u64.
fn scale(text: &str, value: f64, unit: u64) -> Result<u64, ParseValueError> {
    let scaled = (value * unit as f64).round();
    // u64::MAX as f64 rounds up to 2^64, so `>=` is the exact bound.
    if scaled >= u64::MAX as f64 {
        return Err(ParseValueError::TooLarge(text.to_string()));
    }
    Ok(scaled as u64)
}

fn lookup(
    text: &str,
    unit: &str,
    units: &[(&str, u64)],
    expected: &'static str,
) -> Result<u64, ParseValueError> {
    units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, size)| *size)
        .ok_or_else(|| ParseValueError::BadUnit {
            text: text.to_string(),
            expected,
        })
}

/// Parses a Mesos duration such as `5secs`, `1mins`, `100ms` or `0.5secs`.
pub fn parse_duration(text: &str) -> Result<Duration, ParseValueError> {
    let (value, unit) = split_number(text)?;
    let unit = lookup(text, unit, DURATION_UNITS, DURATION_UNIT_NAMES)?;
    Ok(Duration::from_nanos(scale(text, value, unit)?))
}

/// Renders a duration in the largest Mesos unit that holds it exactly, so it parses back
/// to the same value (`90secs`, not a rounded `1.5mins`).
pub fn format_duration(duration: Duration) -> String {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    format_exact(nanos, DURATION_UNITS)
}

fn format_exact(amount: u64, units: &[(&'static str, u64)]) -> String {
    // Zero has no exact larger unit; it takes the smallest one (`0ns`, `0B`).
    let (name, size) = units
        .iter()
        .find(|(_, size)| amount >= *size && amount % size == 0)
        .or(units.last())
        .copied()
        .unwrap_or(("", 1));
    format!("{}{name}", amount / size)
}

/// A byte count, written as Mesos writes it (`512B`, `64KB`, `2GB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub u64);

impl Bytes {
    /// Parses `512B`, `64KB`, `2MB`, `1.5GB`, `1TB`; the unit is required.
    pub fn parse(text: &str) -> Result<Bytes, ParseValueError> {
        let (value, unit) = split_number(text)?;
        let unit = lookup(text, unit, BYTE_UNITS, BYTE_UNIT_NAMES)?;
        Ok(Bytes(scale(text, value, unit)?))
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_exact(self.0, BYTE_UNITS))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_parse_duration() {
        assert_eq!(parse_duration("5secs"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1mins"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("0.5secs"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2hrs"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1days"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1weeks"), Ok(Duration::from_secs(604800)));
        assert_eq!(parse_duration("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_duration("0ns"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 3secs "), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn test_parse_duration_errors() {
        assert!(matches!(
            parse_duration("5"),
            Err(ParseValueError::BadUnit { .. })
        ));
        assert!(matches!(
            parse_duration("5s"),
            Err(ParseValueError::BadUnit { .. })
        ));
        assert!(matches!(
            parse_duration("secs"),
            Err(ParseValueError::MissingNumber(_))
        ));
        assert!(matches!(
            parse_duration("-1secs"),
            Err(ParseValueError::MissingNumber(_))
        ));
        assert!(matches!(
            parse_duration("1.2.3secs"),
            Err(ParseValueError::BadNumber(_))
        ));
        assert!(matches!(
            parse_duration("99999999999weeks"),
            Err(ParseValueError::TooLarge(_))
        ));
        assert!(matches!(
            parse_duration(""),
            Err(ParseValueError::MissingNumber(_))
        ));
    }

    #[test]
    fn test_format_duration_round_trips() {
        assert_eq!(format_duration(Duration::from_secs(5)), "5secs");
        assert_eq!(format_duration(Duration::from_secs(90)), "90secs");
        assert_eq!(format_duration(Duration::from_secs(120)), "2mins");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(604800)), "1weeks");
        assert_eq!(format_duration(Duration::ZERO), "0ns");
        for text in ["5secs", "30secs", "100ms", "3days", "17ns", "2hrs"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(format_duration(parsed), text);
        }
    }

    #[test]
    fn test_bytes_parse() {
        assert_eq!(Bytes::parse("512B"), Ok(Bytes(512)));
        assert_eq!(Bytes::parse("64KB"), Ok(Bytes(64 * 1024)));
        assert_eq!(Bytes::parse("2MB"), Ok(Bytes(2 << 20)));
        assert_eq!(Bytes::parse("2GB"), Ok(Bytes(2 << 30)));
        assert_eq!(Bytes::parse("1TB"), Ok(Bytes(1 << 40)));
        assert_eq!(Bytes::parse("1.5GB"), Ok(Bytes(3 << 29)));
        assert!(matches!(
            Bytes::parse("10"),
            Err(ParseValueError::BadUnit { .. })
        ));
        assert!(matches!(
            Bytes::parse("10kb"),
            Err(ParseValueError::BadUnit { .. })
        ));
        assert!(matches!(
            Bytes::parse("GB"),
            Err(ParseValueError::MissingNumber(_))
        ));
    }

    #[test]
    fn test_bytes_display() {
        assert_eq!(Bytes(0).to_string(), "0B");
        assert_eq!(Bytes(512).to_string(), "512B");
        assert_eq!(Bytes(2 << 30).to_string(), "2GB");
        assert_eq!(Bytes(1536).to_string(), "1536B");
        assert_eq!(Bytes(3 << 29).to_string(), "1536MB");
        assert_eq!(
            Bytes::parse(&Bytes(1 << 40).to_string()),
            Ok(Bytes(1 << 40))
        );
    }
}
