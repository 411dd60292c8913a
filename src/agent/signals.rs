//! Signals, through signal-hook's self-pipe: one socket pair wakes the loop, and one flag per
//! signal says which arrived. The loop drains the socket first and then reads the flags, so a
//! signal that lands in between is never lost (signal-hook's documented order).

use std::io::{self, Read};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mio::net::UnixStream;
use mio::{Interest, Registry, Token};

use crate::event::Source;

/// The signals the agent handles.
const HANDLED: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD];

/// What arrived since the last look.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Arrived {
    pub terminate: Option<i32>,
    pub hangup: bool,
    pub child: bool,
}

#[derive(Debug)]
pub struct Signals {
    wake: UnixStream,
    flags: Vec<(i32, Arc<AtomicBool>)>,
}

impl Signals {
    /// Installs the handlers and registers the wake-up socket. Handlers stay for the process's
    /// life (signal-hook's pipe must never be unregistered, see style.md §1.6).
    pub fn install(registry: &Registry) -> io::Result<Signals> {
        let (read, write) = StdUnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let mut flags = Vec::with_capacity(HANDLED.len());
        for sig in HANDLED {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(sig, Arc::clone(&flag))?;
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
            flags.push((sig, flag));
        }
        let mut wake = UnixStream::from_std(read);
        registry.register(&mut wake, Token::from(Source::Signals), Interest::READABLE)?;
        Ok(Signals { wake, flags })
    }

    /// Drains the wake-up socket, then takes the flags.
    pub fn take(&mut self) -> Arrived {
        let mut buf = [0u8; 64];
        loop {
            match self.wake.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let mut arrived = Arrived::default();
        for (sig, flag) in &self.flags {
            if flag.swap(false, Ordering::SeqCst) {
                match *sig {
                    libc::SIGHUP => arrived.hangup = true,
                    libc::SIGCHLD => arrived.child = true,
                    s => arrived.terminate = Some(s),
                }
            }
        }
        arrived
    }
}
