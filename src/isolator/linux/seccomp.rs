//! `linux/seccomp`: a seccomp filter on every task: the built-in deny-list, or a Docker-format
//! profile from `--seccomp_config_dir` (`--seccomp_profile_name` for all, `linux_info.seccomp`
//! per container, `unconfined` for none). Built for x86_64 only: on another architecture the
//! isolator refuses to start rather than run tasks unfiltered.

use std::path::{Path, PathBuf};

use super::super::{Feature, Isolator, IsolatorError, Plan, PrepareCtx};
use super::seccomp_profile;
use crate::spec::Seccomp;
use crate::sys::seccomp::{self as sys, Program};

#[derive(Debug)]
pub struct LinuxSeccomp {
    config_dir: Option<PathBuf>,
    /// The agent's default, compiled once.
    default: Program,
}

impl LinuxSeccomp {
    pub fn new(config_dir: Option<&Path>, profile: Option<&str>) -> Result<LinuxSeccomp, String> {
        sys::check_arch().map_err(|e| e.to_string())?;
        let default = match profile {
            None => compile(seccomp_profile::builtin(), "the built-in profile")?,
            Some(name) => {
                let dir = config_dir.ok_or("--seccomp_profile_name needs --seccomp_config_dir")?;
                load(dir, name)?
            }
        };
        Ok(LinuxSeccomp {
            config_dir: config_dir.map(Path::to_path_buf),
            default,
        })
    }
}

fn compile(filter: sys::Filter, what: &str) -> Result<Program, String> {
    filter
        .compile()
        .map_err(|e| format!("Failed to build the seccomp filter of {what}: {e}"))
}

fn load(dir: &Path, name: &str) -> Result<Program, String> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("Failed to read seccomp profile {}: {e}", path.display()))?;
    let filter = seccomp_profile::parse(&text)
        .map_err(|e| format!("Invalid seccomp profile {}: {e}", path.display()))?;
    compile(filter, &path.display().to_string())
}

impl Isolator for LinuxSeccomp {
    fn name(&self) -> &'static str {
        "linux/seccomp"
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::SeccompProfile]
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        plan.child.seccomp = match &ctx.container.linux.seccomp {
            None => Some(self.default.clone()),
            Some(Seccomp::Unconfined) => None,
            Some(Seccomp::Profile(name)) => match &self.config_dir {
                Some(dir) if dir.join(name).exists() => {
                    Some(load(dir, name).map_err(IsolatorError::Config)?)
                }
                _ if name == "default" => Some(self.default.clone()),
                _ => {
                    return Err(IsolatorError::Request(format!(
                        "seccomp profile '{name}' is not in --seccomp_config_dir"
                    )))
                }
            },
        };
        Ok(())
    }
}
