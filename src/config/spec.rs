//! The machinery behind the flag table: how each value type parses and renders, and the
//! macro that turns one table into the `Flags` struct and the `SPECS` list that drives
//! parsing, `usage()`, `to_pairs()` and the conf-file test.

use std::path::PathBuf;
use std::time::Duration;

use super::isolation::{self, Isolator};
use super::kinds::{CgroupsRoot, ContainerLogger, Containerizer, Launcher, LoggingLevel, Recover};
use super::values;
use super::Flags;
use crate::resources::ResourceSpec;

/// A flag's value type: parsed from the text a user writes, rendered back the same way.
pub(super) trait FlagValue: Sized {
    /// Booleans also take `--name` and `--no-name` on the command line.
    const IS_BOOL: bool = false;
    fn parse_flag(text: &str) -> Result<Self, String>;
    fn render_flag(&self) -> String;
}

/// One row of the flag table.
#[derive(Debug)]
pub(super) struct FlagSpec {
    pub name: &'static str,
    /// As written in the conf file; empty for "none".
    pub default: &'static str,
    pub help: &'static str,
    pub is_bool: bool,
    pub set: fn(&mut Flags, &str) -> Result<(), String>,
    pub get: fn(&Flags) -> String,
}

impl FlagSpec {
    pub fn find(name: &str) -> Option<&'static FlagSpec> {
        super::SPECS.iter().find(|spec| spec.name == name)
    }
}

/// `define_flags! { /// help \n name: Type = "default"; ... }` declares `pub struct Flags`, one
/// field per row (documented by its help line), `static SPECS` and `Flags::from_defaults()`.
macro_rules! define_flags {
    ($( #[doc = $help:literal] $name:ident : $ty:ty = $default:literal ; )*) => {
        /// The agent's settings, one typed field per flag (Mesos names).
        #[derive(Debug, Clone, PartialEq)]
        pub struct Flags {
            $( #[doc = $help] pub $name: $ty, )*
        }

        static SPECS: &[spec::FlagSpec] = &[
            $( spec::FlagSpec {
                name: stringify!($name),
                default: $default,
                help: $help,
                is_bool: <$ty as spec::FlagValue>::IS_BOOL,
                set: |flags, text| {
                    flags.$name = <$ty as spec::FlagValue>::parse_flag(text)?;
                    Ok(())
                },
                get: |flags| spec::FlagValue::render_flag(&flags.$name),
            }, )*
        ];

        impl Flags {
            /// Every flag at its built-in default.
            pub fn from_defaults() -> Result<Flags, ConfigError> {
                Ok(Flags { $(
                    $name: <$ty as spec::FlagValue>::parse_flag($default).map_err(|reason| {
                        ConfigError::BadValue {
                            source: Source::Default,
                            name: stringify!($name).to_string(),
                            value: $default.to_string(),
                            reason,
                        }
                    })?,
                )* })
            }
        }
    };
}

pub(super) use define_flags;

impl FlagValue for bool {
    const IS_BOOL: bool = true;

    /// stout's spellings.
    fn parse_flag(text: &str) -> Result<Self, String> {
        match text {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err("expected 'true' or 'false'".to_string()),
        }
    }

    fn render_flag(&self) -> String {
        self.to_string()
    }
}

impl FlagValue for String {
    fn parse_flag(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must not be empty".to_string());
        }
        Ok(text.to_string())
    }

    fn render_flag(&self) -> String {
        self.clone()
    }
}

impl FlagValue for PathBuf {
    fn parse_flag(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must not be empty".to_string());
        }
        Ok(PathBuf::from(text))
    }

    fn render_flag(&self) -> String {
        self.display().to_string()
    }
}

impl FlagValue for u32 {
    fn parse_flag(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "expected a whole number from 0 to 4294967295".to_string())
    }

    fn render_flag(&self) -> String {
        self.to_string()
    }
}

impl FlagValue for u16 {
    fn parse_flag(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "expected a whole number from 0 to 65535".to_string())
    }

    fn render_flag(&self) -> String {
        self.to_string()
    }
}

impl FlagValue for std::net::IpAddr {
    fn parse_flag(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "expected an IPv4 or IPv6 address, e.g. 0.0.0.0 or 127.0.0.1".to_string())
    }

    fn render_flag(&self) -> String {
        self.to_string()
    }
}

impl FlagValue for Duration {
    fn parse_flag(text: &str) -> Result<Self, String> {
        values::parse_duration(text).map_err(|err| err.to_string())
    }

    fn render_flag(&self) -> String {
        values::format_duration(*self)
    }
}

impl FlagValue for values::Bytes {
    fn parse_flag(text: &str) -> Result<Self, String> {
        values::Bytes::parse(text).map_err(|err| err.to_string())
    }

    fn render_flag(&self) -> String {
        self.to_string()
    }
}

/// Optional flags: an empty value means "none".
impl<T: FlagValue> FlagValue for Option<T> {
    fn parse_flag(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(None);
        }
        T::parse_flag(text).map(Some)
    }

    fn render_flag(&self) -> String {
        self.as_ref().map(T::render_flag).unwrap_or_default()
    }
}

impl FlagValue for Vec<Isolator> {
    fn parse_flag(text: &str) -> Result<Self, String> {
        isolation::parse_isolation(text)
    }

    fn render_flag(&self) -> String {
        isolation::format_isolation(self)
    }
}

impl FlagValue for Vec<Containerizer> {
    fn parse_flag(text: &str) -> Result<Self, String> {
        Containerizer::parse_list(text)
    }

    fn render_flag(&self) -> String {
        let names: Vec<&str> = self.iter().map(Containerizer::name).collect();
        names.join(",")
    }
}

/// Implements `FlagValue` for a type with `parse(&str) -> Result<Self, String>` and `name()`.
macro_rules! named_flag_value {
    ($($ty:ty),*) => { $(
        impl FlagValue for $ty {
            fn parse_flag(text: &str) -> Result<Self, String> {
                <$ty>::parse(text)
            }

            fn render_flag(&self) -> String {
                self.name().to_string()
            }
        }
    )* };
}

named_flag_value!(Launcher, Recover, LoggingLevel, ContainerLogger);

impl FlagValue for CgroupsRoot {
    fn parse_flag(text: &str) -> Result<Self, String> {
        CgroupsRoot::parse(text)
    }

    fn render_flag(&self) -> String {
        self.to_string()
    }
}

impl FlagValue for ResourceSpec {
    fn parse_flag(text: &str) -> Result<Self, String> {
        ResourceSpec::parse(text).map_err(|err| err.to_string())
    }

    fn render_flag(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bool_spellings() {
        assert_eq!(bool::parse_flag("true"), Ok(true));
        assert_eq!(bool::parse_flag("1"), Ok(true));
        assert_eq!(bool::parse_flag("false"), Ok(false));
        assert_eq!(bool::parse_flag("0"), Ok(false));
        assert!(bool::parse_flag("yes").is_err());
    }

    #[test]
    fn test_option_empty_is_none() {
        assert_eq!(Option::<PathBuf>::parse_flag(""), Ok(None));
        assert_eq!(
            Option::<PathBuf>::parse_flag("/x"),
            Ok(Some(PathBuf::from("/x")))
        );
        assert_eq!(Option::<PathBuf>::None.render_flag(), "");
        assert!(PathBuf::parse_flag("").is_err());
    }

    #[test]
    fn test_u32() {
        assert_eq!(u32::parse_flag("1024"), Ok(1024));
        assert!(u32::parse_flag("-1").is_err());
        assert!(u32::parse_flag("10k").is_err());
    }
}
