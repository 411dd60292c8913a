//! The event loop's sources, typed: every mio token is one of these, so dispatch is a `match`,
//! never a comparison of raw fds.

use mio::Token;

/// What became ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The API's listening socket.
    Listener,
    /// signal-hook's self-pipe socket.
    Signals,
    /// An API client connection, by connection slot.
    Conn(u32),
    /// A container init's pidfd, by container slot.
    Init(u32),
    /// A container's exec report pipe, by container slot.
    ExecReport(u32),
    /// A container's OOM notification (v1 eventfd, v2 inotify), by container slot.
    Oom(u32),
    /// The stdout of a container's fetcher subprocess, by container slot.
    Fetch(u32),
    /// The stdout of the disk/du measurement of a container, by container slot.
    Du(u32),
    /// The stdout of an image pull (`mesolite-fetch` in pull mode), by pull slot: one pull
    /// serves every launch of the image.
    Pull(u32),
    /// The stdout of a container's rootfs copy (`mesolite-fetch` in provision mode), by
    /// container slot.
    Rootfs(u32),
}

const KIND_SHIFT: u32 = 32;

impl From<Source> for Token {
    fn from(s: Source) -> Token {
        let (kind, slot) = match s {
            Source::Listener => (1usize, 0u32),
            Source::Signals => (2, 0),
            Source::Conn(n) => (3, n),
            Source::Init(n) => (4, n),
            Source::ExecReport(n) => (5, n),
            Source::Oom(n) => (6, n),
            Source::Fetch(n) => (7, n),
            Source::Du(n) => (8, n),
            Source::Pull(n) => (9, n),
            Source::Rootfs(n) => (10, n),
        };
        Token((kind << KIND_SHIFT) | slot as usize)
    }
}

impl Source {
    /// Decodes a token made by `From<Source>`; None for anything else.
    pub fn from_token(t: Token) -> Option<Source> {
        let slot = u32::try_from(t.0 & 0xffff_ffff).ok()?;
        Some(match t.0 >> KIND_SHIFT {
            1 => Source::Listener,
            2 => Source::Signals,
            3 => Source::Conn(slot),
            4 => Source::Init(slot),
            5 => Source::ExecReport(slot),
            6 => Source::Oom(slot),
            7 => Source::Fetch(slot),
            8 => Source::Du(slot),
            9 => Source::Pull(slot),
            10 => Source::Rootfs(slot),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for s in [
            Source::Listener,
            Source::Signals,
            Source::Conn(7),
            Source::Init(u32::MAX),
            Source::ExecReport(0),
            Source::Pull(3),
            Source::Rootfs(4),
        ] {
            assert_eq!(Source::from_token(Token::from(s)), Some(s));
        }
        assert_eq!(Source::from_token(Token(0)), None);
    }
}
