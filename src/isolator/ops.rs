//! What an isolator may ask of the loop: watch an fd for a container, tick a timer, run a
//! child. It never registers, forks or sleeps by itself; the token or timer it gets names the
//! isolator, so the loop hands the event back to it.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::children::{ChildError, ChildId, Children, Owner, Program};
use crate::event::Source;
use crate::timer::{TimerKind, Timers};

/// What of the loop the isolators share; each gets its own [`Ops`] view of it.
#[derive(Debug)]
pub struct LoopParts<'a> {
    pub registry: &'a Registry,
    pub timers: &'a mut Timers,
    pub children: &'a mut Children,
}

impl LoopParts<'_> {
    /// The view of the isolator at `index`.
    pub fn ops(&mut self, index: u16) -> Ops<'_> {
        Ops::new(index, self.registry, self.timers, self.children)
    }
}

/// The loop, as one isolator sees it.
#[derive(Debug)]
pub struct Ops<'a> {
    index: u16,
    registry: &'a Registry,
    timers: &'a mut Timers,
    children: &'a mut Children,
}

impl<'a> Ops<'a> {
    /// The loop for the isolator at `index` in `--isolation`.
    pub fn new(
        index: u16,
        registry: &'a Registry,
        timers: &'a mut Timers,
        children: &'a mut Children,
    ) -> Ops<'a> {
        Ops {
            index,
            registry,
            timers,
            children,
        }
    }

    /// Watches `fd` (readable) for the container in `slot`; `on_ready` is called with `tag`
    /// when it is (the isolator's name for the fd, to tell a container's fds apart). The
    /// isolator keeps the fd open and calls [`Ops::unwatch`] before it closes it.
    pub fn watch(&self, slot: u32, tag: u8, fd: RawFd) -> io::Result<()> {
        self.register(slot, tag, fd, Interest::READABLE)
    }

    /// Like [`Ops::watch`], for an fd that reports `POLLPRI` (a PSI trigger) rather than
    /// readable.
    pub fn watch_priority(&self, slot: u32, tag: u8, fd: RawFd) -> io::Result<()> {
        self.register(slot, tag, fd, Interest::PRIORITY)
    }

    fn register(&self, slot: u32, tag: u8, fd: RawFd, interest: Interest) -> io::Result<()> {
        let source = Source::Isolator {
            index: self.index,
            slot,
            tag,
        };
        self.registry
            .register(&mut SourceFd(&fd), Token::from(source), interest)
    }

    pub fn unwatch(&self, fd: RawFd) {
        let _ = self.registry.deregister(&mut SourceFd(&fd));
    }

    /// Calls `on_timer` once, `after` from now.
    pub fn tick(&mut self, after: Duration) {
        self.timers.add(after, TimerKind::Isolator(self.index));
    }

    /// Runs `program` for the container in `slot`; its lines and end reach `on_child`.
    pub fn run(
        &mut self,
        slot: u32,
        program: Program,
        deadline: Option<Duration>,
    ) -> Result<ChildId, ChildError> {
        let owner = Owner::Isolator {
            index: self.index,
            slot,
        };
        let id = self.children.spawn(owner, program, self.registry)?;
        if let Some(after) = deadline {
            self.children.set_deadline(id, after, self.timers);
        }
        Ok(id)
    }

    /// Kills a child it ran; `on_child` hears nothing more of it.
    pub fn kill(&mut self, child: ChildId) {
        self.children.kill(child, self.registry);
    }
}
