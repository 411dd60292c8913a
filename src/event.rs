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
    /// An fd an isolator watches for a container (an OOM notification, a memory pressure
    /// level...), by isolator index, container slot and the isolator's own tag for the fd: a
    /// readiness must say which fd it is, since some cannot be asked again (a PSI trigger's
    /// event is cleared by the poll that reported it, see `cgroups::pressure`).
    Isolator { index: u16, slot: u32, tag: u8 },
    /// A connection to dockerd's Engine API, by request ID.
    Docker(u32),
    /// A connection to an etcd member, by the client's connection ID.
    Etcd(u32),
    /// An app instance's HTTP or TCP health check probe, by probe ID.
    Health(u32),
}

const KIND_SHIFT: u32 = 32;
/// The top byte: an isolator's tag for the fd.
const TAG_SHIFT: u32 = 56;
const KIND_MASK: usize = (1 << (TAG_SHIFT - KIND_SHIFT)) - 1;
/// Kinds from here on are isolators', one per isolator index.
const ISOLATOR_KIND: usize = 16;

impl From<Source> for Token {
    fn from(s: Source) -> Token {
        let (kind, slot, tag) = match s {
            Source::Listener => (1usize, 0u32, 0u8),
            Source::Signals => (2, 0, 0),
            Source::Conn(n) => (3, n, 0),
            Source::Init(n) => (4, n, 0),
            Source::ExecReport(n) => (5, n, 0),
            Source::Child(n) => (6, n, 0),
            Source::Docker(n) => (7, n, 0),
            Source::TcpListener => (8, 0, 0),
            Source::Etcd(n) => (9, n, 0),
            Source::Health(n) => (10, n, 0),
            Source::Isolator { index, slot, tag } => {
                (ISOLATOR_KIND + usize::from(index), slot, tag)
            }
        };
        Token((usize::from(tag) << TAG_SHIFT) | (kind << KIND_SHIFT) | slot as usize)
    }
}

impl Source {
    /// Decodes a token made by `From<Source>`; None for anything else.
    pub fn from_token(t: Token) -> Option<Source> {
        let slot = u32::try_from(t.0 & 0xffff_ffff).ok()?;
        let tag = u8::try_from(t.0 >> TAG_SHIFT).ok()?;
        let kind = (t.0 >> KIND_SHIFT) & KIND_MASK;
        if tag != 0 && kind < ISOLATOR_KIND {
            return None;
        }
        Some(match kind {
            1 => Source::Listener,
            2 => Source::Signals,
            3 => Source::Conn(slot),
            4 => Source::Init(slot),
            5 => Source::ExecReport(slot),
            6 => Source::Child(slot),
            7 => Source::Docker(slot),
            8 => Source::TcpListener,
            9 => Source::Etcd(slot),
            10 => Source::Health(slot),
            k if k >= ISOLATOR_KIND => Source::Isolator {
                index: u16::try_from(k - ISOLATOR_KIND).ok()?,
                slot,
                tag,
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
            Source::Etcd(u32::MAX),
            Source::Health(u32::MAX),
            Source::Isolator {
                index: 0,
                slot: 4,
                tag: 0,
            },
            Source::Isolator {
                index: 3,
                slot: 4,
                tag: 2,
            },
            Source::Isolator {
                index: u16::MAX,
                slot: u32::MAX,
                tag: u8::MAX,
            },
        ] {
            assert_eq!(Source::from_token(Token::from(s)), Some(s));
        }
        assert_eq!(Source::from_token(Token(0)), None);
        assert_eq!(
            Source::from_token(Token((1 << TAG_SHIFT) | (3 << KIND_SHIFT))),
            None,
            "only isolators' tokens carry a tag"
        );
    }
}
