//! Seccomp filters without libseccomp: a rule list compiled by hand into a classic BPF program
//! (x86_64 only: the program checks the audit arch and kills anything else), and the calls that
//! install it (no_new_privs, seccomp(2)).

use std::io;

use super::cvt;

/// What a filter does with a system call (the kernel's SECCOMP_RET_* values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Errno(u16),
    KillThread,
    KillProcess,
    Trap,
    Log,
}

impl Action {
    fn ret(self) -> u32 {
        match self {
            Action::Allow => 0x7fff_0000,
            Action::Errno(e) => 0x0005_0000 | u32::from(e),
            Action::KillThread => 0,
            Action::KillProcess => 0x8000_0000,
            Action::Trap => 0x0003_0000,
            Action::Log => 0x7ffc_0000,
        }
    }
}

/// A comparison of one 64-bit syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgOp {
    Eq(u64),
    Ne(u64),
    /// `(arg & mask) == value`.
    MaskedEq {
        mask: u64,
        value: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCmp {
    /// 0..=5.
    pub index: u8,
    pub op: ArgOp,
}

/// One rule: this syscall (with all these argument conditions) gets this action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub nr: u32,
    pub args: Vec<ArgCmp>,
    pub action: Action,
}

/// Rules in order (the first that matches decides) and the action for every other call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub default: Action,
    pub rules: Vec<Rule>,
}

/// The kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// A compiled filter, ready to install.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Program(Vec<Insn>);

/// Why a filter could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    UnsupportedArch(&'static str),
    TooLong(usize),
    BadArgIndex(u8),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::UnsupportedArch(a) => write!(
                f,
                "seccomp filters are built for x86_64 only, not {a}: refusing to run unfiltered"
            ),
            CompileError::TooLong(n) => {
                write!(f, "seccomp program of {n} instructions exceeds 4096")
            }
            CompileError::BadArgIndex(i) => write!(f, "syscall argument index {i} is not 0-5"),
        }
    }
}

impl std::error::Error for CompileError {}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const BPF_MAXINSNS: usize = 4096;

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// The syscall number of `name` on the architecture we filter.
pub fn syscall_number(name: &str) -> Option<u32> {
    super::seccomp_x86_64::SYSCALLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, nr)| *nr)
}

/// Fails closed: a build for an architecture whose syscall table we do not carry has no filter.
pub fn check_arch() -> Result<(), CompileError> {
    if cfg!(target_arch = "x86_64") {
        Ok(())
    } else {
        Err(CompileError::UnsupportedArch(std::env::consts::ARCH))
    }
}

impl Filter {
    /// Compiles the rules into BPF: check the arch, refuse the x32 ABI, then one block per rule.
    pub fn compile(&self) -> Result<Program, CompileError> {
        check_arch()?;
        let mut p = vec![
            stmt(LD_W_ABS, OFF_ARCH),
            jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
            stmt(RET_K, Action::KillProcess.ret()),
            stmt(LD_W_ABS, OFF_NR),
            jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
            stmt(RET_K, Action::KillProcess.ret()),
        ];
        for rule in &self.rules {
            p.extend(rule_block(rule)?);
            if p.len() > BPF_MAXINSNS {
                return Err(CompileError::TooLong(p.len()));
            }
        }
        p.push(stmt(RET_K, self.default.ret()));
        if p.len() > BPF_MAXINSNS {
            return Err(CompileError::TooLong(p.len()));
        }
        Ok(Program(p))
    }
}

/// `if nr == rule.nr && args match { return action }`, leaving the accumulator holding nr.
fn rule_block(rule: &Rule) -> Result<Vec<Insn>, CompileError> {
    // Instructions after the nr test; `None` jump targets mean "to the end of the block".
    let mut body: Vec<(Insn, bool, bool)> = Vec::new();
    for cmp in &rule.args {
        if cmp.index > 5 {
            return Err(CompileError::BadArgIndex(cmp.index));
        }
        // struct seccomp_data: args[i] at 16 + 8 i, little-endian: low word first.
        let lo_off = 16 + 8 * u32::from(cmp.index);
        let hi_off = lo_off + 4;
        match cmp.op {
            ArgOp::Eq(v) => {
                body.push((stmt(LD_W_ABS, hi_off), false, false));
                body.push((jump(JEQ_K, (v >> 32) as u32, 0, 0), false, true));
                body.push((stmt(LD_W_ABS, lo_off), false, false));
                body.push((jump(JEQ_K, v as u32, 0, 0), false, true));
            }
            ArgOp::MaskedEq { mask, value } => {
                body.push((stmt(LD_W_ABS, hi_off), false, false));
                body.push((stmt(AND_K, (mask >> 32) as u32), false, false));
                body.push((jump(JEQ_K, (value >> 32) as u32, 0, 0), false, true));
                body.push((stmt(LD_W_ABS, lo_off), false, false));
                body.push((stmt(AND_K, mask as u32), false, false));
                body.push((jump(JEQ_K, value as u32, 0, 0), false, true));
            }
            ArgOp::Ne(v) => {
                body.push((stmt(LD_W_ABS, hi_off), false, false));
                // High words differ: the condition holds, skip the low-word test.
                body.push((jump(JEQ_K, (v >> 32) as u32, 0, 2), false, false));
                body.push((stmt(LD_W_ABS, lo_off), false, false));
                body.push((jump(JEQ_K, v as u32, 0, 0), true, false));
            }
        }
    }
    let has_args = !rule.args.is_empty();
    body.push((stmt(RET_K, rule.action.ret()), false, false));
    // With arguments, the accumulator no longer holds nr at the end: reload it there.
    let end = body.len();
    let mut out = Vec::with_capacity(end + 2);
    let to_end = |from: usize| -> u8 {
        // From instruction `from`, the next is from+1; the reload sits at `end`.
        u8::try_from(end - from - 1).unwrap_or(u8::MAX)
    };
    out.push(jump(
        JEQ_K,
        rule.nr,
        0,
        u8::try_from(end).unwrap_or(u8::MAX),
    ));
    for (i, (mut insn, jt_end, jf_end)) in body.into_iter().enumerate() {
        if jt_end {
            insn.jt = to_end(i);
        }
        if jf_end {
            insn.jf = to_end(i);
        }
        out.push(insn);
    }
    if has_args {
        out.push(stmt(LD_W_ABS, OFF_NR));
    }
    Ok(out)
}

impl Program {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const PR_SET_NO_NEW_PRIVS: i32 = 38;
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// prctl(PR_SET_NO_NEW_PRIVS): exec can no longer grant privileges (setuid bits, file caps).
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    Ok(())
}

/// Installs the program on the calling thread (needs no_new_privs or CAP_SYS_ADMIN).
pub fn install(program: &Program) -> io::Result<()> {
    #[repr(C)]
    struct Fprog {
        len: libc::c_ushort,
        filter: *const Insn,
    }
    let len = libc::c_ushort::try_from(program.0.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = Fprog {
        len,
        filter: program.0.as_ptr(),
    };
    // SAFETY: `prog` is the kernel's struct sock_fprog pointing at `len` sock_filter structs
    // (Insn has their layout), all alive for the call; the kernel copies them.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &prog as *const Fprog,
        )
    } as i64)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    /// A tiny interpreter of the instructions we emit, to check the jumps.
    fn run(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = p.0[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => {
                    let o = i.k as usize;
                    acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                AND_K => acc &= i.k,
                JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                JGE_K => pc += usize::from(if acc >= i.k { i.jt } else { i.jf }),
                RET_K => return i.k,
                c => panic!("unexpected code {c:#x}"),
            }
        }
    }

    fn nr(name: &str) -> u32 {
        syscall_number(name).unwrap()
    }

    #[test]
    fn test_syscall_table() {
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("add_key"), Some(248));
        assert_eq!(syscall_number("keyctl"), Some(250));
        assert_eq!(syscall_number("no_such_call"), None);
    }

    #[test]
    fn test_deny_list() {
        let f = Filter {
            default: Action::Allow,
            rules: vec![
                Rule {
                    nr: nr("add_key"),
                    args: vec![],
                    action: Action::Errno(1),
                },
                Rule {
                    nr: nr("keyctl"),
                    args: vec![],
                    action: Action::Errno(1),
                },
            ],
        };
        let p = f.compile().unwrap();
        let a = AUDIT_ARCH_X86_64;
        assert_eq!(run(&p, a, nr("add_key"), [0; 6]), 0x0005_0001);
        assert_eq!(run(&p, a, nr("keyctl"), [0; 6]), 0x0005_0001);
        assert_eq!(run(&p, a, nr("read"), [0; 6]), 0x7fff_0000);
        // Another arch, or the x32 ABI: killed.
        assert_eq!(run(&p, 0x4000_0003, nr("read"), [0; 6]), 0x8000_0000);
        assert_eq!(run(&p, a, 0x4000_0000 | 1, [0; 6]), 0x8000_0000);
    }

    #[test]
    fn test_argument_conditions() {
        let personality = nr("personality");
        let f = Filter {
            default: Action::Errno(1),
            rules: vec![
                Rule {
                    nr: personality,
                    args: vec![ArgCmp {
                        index: 0,
                        op: ArgOp::Eq(0x0008),
                    }],
                    action: Action::Allow,
                },
                Rule {
                    nr: nr("clone"),
                    args: vec![ArgCmp {
                        index: 0,
                        op: ArgOp::MaskedEq {
                            mask: 0x7e02_0000,
                            value: 0,
                        },
                    }],
                    action: Action::Allow,
                },
                Rule {
                    nr: nr("socket"),
                    args: vec![ArgCmp {
                        index: 0,
                        op: ArgOp::Ne(40),
                    }],
                    action: Action::Allow,
                },
                Rule {
                    nr: nr("read"),
                    args: vec![],
                    action: Action::Allow,
                },
            ],
        };
        let p = f.compile().unwrap();
        let a = AUDIT_ARCH_X86_64;
        let allow = 0x7fff_0000;
        let eperm = 0x0005_0001;
        assert_eq!(run(&p, a, personality, [8, 0, 0, 0, 0, 0]), allow);
        assert_eq!(run(&p, a, personality, [9, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(
            run(&p, a, personality, [8 | (1 << 32), 0, 0, 0, 0, 0]),
            eperm
        );
        let clone = nr("clone");
        assert_eq!(run(&p, a, clone, [0x11, 0, 0, 0, 0, 0]), allow);
        assert_eq!(run(&p, a, clone, [0x1000_0000, 0, 0, 0, 0, 0]), eperm);
        let socket = nr("socket");
        assert_eq!(run(&p, a, socket, [2, 0, 0, 0, 0, 0]), allow);
        assert_eq!(run(&p, a, socket, [40, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(run(&p, a, socket, [40 | (1 << 32), 0, 0, 0, 0, 0]), allow);
        // A failed argument test falls through to later rules with nr reloaded.
        assert_eq!(run(&p, a, nr("read"), [0; 6]), allow);
        assert_eq!(run(&p, a, nr("write"), [0; 6]), eperm);
    }

    #[test]
    fn test_too_long_and_bad_index() {
        let rule = Rule {
            nr: 0,
            args: vec![],
            action: Action::Allow,
        };
        let f = Filter {
            default: Action::Allow,
            rules: vec![rule; 2100],
        };
        assert!(matches!(f.compile(), Err(CompileError::TooLong(_))));
        let f = Filter {
            default: Action::Allow,
            rules: vec![Rule {
                nr: 0,
                args: vec![ArgCmp {
                    index: 6,
                    op: ArgOp::Eq(0),
                }],
                action: Action::Allow,
            }],
        };
        assert_eq!(f.compile(), Err(CompileError::BadArgIndex(6)));
    }
}
