//! The regular expressions of `LIKE` and `UNLIKE`, matched the way Marathon matches them
//! (Java's `String.matches`: the whole value, as if anchored at both ends), without a regex
//! crate.
//!
//! Supported, with Java's meaning: literals; `.` (any character but `\n` and `\r`); `*`, `+`,
//! `?`, `{n}`, `{n,}`, `{n,m}` (a trailing `?` for the lazy form is accepted and, for a whole
//! match, changes nothing); `|`; groups `( )` and `(?: )`; classes `[abc]`, `[a-z0-9]`,
//! `[^...]` with escapes inside; `\d \D \w \W \s \S`, `\t \n \r \f`, and `\` before any other
//! punctuation for the character itself; `^` and `$` as anchors. Refused as unsupported (an
//! error, never a silent mismatch): backreferences, lookaround and inline flags (`(?=`,
//! `(?i)`), possessive quantifiers (`*+`), `\b`, `\A`, `\z`, `\Q...\E`, `\p{..}`, `\x`, `\u`,
//! and class unions and intersections (`[a[b]]`, `[a&&b]`).
//!
//! Matching simulates the compiled automaton one character at a time (Thompson's
//! construction), so its time is linear in the value for any pattern: a user's pattern cannot
//! stall the scheduler.

mod parse;

use std::fmt;

use parse::Node;

/// A bound that keeps a pattern's program small: `{n,m}` copies its operand.
const MAX_PROGRAM: usize = 10_000;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    pattern: String,
    program: Vec<Inst>,
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.pattern == other.pattern
    }
}

/// Why a pattern was refused: where (in characters) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    pub position: usize,
    pub reason: &'static str,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at character {}", self.reason, self.position)
    }
}

impl std::error::Error for RegexError {}

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, RegexError> {
        let node = parse::parse(pattern)?;
        let mut program = Vec::new();
        emit(&node, &mut program).map_err(|reason| RegexError {
            position: 0,
            reason,
        })?;
        program.push(Inst::Match);
        Ok(Regex {
            pattern: pattern.to_string(),
            program,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern matches all of `text`.
    pub fn full_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut current = Threads::new(self.program.len());
        let mut next = Threads::new(self.program.len());
        current.add(&self.program, 0, 0, chars.len());
        for (at, &c) in chars.iter().enumerate() {
            if current.list.is_empty() {
                return false;
            }
            next.clear();
            for &pc in &current.list {
                if self.program[pc].consumes(c) {
                    next.add(&self.program, pc + 1, at + 1, chars.len());
                }
            }
            std::mem::swap(&mut current, &mut next);
        }
        current
            .list
            .iter()
            .any(|&pc| matches!(self.program[pc], Inst::Match))
    }
}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// A character class: ranges, and whether it is negated.
#[derive(Debug, Clone, PartialEq)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn of(ranges: &[(char, char)], negated: bool) -> Class {
        Class {
            negated,
            ranges: ranges.to_vec(),
        }
    }

    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Inst {
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Split(usize, usize),
    Jump(usize),
    Match,
}

impl Inst {
    fn consumes(&self, c: char) -> bool {
        match self {
            Inst::Char(x) => *x == c,
            Inst::Any => c != '\n' && c != '\r',
            Inst::Class(class) => class.contains(c),
            _ => false,
        }
    }
}

/// Appends the program of `node` to `program`.
fn emit(node: &Node, program: &mut Vec<Inst>) -> Result<(), &'static str> {
    if program.len() > MAX_PROGRAM {
        return Err("pattern too large");
    }
    match node {
        Node::Empty => {}
        Node::Char(c) => program.push(Inst::Char(*c)),
        Node::Any => program.push(Inst::Any),
        Node::Class(class) => program.push(Inst::Class(class.clone())),
        Node::Start => program.push(Inst::Start),
        Node::End => program.push(Inst::End),
        Node::Concat(items) => {
            for item in items {
                emit(item, program)?;
            }
        }
        Node::Alternate(branches) => emit_alternate(branches, program)?,
        Node::Repeat { node, min, max } => {
            for _ in 0..*min {
                emit(node, program)?;
            }
            match max {
                None => {
                    // L: split(body, out); body; jump L
                    let split = hole(program);
                    emit(node, program)?;
                    program.push(Inst::Jump(split));
                    program[split] = Inst::Split(split + 1, program.len());
                }
                Some(max) => {
                    // Each optional copy may be skipped to the end.
                    let mut holes = Vec::new();
                    for _ in *min..*max {
                        holes.push(hole(program));
                        emit(node, program)?;
                    }
                    let out = program.len();
                    for at in holes {
                        program[at] = Inst::Split(at + 1, out);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A place for an instruction whose target is not known yet.
fn hole(program: &mut Vec<Inst>) -> usize {
    program.push(Inst::Match);
    program.len() - 1
}

fn emit_alternate(branches: &[Node], program: &mut Vec<Inst>) -> Result<(), &'static str> {
    let mut jumps = Vec::new();
    for (i, branch) in branches.iter().enumerate() {
        if i + 1 == branches.len() {
            emit(branch, program)?;
            break;
        }
        let split = hole(program);
        emit(branch, program)?;
        jumps.push(hole(program));
        program[split] = Inst::Split(split + 1, program.len());
    }
    let out = program.len();
    for at in jumps {
        program[at] = Inst::Jump(out);
    }
    Ok(())
}

/// The set of program counters alive at one position, each once.
struct Threads {
    list: Vec<usize>,
    seen: Vec<bool>,
    /// Counters marked seen but not listed (jumps, splits, assertions), for `clear`.
    passed: Vec<usize>,
}

impl Threads {
    fn new(size: usize) -> Threads {
        Threads {
            list: Vec::new(),
            seen: vec![false; size],
            passed: Vec::new(),
        }
    }

    fn clear(&mut self) {
        for pc in self.list.drain(..).chain(self.passed.drain(..)) {
            self.seen[pc] = false;
        }
    }

    /// Adds `pc` and everything reachable from it without consuming a character; only the
    /// instructions that consume (and `Match`) are listed.
    fn add(&mut self, program: &[Inst], pc: usize, at: usize, len: usize) {
        let mut pending = vec![pc];
        while let Some(pc) = pending.pop() {
            if self.seen[pc] {
                continue;
            }
            self.seen[pc] = true;
            match &program[pc] {
                Inst::Jump(to) => pending.push(*to),
                Inst::Split(a, b) => {
                    // `a` first: pushed last.
                    pending.push(*b);
                    pending.push(*a);
                }
                Inst::Start if at == 0 => pending.push(pc + 1),
                Inst::End if at == len => pending.push(pc + 1),
                Inst::Start | Inst::End => {}
                _ => {
                    self.list.push(pc);
                    continue;
                }
            }
            self.passed.push(pc);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Regex::new(pattern).unwrap().full_match(text)
    }

    #[test]
    fn test_whole_value_only() {
        assert!(m("rack-1", "rack-1"));
        assert!(!m("rack", "rack-1"));
        assert!(!m("ack-1", "rack-1"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn test_dot_star_plus_question() {
        assert!(m(".*", ""));
        assert!(m(".*", "anything at all"));
        assert!(m("a.c", "abc"));
        assert!(!m("a.c", "a\nc"));
        assert!(m("ab*c", "ac") && m("ab*c", "abbbc"));
        assert!(!m("ab+c", "ac") && m("ab+c", "abbc"));
        assert!(m("colou?r", "color") && m("colou?r", "colour"));
        assert!(!m("colou?r", "colouur"));
        assert!(m("a.*?b", "axxb"));
    }

    #[test]
    fn test_classes() {
        assert!(m("rack-[1-3]", "rack-2"));
        assert!(!m("rack-[1-3]", "rack-4"));
        assert!(m("rack-[^7-9]", "rack-1"));
        assert!(!m("rack-[^7-9]", "rack-8"));
        assert!(m("[a-c_x-]+", "ab_-x"));
        assert!(m("[]a]+", "]a]"));
        assert!(m(r"[\d.]+", "10.0.0.1"));
        assert!(m(r"\d+\.\d+", "2.5"));
        assert!(!m(r"\d+\.\d+", "2x5"));
        assert!(!m(r"\d+", "2a"));
        assert!(m(r"\w+\s\S", "node_1 x"));
        assert!(m(r"[\]\\]", "\\"));
    }

    #[test]
    fn test_alternation_groups_and_anchors() {
        assert!(m("r1|r2", "r2"));
        assert!(m("r1|r2|r3", "r3"));
        assert!(!m("r1|r2", "r1r2"));
        assert!(m("rack-(1|2)", "rack-2"));
        assert!(!m("rack-(1|2)", "rack-3"));
        assert!(m("(?:ab)+", "ababab"));
        assert!(!m("(?:ab)+", "aba"));
        assert!(m("^node-.*$", "node-a"));
        assert!(!m("a^b", "ab"));
        assert!(m("(a|)", ""));
        assert!(m("(a*)*b", "aaab"));
        assert!(m("()*x", "x"));
    }

    #[test]
    fn test_counted_repetition() {
        assert!(m("[0-9]{3}", "123"));
        assert!(!m("[0-9]{3}", "12"));
        assert!(m("a{2,}", "aaaa") && !m("a{2,}", "a"));
        assert!(m("a{1,3}", "aaa") && !m("a{1,3}", "aaaa"));
        assert!(m("(ab){0,2}c", "ababc"));
    }

    #[test]
    fn test_linear_on_pathological_patterns() {
        // Exponential for a backtracking matcher; instant here.
        let text = format!("{}b", "a".repeat(5000));
        assert!(!m("(a*)*c", &text));
        assert!(!m("(a|a)*c", &text));
    }

    #[test]
    fn test_refused_patterns() {
        for bad in [
            "rack-[1-",
            "(a",
            "a)",
            "*a",
            "a**",
            "a{2",
            "a{3,1}",
            "a{5000}",
            "a*+",
            r"\1",
            r"\b",
            "(?=a)",
            "(?i)a",
            "[a[b]]",
            "[a&&b]",
            "[z-a]",
            "\\",
            r"\p{L}",
            "a|*",
            "^*",
            "(a{1000}){1000}",
        ] {
            assert!(Regex::new(bad).is_err(), "{bad}");
        }
        let err = Regex::new("rack-[1-").unwrap_err();
        assert_eq!(err.to_string(), "unclosed character class at character 8");
    }
}
