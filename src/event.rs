//! The event loop's sources, typed: every mio token is one of these, so dispatch is a `match`,
//! never a comparison of raw fds.

use mio::Token;

/// What became ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The API's listening socket.
    Listener,
    /// The API's TCP listener (`--port`).
    TcpListener,
    /// signal-hook's self-pipe socket.
    Signals,
    /// An API client connection, by connection slot.
    Conn(u32),
    /// A container init's pidfd, by container slot.
    Init(u32),
    /// A container's exec report pipe, by container slot.
    ExecReport(u32),
    /// The stdout of a helper process (fetcher, puller, du, ...), by child ID: the child
    /// runner knows whose it is.
    Child(u32),
    /// An fd an isolator watches for a container (an OOM notification...), by isolator index
    /// and container slot.
    Isolator { index: u16, slot: u32 },
    /// A connection to dockerd's Engine API, by request ID.
    Docker(u32),
    /// An app instance's HTTP or TCP health check probe, by probe ID.
    Health(u32),
}

const KIND_SHIFT: u32 = 32;
/// Kinds from here on are isolators', one per isolator index.
const ISOLATOR_KIND: usize = 16;

impl From<Source> for Token {
    fn from(s: Source) -> Token {
        let (kind, slot) = match s {
            Source::Listener => (1usize, 0u32),
            Source::Signals => (2, 0),
            Source::Conn(n) => (3, n),
            Source::Init(n) => (4, n),
            Source::ExecReport(n) => (5, n),
            Source::Child(n) => (6, n),
            Source::Docker(n) => (7, n),
            Source::TcpListener => (8, 0),
            Source::Health(n) => (9, n),
            Source::Isolator { index, slot } => (ISOLATOR_KIND + usize::from(index), slot),
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
            6 => Source::Child(slot),
            7 => Source::Docker(slot),
            8 => Source::TcpListener,
            9 => Source::Health(slot),
            k if k >= ISOLATOR_KIND => Source::Isolator {
                index: u16::try_from(k - ISOLATOR_KIND).ok()?,
                slot,
            },
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
            Source::TcpListener,
            Source::Signals,
            Source::Conn(7),
            Source::Init(u32::MAX),
            Source::ExecReport(0),
            Source::Child(3),
            Source::Docker(9),
            Source::Health(u32::MAX),
            Source::Isolator { index: 0, slot: 4 },
            Source::Isolator {
                index: u16::MAX,
                slot: u32::MAX,
            },
        ] {
            assert_eq!(Source::from_token(Token::from(s)), Some(s));
        }
        assert_eq!(Source::from_token(Token(0)), None);
    }
}
