//! The sockets the API server accepts on: the unix socket always, a TCP port when asked. A
//! connection of either kind is one `Stream` in the same server, so both share every line of
//! request handling; only the peer's identity (and so what it may do) differs.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::event::Source as MioSource;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::sys::socket::PeerCred;

/// Which listener a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Unix,
    Tcp,
}

#[derive(Debug)]
pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Who is at the other end: the unix socket's kernel-given credentials, or a TCP address.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    Unix(Option<PeerCred>),
    Tcp(SocketAddr),
}

impl Peer {
    pub fn via(&self) -> Via {
        match self {
            Peer::Unix(_) => Via::Unix,
            Peer::Tcp(_) => Via::Tcp,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Unix(Some(p)) => write!(f, "uid {} pid {}", p.uid, p.pid),
            Peer::Unix(None) => f.write_str("an unknown peer"),
            Peer::Tcp(addr) => write!(f, "TCP {addr}"),
        }
    }
}

#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Listener {
    /// One pending connection and its peer.
    pub fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                let cred = crate::sys::socket::peer_cred(&s).ok();
                Ok((Stream::Unix(s), Peer::Unix(cred)))
            }
            Listener::Tcp(l) => {
                let (s, addr) = l.accept()?;
                // Answers are written whole into the buffer: Nagle would only delay the last
                // segment of each.
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), Peer::Tcp(addr)))
            }
        }
    }
}

/// Both kinds are registered with the loop alike.
macro_rules! delegate_source {
    ($ty:ident) => {
        impl MioSource for $ty {
            fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
                match self {
                    $ty::Unix(s) => s.register(r, t, i),
                    $ty::Tcp(s) => s.register(r, t, i),
                }
            }

            fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
                match self {
                    $ty::Unix(s) => s.reregister(r, t, i),
                    $ty::Tcp(s) => s.reregister(r, t, i),
                }
            }

            fn deregister(&mut self, r: &Registry) -> io::Result<()> {
                match self {
                    $ty::Unix(s) => s.deregister(r),
                    $ty::Tcp(s) => s.deregister(r),
                }
            }
        }
    };
}

delegate_source!(Listener);
delegate_source!(Stream);

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}
