//! Reading settings from their three sources and layering them over the defaults:
//! command line > `MESOLITE_<NAME>` environment > conf file > default.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, Source};
use super::spec::FlagSpec;
use super::Flags;
use crate::sys::bounded::{read_named, ReadError, ReadProblem};

/// The largest conf file read (ours is a few KiB of comments).
const MAX_CONF: u64 = 1 << 20;

/// Prefix of the environment variables that set flags.
pub(super) const ENV_PREFIX: &str = "MESOLITE_";
/// Mesos's prefix, read when no `MESOLITE_` variable sets the flag.
pub(super) const MESOS_ENV_PREFIX: &str = "MESOS_";

/// One `name = value` from one source.
#[derive(Debug)]
pub(super) struct Setting {
    pub source: Source,
    pub spec: &'static FlagSpec,
    pub value: String,
}

/// `--name=value`, `--name` (booleans: true) and `--no-name` (booleans: false).
pub(super) fn parse_args(args: &[String]) -> Result<Vec<Setting>, ConfigError> {
    let mut settings: Vec<Setting> = Vec::new();
    for arg in args {
        let body = arg
            .strip_prefix("--")
            .filter(|body| !body.is_empty())
            .ok_or_else(|| ConfigError::UnexpectedArgument(arg.clone()))?;
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let (spec, value) = match (FlagSpec::find(name), value) {
            (Some(spec), Some(value)) => (spec, value.to_string()),
            (Some(spec), None) if spec.is_bool => (spec, "true".to_string()),
            (Some(spec), None) => {
                return Err(ConfigError::MissingValue {
                    name: spec.name.to_string(),
                })
            }
            (None, value) => negated(name, value.is_some())?,
        };
        if settings.iter().any(|s| s.spec.name == spec.name) {
            return Err(ConfigError::Duplicate {
                source: Source::CommandLine,
                name: spec.name.to_string(),
            });
        }
        settings.push(Setting {
            source: Source::CommandLine,
            spec,
            value,
        });
    }
    Ok(settings)
}

/// `--no-name` for an unknown `name`: false for a boolean flag, an error otherwise.
fn negated(name: &str, has_value: bool) -> Result<(&'static FlagSpec, String), ConfigError> {
    let unknown = || ConfigError::UnknownFlag {
        source: Source::CommandLine,
        name: name.to_string(),
    };
    let spec = name
        .strip_prefix("no-")
        .and_then(FlagSpec::find)
        .ok_or_else(unknown)?;
    if !spec.is_bool || has_value {
        return Err(ConfigError::NotBoolean {
            name: spec.name.to_string(),
        });
    }
    Ok((spec, "false".to_string()))
}

/// `MESOLITE_<NAME>` for each flag, else Mesos's own `MESOS_<NAME>` (so that a deployment
/// written for the Mesos agent, such as its Docker walkthrough, configures this one). Other
/// `MESOLITE_*` and `MESOS_*` variables are left alone, as Mesos ignores unknown `MESOS_*`
/// ones: they may be meant for other programs (`MESOS_MASTER` has no meaning here).
pub(super) fn env_settings(env: &[(String, String)]) -> Vec<Setting> {
    let mut settings = Vec::new();
    for spec in super::SPECS {
        let name = spec.name.to_ascii_uppercase();
        for prefix in [ENV_PREFIX, MESOS_ENV_PREFIX] {
            let var = format!("{prefix}{name}");
            // The last definition wins, as getenv would see it.
            if let Some((_, value)) = env.iter().rev().find(|(key, _)| *key == var) {
                settings.push(Setting {
                    source: Source::Env(var),
                    spec,
                    value: value.clone(),
                });
                break;
            }
        }
    }
    settings
}

/// Reads `name = value` lines; `#` starts a comment (at line start, or after whitespace).
pub(super) fn read_file(path: &Path) -> Result<Vec<Setting>, ConfigError> {
    let bytes = read_named(path, MAX_CONF).map_err(ConfigError::ReadConfig)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        ConfigError::ReadConfig(ReadError {
            path: path.to_path_buf(),
            problem: ReadProblem::Read(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        })
    })?;
    let mut settings: Vec<Setting> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let source = Source::File {
            path: path.to_path_buf(),
            line: index + 1,
        };
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                line: index + 1,
                text: raw.trim().to_string(),
            });
        };
        let name = name.trim();
        let spec = FlagSpec::find(name).ok_or_else(|| ConfigError::UnknownFlag {
            source: source.clone(),
            name: name.to_string(),
        })?;
        // The file cannot name another file: its path must be known before it is read.
        if spec.name == "config" {
            return Err(ConfigError::NotAllowed {
                source,
                name: name.to_string(),
            });
        }
        if settings.iter().any(|s| s.spec.name == spec.name) {
            return Err(ConfigError::Duplicate {
                source,
                name: name.to_string(),
            });
        }
        settings.push(Setting {
            source,
            spec,
            value: value.trim().to_string(),
        });
    }
    Ok(settings)
}

fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(at) => &line[..at],
        None => line,
    }
}

fn apply(flags: &mut Flags, settings: &[Setting]) -> Result<(), ConfigError> {
    for setting in settings {
        (setting.spec.set)(flags, &setting.value).map_err(|reason| ConfigError::BadValue {
            source: setting.source.clone(),
            name: setting.spec.name.to_string(),
            value: setting.value.clone(),
            reason,
        })?;
    }
    Ok(())
}

/// The conf file's path: from the command line, else from `MESOLITE_CONFIG`.
pub(super) fn config_path(args: &[Setting], env: &[Setting]) -> Option<PathBuf> {
    args.iter()
        .chain(env)
        .find(|s| s.spec.name == "config" && !s.value.is_empty())
        .map(|s| PathBuf::from(&s.value))
}

/// Defaults, then the file at `config` (if any), then env, then the command line.
pub(super) fn build(
    args: &[Setting],
    env: &[Setting],
    config: Option<&Path>,
) -> Result<Flags, ConfigError> {
    let mut flags = Flags::from_defaults()?;
    if let Some(path) = config {
        apply(&mut flags, &read_file(path)?)?;
    }
    apply(&mut flags, env)?;
    apply(&mut flags, args)?;
    validate(&flags)?;
    Ok(flags)
}

/// Rules across flags, and paths handed to children (which run in other directories).
fn validate(flags: &Flags) -> Result<(), ConfigError> {
    for (name, path) in [
        ("work_dir", &flags.work_dir),
        ("runtime_dir", &flags.runtime_dir),
    ] {
        if !path.is_absolute() {
            return Err(ConfigError::Invalid {
                name,
                reason: format!("'{}' must be an absolute path", path.display()),
            });
        }
    }
    if flags.launcher == super::Launcher::Posix {
        if let Some(isolator) = flags.isolation.iter().find(|i| i.needs_linux_launcher()) {
            return Err(ConfigError::Invalid {
                name: "isolation",
                reason: format!("isolator '{isolator}' needs --launcher=linux"),
            });
        }
    }
    if flags.max_connections == 0 {
        return Err(ConfigError::Invalid {
            name: "max_connections",
            reason: "must be at least 1".to_string(),
        });
    }
    if flags.http_request_timeout.is_zero() {
        return Err(ConfigError::Invalid {
            name: "http_request_timeout",
            reason: "must be more than 0".to_string(),
        });
    }
    Ok(())
}
