//! A small hand-written argument parser: `--name=value`, `--name value`, `--flag`, `-f`, `--`.

use std::fmt;

/// One option a verb accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptSpec {
    pub name: &'static str,
    pub short: Option<char>,
    /// Takes a value (`--name=V` or `--name V`); otherwise a flag.
    pub value: bool,
}

impl OptSpec {
    pub const fn flag(name: &'static str) -> OptSpec {
        OptSpec {
            name,
            short: None,
            value: false,
        }
    }

    pub const fn value(name: &'static str) -> OptSpec {
        OptSpec {
            name,
            short: None,
            value: true,
        }
    }

    pub const fn short(self, c: char) -> OptSpec {
        OptSpec {
            short: Some(c),
            ..self
        }
    }
}

/// Options every verb accepts.
pub const COMMON: [OptSpec; 3] = [
    OptSpec::value("socket"),
    OptSpec::flag("json"),
    OptSpec::flag("help").short('h'),
];

/// A command line that does not fit the verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    UnknownOption(String),
    MissingValue(String),
    UnexpectedValue(String),
    BadValue {
        option: String,
        value: String,
        expected: &'static str,
    },
    MissingArgument(&'static str),
    ExtraArgument(String),
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::UnknownOption(o) => write!(f, "unknown option {o}"),
            ArgError::MissingValue(o) => write!(f, "option --{o} needs a value"),
            ArgError::UnexpectedValue(o) => write!(f, "option --{o} takes no value"),
            ArgError::BadValue {
                option,
                value,
                expected,
            } => write!(f, "bad value {value:?} for {option}: expected {expected}"),
            ArgError::MissingArgument(what) => write!(f, "missing {what}"),
            ArgError::ExtraArgument(a) => write!(f, "unexpected argument {a:?}"),
        }
    }
}

impl std::error::Error for ArgError {}

/// The options and positional arguments found, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub opts: Vec<(&'static str, Option<String>)>,
    pub positional: Vec<String>,
}

impl Parsed {
    pub fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| *n == name)
    }

    /// The last value given for `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values(name).last().copied()
    }

    /// Every value given for a repeatable option, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.opts
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// Exactly `names.len()` required positionals followed by up to `optional` more.
    pub fn expect_positional(
        &self,
        names: &[&'static str],
        optional: usize,
    ) -> Result<(), ArgError> {
        if let Some(missing) = names.get(self.positional.len()) {
            return Err(ArgError::MissingArgument(missing));
        }
        match self.positional.get(names.len() + optional) {
            Some(extra) => Err(ArgError::ExtraArgument(extra.clone())),
            None => Ok(()),
        }
    }
}

/// True when the command line asks for help (before any `--`).
pub fn wants_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--help" || a == "-h")
}

/// Parses `args` against the verb's `specs` plus [`COMMON`]. With `stop_at_positional`, the first
/// positional argument and everything after it are positional (for `launch CMD ARGS...`).
pub fn parse(
    args: &[String],
    specs: &[OptSpec],
    stop_at_positional: bool,
) -> Result<Parsed, ArgError> {
    let find_long = |name: &str| {
        specs
            .iter()
            .chain(&COMMON)
            .find(|s| s.name == name)
            .copied()
    };
    let find_short = |c: char| {
        specs
            .iter()
            .chain(&COMMON)
            .find(|s| s.short == Some(c))
            .copied()
    };
    let mut parsed = Parsed::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            parsed.positional.extend(rest.cloned());
            break;
        }
        let (spec, attached) = if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = find_long(name).ok_or_else(|| ArgError::UnknownOption(arg.clone()))?;
            (spec, value)
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut chars = short.chars();
            let spec = chars
                .next()
                .and_then(find_short)
                .ok_or_else(|| ArgError::UnknownOption(arg.clone()))?;
            let tail = chars.as_str();
            match (spec.value, tail.is_empty()) {
                (_, true) => (spec, None),
                (true, false) => (spec, Some(tail.to_string())),
                (false, false) => return Err(ArgError::UnknownOption(arg.clone())),
            }
        } else {
            parsed.positional.push(arg.clone());
            if stop_at_positional {
                parsed.positional.extend(rest.cloned());
                break;
            }
            continue;
        };
        let value = match (spec.value, attached) {
            (true, Some(v)) => Some(v),
            (true, None) => Some(
                rest.next()
                    .cloned()
                    .ok_or_else(|| ArgError::MissingValue(spec.name.to_string()))?,
            ),
            (false, Some(_)) => return Err(ArgError::UnexpectedValue(spec.name.to_string())),
            (false, None) => None,
        };
        parsed.opts.push((spec.name, value));
    }
    Ok(parsed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SPECS: [OptSpec; 3] = [
        OptSpec::value("cpus"),
        OptSpec::value("env"),
        OptSpec::flag("follow").short('f'),
    ];

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn parses_long_short_and_positional() {
        let p = parse(
            &args(&[
                "--cpus=0.5",
                "--env",
                "A=1",
                "-f",
                "--env=B=2",
                "web-1",
                "--json",
            ]),
            &SPECS,
            false,
        )
        .unwrap();
        assert_eq!(p.value("cpus"), Some("0.5"));
        assert_eq!(p.values("env"), vec!["A=1", "B=2"]);
        assert!(p.flag("follow") && p.flag("json") && !p.flag("help"));
        assert_eq!(p.positional, vec!["web-1"]);
    }

    #[test]
    fn double_dash_and_stop_at_positional_end_option_parsing() {
        let p = parse(&args(&["--cpus=1", "--", "ls", "--json"]), &SPECS, false).unwrap();
        assert_eq!(p.positional, vec!["ls", "--json"]);
        assert!(!p.flag("json"));
        let p = parse(&args(&["sleep", "--cpus=1"]), &SPECS, true).unwrap();
        assert_eq!(p.positional, vec!["sleep", "--cpus=1"]);
        assert_eq!(p.value("cpus"), None);
    }

    #[test]
    fn reports_bad_command_lines() {
        assert_eq!(
            parse(&args(&["--bogus"]), &SPECS, false),
            Err(ArgError::UnknownOption("--bogus".to_string()))
        );
        assert_eq!(
            parse(&args(&["--cpus"]), &SPECS, false),
            Err(ArgError::MissingValue("cpus".to_string()))
        );
        assert_eq!(
            parse(&args(&["--json=yes"]), &SPECS, false),
            Err(ArgError::UnexpectedValue("json".to_string()))
        );
        assert_eq!(
            parse(&args(&["-x"]), &SPECS, false),
            Err(ArgError::UnknownOption("-x".to_string()))
        );
    }

    #[test]
    fn positional_counts_are_checked() {
        let p = parse(&args(&["a", "b", "c"]), &SPECS, false).unwrap();
        assert_eq!(p.expect_positional(&["ID"], 2), Ok(()));
        assert_eq!(
            p.expect_positional(&["ID"], 1),
            Err(ArgError::ExtraArgument("c".to_string()))
        );
        assert_eq!(
            Parsed::default().expect_positional(&["ID"], 0),
            Err(ArgError::MissingArgument("ID"))
        );
    }

    #[test]
    fn help_is_found_before_double_dash_only() {
        assert!(wants_help(&args(&["x", "-h"])));
        assert!(!wants_help(&args(&["--", "ls", "--help"])));
    }
}
