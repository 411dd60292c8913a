//! Docker-format seccomp profiles (JSON: `defaultAction`, `architectures`, `syscalls[{names,
//! action, errnoRet, args, includes, excludes}]`) turned into a filter for x86_64, and the
//! built-in default: a deny-list of what Docker's default profile blocks whatever the
//! capabilities.

use serde_json::Value;

use crate::sys::seccomp::{syscall_number, Action, ArgCmp, ArgOp, Filter, Rule};

const EPERM: u16 = 1;

/// Denied by the built-in profile (with EPERM): kernel keyrings, modules, kexec, BPF, mounts
/// and namespaces, handles that bypass path checks, clocks, swap, accounting, reboot, ...
const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// The built-in profile.
pub(super) fn builtin() -> Filter {
    Filter {
        default: Action::Allow,
        rules: DENIED
            .iter()
            .filter_map(|name| syscall_number(name))
            .map(|nr| Rule {
                nr,
                args: Vec::new(),
                action: Action::Errno(EPERM),
            })
            .collect(),
    }
}

/// What is wrong with a seccomp profile.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileError {
    Json(String),
    /// A required field is missing or malformed: what it should be.
    Field(&'static str),
    UnsupportedAction(String),
    UnsupportedComparison(String),
    BadErrno(String),
    OtherArchitecture,
    /// In `syscalls[index]`.
    Rule(usize, Box<ProfileError>),
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileError::Json(e) => write!(f, "invalid JSON: {e}"),
            ProfileError::Field(what) => f.write_str(what),
            ProfileError::UnsupportedAction(a) => write!(f, "unsupported seccomp action '{a}'"),
            ProfileError::UnsupportedComparison(op) => {
                write!(f, "unsupported argument comparison '{op}'")
            }
            ProfileError::BadErrno(v) => write!(f, "bad errno value {v}"),
            ProfileError::OtherArchitecture => {
                f.write_str("the profile does not cover SCMP_ARCH_X86_64")
            }
            ProfileError::Rule(i, e) => write!(f, "syscalls[{i}]: {e}"),
        }
    }
}

impl std::error::Error for ProfileError {}

fn action(name: &str, errno: Option<u16>) -> Result<Action, ProfileError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(EPERM)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        other => return Err(ProfileError::UnsupportedAction(other.to_string())),
    })
}

fn errno_of(v: Option<&Value>) -> Result<Option<u16>, ProfileError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n < 4096)
            .map(Some)
            .ok_or_else(|| ProfileError::BadErrno(n.to_string())),
    }
}

const X86_64_NAMES: &[&str] = &["SCMP_ARCH_X86_64", "amd64", "x86_64"];

/// True if a list of architectures (Docker's `includes.arches` or `architectures`) names ours.
fn names_our_arch(list: &[Value]) -> bool {
    list.iter()
        .filter_map(Value::as_str)
        .any(|a| X86_64_NAMES.contains(&a))
}

/// Parses a Docker-format profile into a filter for x86_64.
pub(super) fn parse(text: &str) -> Result<Filter, ProfileError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ProfileError::Json(e.to_string()))?;
    let default_errno = errno_of(v.get("defaultErrnoRet"))?;
    let default = action(
        v.get("defaultAction")
            .and_then(Value::as_str)
            .ok_or(ProfileError::Field("'defaultAction' is required"))?,
        default_errno,
    )?;
    let mut arches: Vec<Value> = v
        .get("architectures")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for entry in v
        .get("archMap")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(a) = entry.get("architecture") {
            arches.push(a.clone());
        }
    }
    if !arches.is_empty() && !names_our_arch(&arches) {
        return Err(ProfileError::OtherArchitecture);
    }
    let mut rules = Vec::new();
    for (i, rule) in v
        .get("syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        parse_rule(rule, &mut rules).map_err(|e| ProfileError::Rule(i, Box::new(e)))?;
    }
    Ok(Filter { default, rules })
}

fn parse_rule(rule: &Value, out: &mut Vec<Rule>) -> Result<(), ProfileError> {
    // Conditions on capabilities we cannot judge here: such rules only widen Docker's allow
    // list for privileged containers, so leaving them out errs on the side of denying.
    let includes = rule.get("includes");
    if includes
        .and_then(|i| i.get("caps"))
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        return Ok(());
    }
    if let Some(list) = includes
        .and_then(|i| i.get("arches"))
        .and_then(Value::as_array)
    {
        if !list.is_empty() && !names_our_arch(list) {
            return Ok(());
        }
    }
    if let Some(list) = rule
        .get("excludes")
        .and_then(|e| e.get("arches"))
        .and_then(Value::as_array)
    {
        if names_our_arch(list) {
            return Ok(());
        }
    }
    let action = action(
        rule.get("action")
            .and_then(Value::as_str)
            .ok_or(ProfileError::Field("'action' is required"))?,
        errno_of(rule.get("errnoRet"))?,
    )?;
    let mut args = Vec::new();
    for a in rule
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let index = a
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| u8::try_from(i).ok())
            .filter(|i| *i < 6)
            .ok_or(ProfileError::Field("args[].index must be 0-5"))?;
        let value = a.get("value").and_then(Value::as_u64).unwrap_or(0);
        let value_two = a.get("valueTwo").and_then(Value::as_u64).unwrap_or(0);
        let op = match a.get("op").and_then(Value::as_str) {
            Some("SCMP_CMP_EQ") => ArgOp::Eq(value),
            Some("SCMP_CMP_NE") => ArgOp::Ne(value),
            Some("SCMP_CMP_MASKED_EQ") => ArgOp::MaskedEq {
                mask: value,
                value: value_two,
            },
            Some(other) => return Err(ProfileError::UnsupportedComparison(other.to_string())),
            None => return Err(ProfileError::Field("args[].op is required")),
        };
        args.push(ArgCmp { index, op });
    }
    let mut names: Vec<&str> = rule
        .get("names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(n) = rule.get("name").and_then(Value::as_str) {
        names.push(n);
    }
    // Names of other architectures (socketcall, _llseek, ...) have no number here: skipped, as
    // libseccomp does per architecture.
    for nr in names.into_iter().filter_map(syscall_number) {
        out.push(Rule {
            nr,
            args: args.clone(),
            action,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_builtin_denies_keyrings() {
        let f = builtin();
        assert_eq!(f.default, Action::Allow);
        for name in [
            "add_key",
            "keyctl",
            "request_key",
            "bpf",
            "kexec_load",
            "mount",
        ] {
            let nr = syscall_number(name).unwrap();
            assert!(
                f.rules
                    .iter()
                    .any(|r| r.nr == nr && r.action == Action::Errno(EPERM)),
                "{name}"
            );
        }
        assert!(f.compile().is_ok());
    }

    #[test]
    fn test_docker_profile() {
        let text = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [
                {"names": ["read", "write", "socketcall"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["sync_file_range2"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["ppc64le"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]}"#;
        let f = parse(text).unwrap();
        assert_eq!(f.default, Action::Errno(1));
        let nrs: Vec<u32> = f.rules.iter().map(|r| r.nr).collect();
        let n = |s| syscall_number(s).unwrap();
        assert_eq!(
            nrs,
            vec![
                n("read"),
                n("write"),
                n("personality"),
                n("arch_prctl"),
                n("clone3")
            ]
        );
        assert_eq!(f.rules[2].args.len(), 1);
        assert_eq!(f.rules[4].action, Action::Errno(38));
        assert!(f.compile().is_ok());
    }

    #[test]
    fn test_bad_profiles() {
        assert!(parse("{").is_err());
        assert!(parse(r#"{"syscalls": []}"#).is_err());
        assert!(parse(r#"{"defaultAction": "SCMP_ACT_TRACE"}"#).is_err());
        assert!(parse(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"]}"#
        )
        .is_err());
        let gt = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"}]}]}"#;
        assert!(parse(gt).unwrap_err().to_string().contains("SCMP_CMP_GT"));
    }
}
