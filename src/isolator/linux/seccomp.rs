//! `linux/seccomp`: a seccomp filter on every task: the built-in deny-list, or a Docker-format
//! profile from `--seccomp_config_dir` (`--seccomp_profile_name` for all, `linux_info.seccomp`
//! per container, `unconfined` for none). Built for x86_64 only: on another architecture the
//! isolator refuses to start rather than run tasks unfiltered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::super::{Feature, Isolator, IsolatorError, Plan, PrepareCtx};
use super::seccomp_profile;
use crate::spec::Seccomp;
use crate::sys::bounded::read_named;
use crate::sys::seccomp::{self as sys, Program};

/// Why a seccomp filter could not be had.
#[derive(Debug)]
pub enum SeccompError {
    /// This architecture has no filter (x86_64 only).
    Arch(sys::CompileError),
    NeedsConfigDir,
    Compile {
        what: String,
        error: sys::CompileError,
    },
    /// Missing, not a regular file, or larger than the bound.
    Read(crate::sys::bounded::ReadError),
    Invalid {
        path: PathBuf,
        error: seccomp_profile::ProfileError,
    },
}

impl std::fmt::Display for SeccompError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeccompError::Arch(e) => e.fmt(f),
            SeccompError::NeedsConfigDir => {
                f.write_str("--seccomp_profile_name needs --seccomp_config_dir")
            }
            SeccompError::Compile { what, error } => {
                write!(f, "Failed to build the seccomp filter of {what}: {error}")
            }
            SeccompError::Read(e) => write!(f, "Failed to read seccomp profile {e}"),
            SeccompError::Invalid { path, error } => {
                write!(f, "Invalid seccomp profile {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for SeccompError {}

#[derive(Debug)]
pub struct LinuxSeccomp {
    config_dir: Option<PathBuf>,
    /// `--seccomp_profile_name`, if the default is a file's.
    default_name: Option<String>,
    /// The agent's default, compiled once (and again on SIGHUP).
    default: Program,
    /// Profiles of `--seccomp_config_dir` named by containers, each read and compiled at its
    /// first launch only (a profile that fails is tried again at the next), and again on
    /// SIGHUP, so that an edited profile takes effect without a restart.
    compiled: HashMap<String, Program>,
}

impl LinuxSeccomp {
    pub fn new(
        config_dir: Option<&Path>,
        profile: Option<&str>,
    ) -> Result<LinuxSeccomp, SeccompError> {
        sys::check_arch().map_err(SeccompError::Arch)?;
        let default = match profile {
            None => compile(seccomp_profile::builtin(), "the built-in profile")?,
            Some(name) => {
                let dir = config_dir.ok_or(SeccompError::NeedsConfigDir)?;
                load(dir, name)?
            }
        };
        Ok(LinuxSeccomp {
            config_dir: config_dir.map(Path::to_path_buf),
            default_name: profile.map(str::to_string),
            default,
            compiled: HashMap::new(),
        })
    }
}

fn compile(filter: sys::Filter, what: &str) -> Result<Program, SeccompError> {
    filter.compile().map_err(|error| SeccompError::Compile {
        what: what.to_string(),
        error,
    })
}

/// The largest profile read (Docker's default is about 20 KiB).
const MAX_PROFILE: u64 = 1 << 20;

fn load(dir: &Path, name: &str) -> Result<Program, SeccompError> {
    let path = dir.join(name);
    let bytes = read_named(&path, MAX_PROFILE).map_err(SeccompError::Read)?;
    let text = String::from_utf8_lossy(&bytes);
    let filter = match seccomp_profile::parse(&text) {
        Ok(filter) => filter,
        Err(error) => return Err(SeccompError::Invalid { path, error }),
    };
    compile(filter, &path.display().to_string())
}

impl Isolator for LinuxSeccomp {
    fn name(&self) -> &'static str {
        "linux/seccomp"
    }

    /// Every profile is read and compiled again: one that now fails keeps the old program if
    /// it is the default (launches naming none must go on), and is dropped otherwise, so the
    /// next launch naming it says why it fails.
    fn reload(&mut self) {
        let Some(dir) = self.config_dir.clone() else {
            return;
        };
        if let Some(name) = &self.default_name {
            match load(&dir, name) {
                Ok(program) => self.default = program,
                Err(e) => log::error!("SIGHUP: keeping the old default seccomp profile: {e}"),
            }
        }
        let names: Vec<String> = self.compiled.keys().cloned().collect();
        for name in names {
            match load(&dir, &name) {
                Ok(program) => {
                    self.compiled.insert(name, program);
                }
                Err(e) => {
                    log::error!("SIGHUP: seccomp profile '{name}' dropped: {e}");
                    self.compiled.remove(&name);
                }
            }
        }
        log::info!(
            "SIGHUP: seccomp profiles compiled again ({} named by containers)",
            self.compiled.len()
        );
    }

    fn serves(&self) -> &'static [Feature] {
        &[Feature::SeccompProfile]
    }

    fn prepare(&mut self, ctx: &PrepareCtx<'_>, plan: &mut Plan) -> Result<(), IsolatorError> {
        plan.child.seccomp = match &ctx.container.linux.seccomp {
            None => Some(self.default.clone()),
            Some(Seccomp::Unconfined) => None,
            Some(Seccomp::Profile(name)) if self.compiled.contains_key(name) => {
                self.compiled.get(name).cloned()
            }
            Some(Seccomp::Profile(name)) => match &self.config_dir {
                Some(dir) if dir.join(name).exists() => {
                    let program = load(dir, name).map_err(IsolatorError::Seccomp)?;
                    self.compiled.insert(name.clone(), program.clone());
                    Some(program)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_named_profile_is_read_and_compiled_at_its_first_launch_only() {
        let dir = std::env::temp_dir().join(format!("mesolite-seccomp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let profile = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]});
        std::fs::write(dir.join("p.json"), profile.to_string()).unwrap();
        let mut isolator = LinuxSeccomp::new(Some(&dir), None).unwrap();
        let mut container = crate::spec::ContainerInfo::default();
        container.linux.seccomp = Some(Seccomp::Profile("p.json".into()));
        let resources = crate::resources::Resources::default();
        let ctx = PrepareCtx {
            id: "c1",
            slot: 1,
            resources: &resources,
            cgroup: None,
            hostname: None,
            container: &container,
            sandbox: &dir,
            enable_cfs: false,
            user: None,
            rootfs: None,
        };
        let mut first = Plan::default();
        isolator.prepare(&ctx, &mut first).unwrap();
        assert!(first.child.seccomp.is_some());
        // Not read again: the second launch gets the same program without the file.
        std::fs::remove_file(dir.join("p.json")).unwrap();
        let mut second = Plan::default();
        isolator.prepare(&ctx, &mut second).unwrap();
        assert_eq!(
            format!("{:?}", second.child.seccomp),
            format!("{:?}", first.child.seccomp)
        );
        // SIGHUP: an edited profile is compiled again; a vanished one is dropped.
        let edited = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
        std::fs::write(dir.join("p.json"), edited.to_string()).unwrap();
        isolator.reload();
        let mut third = Plan::default();
        isolator.prepare(&ctx, &mut third).unwrap();
        assert_ne!(
            format!("{:?}", third.child.seccomp),
            format!("{:?}", first.child.seccomp)
        );
        std::fs::remove_file(dir.join("p.json")).unwrap();
        isolator.reload();
        let err = isolator.prepare(&ctx, &mut Plan::default()).unwrap_err();
        assert!(err.to_string().contains("p.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
