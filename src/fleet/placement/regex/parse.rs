//! The pattern's syntax, read into a tree that `emit` compiles.

use super::{Class, RegexError};

/// `{n,m}` copies its operand: a bound on n and m.
const MAX_REPEAT: u32 = 1000;

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
const SPACE: &[(char, char)] = &[(' ', ' '), ('\t', '\r')];

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Empty,
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Concat(Vec<Node>),
    Alternate(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

/// The tree of `pattern`, or where and why it is refused.
pub(super) fn parse(pattern: &str) -> Result<Node, RegexError> {
    let mut parser = Parser {
        chars: pattern.chars().collect(),
        at: 0,
    };
    let node = parser.alternation()?;
    if parser.at < parser.chars.len() {
        return Err(parser.error("unmatched ')'"));
    }
    Ok(node)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

enum Escaped {
    Char(char),
    Class(Class),
}

impl Parser {
    fn error(&self, reason: &'static str) -> RegexError {
        RegexError {
            position: self.at,
            reason,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn alternation(&mut self) -> Result<Node, RegexError> {
        let mut branches = vec![self.concat()?];
        while self.eat('|') {
            branches.push(self.concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Node::Alternate(branches)
        })
    }

    fn concat(&mut self) -> Result<Node, RegexError> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.remove(0),
            _ => Node::Concat(items),
        })
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, RegexError> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => return self.counted(atom),
            _ => return Ok(atom),
        };
        self.at += 1;
        self.repeat(atom, min, max)
    }

    fn repeat(&mut self, atom: Node, min: u32, max: Option<u32>) -> Result<Node, RegexError> {
        if matches!(atom, Node::Start | Node::End) {
            return Err(self.error("nothing to repeat"));
        }
        // Lazy and greedy agree on whether the whole value matches.
        self.eat('?');
        match self.peek() {
            Some('+') => return Err(self.error("possessive quantifiers are not supported")),
            Some('*' | '{' | '?') => {
                return Err(self.error("a quantifier cannot follow a quantifier"))
            }
            _ => {}
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
        })
    }

    fn counted(&mut self, atom: Node) -> Result<Node, RegexError> {
        self.at += 1; // `{`
        let min = self.number()?;
        let max = if self.eat(',') {
            if self.peek() == Some('}') {
                None
            } else {
                Some(self.number()?)
            }
        } else {
            Some(min)
        };
        if !self.eat('}') {
            return Err(self.error("'{' opens no repetition {n}, {n,} or {n,m}"));
        }
        if max.is_some_and(|max| max < min) {
            return Err(self.error("repetition {n,m} with m < n"));
        }
        if min.max(max.unwrap_or(0)) > MAX_REPEAT {
            return Err(self.error("repetition count over 1000"));
        }
        self.repeat(atom, min, max)
    }

    fn number(&mut self) -> Result<u32, RegexError> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let digits: String = self.chars[start..self.at].iter().collect();
        digits
            .parse()
            .map_err(|_| self.error("'{' opens no repetition {n}, {n,} or {n,m}"))
    }

    fn atom(&mut self) -> Result<Node, RegexError> {
        let Some(c) = self.peek() else {
            return Err(self.error("unexpected end of pattern"));
        };
        if matches!(c, '*' | '+' | '?' | '{') {
            return Err(self.error("nothing to repeat"));
        }
        self.at += 1;
        match c {
            '(' => self.group(),
            '[' => self.class().map(Node::Class),
            '.' => Ok(Node::Any),
            '^' => Ok(Node::Start),
            '$' => Ok(Node::End),
            '\\' => self.escape().map(|e| match e {
                Escaped::Char(c) => Node::Char(c),
                Escaped::Class(class) => Node::Class(class),
            }),
            c => Ok(Node::Char(c)),
        }
    }

    fn group(&mut self) -> Result<Node, RegexError> {
        if self.eat('?') && !self.eat(':') {
            return Err(self.error("only the (?:...) group form is supported"));
        }
        let inner = self.alternation()?;
        if !self.eat(')') {
            return Err(self.error("unclosed group"));
        }
        Ok(inner)
    }

    fn escape(&mut self) -> Result<Escaped, RegexError> {
        let Some(c) = self.peek() else {
            return Err(self.error("trailing '\\'"));
        };
        if c.is_ascii_alphanumeric() && !"dDwWsStnrf".contains(c) {
            return Err(self.error("this escape is not supported"));
        }
        self.at += 1;
        let class = |ranges, negated| Escaped::Class(Class::of(ranges, negated));
        Ok(match c {
            'd' => class(DIGIT, false),
            'D' => class(DIGIT, true),
            'w' => class(WORD, false),
            'W' => class(WORD, true),
            's' => class(SPACE, false),
            'S' => class(SPACE, true),
            't' => Escaped::Char('\t'),
            'n' => Escaped::Char('\n'),
            'r' => Escaped::Char('\r'),
            'f' => Escaped::Char('\u{c}'),
            c => Escaped::Char(c),
        })
    }

    fn class(&mut self) -> Result<Class, RegexError> {
        let negated = self.eat('^');
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unclosed character class"));
            };
            if c == ']' && !first {
                self.at += 1;
                break;
            }
            first = false;
            if c == '[' || (c == '&' && self.peek_at(1) == Some('&')) {
                return Err(self.error("class unions and intersections are not supported"));
            }
            let low = match self.class_item()? {
                Escaped::Class(class) if class.negated => {
                    return Err(self.error("\\D, \\W and \\S are not supported inside a class"))
                }
                Escaped::Class(class) => {
                    ranges.extend(class.ranges);
                    continue;
                }
                Escaped::Char(c) => c,
            };
            // `a-z`, unless the `-` is last (`[a-]`), which is the character itself.
            if self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']') | None) {
                self.at += 1;
                let Escaped::Char(high) = self.class_item()? else {
                    return Err(self.error("bad class range"));
                };
                if high < low {
                    return Err(self.error("class range out of order"));
                }
                ranges.push((low, high));
            } else {
                ranges.push((low, low));
            }
        }
        Ok(Class { negated, ranges })
    }

    fn class_item(&mut self) -> Result<Escaped, RegexError> {
        match self.peek() {
            None => Err(self.error("unclosed character class")),
            Some('\\') => {
                self.at += 1;
                self.escape()
            }
            Some(c) => {
                self.at += 1;
                Ok(Escaped::Char(c))
            }
        }
    }
}
