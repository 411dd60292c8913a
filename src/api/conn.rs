//! One API client connection: a read buffer parsed into requests, a write buffer drained as the
//! socket allows, and at most one request in flight (a deferred LAUNCH or WAIT holds the rest).

use std::io::{self, Read, Write};
use std::time::Instant;

use super::listen::{Peer, Stream as Socket};
use super::stream::Stream;

/// Read chunk size; requests are small, bodies at most 1 MiB.
const CHUNK: usize = 16 * 1024;

#[derive(Debug)]
pub struct Conn {
    pub stream: Socket,
    pub peer: Peer,
    pub inbuf: Vec<u8>,
    pub outbuf: Vec<u8>,
    /// A LAUNCH or WAIT is waiting for the containerizer: no further request is read.
    pub deferred: bool,
    /// Close once the output is flushed.
    pub closing: bool,
    pub keep_alive: bool,
    /// The socket is registered for writability too.
    pub want_write: bool,
    /// "100 Continue" was sent for the request being read.
    pub continue_sent: bool,
    /// The request being answered is HEAD: its answer is the head alone.
    pub head_only: bool,
    /// A body being written over several loop iterations; no further request is read meanwhile.
    pub body: Option<Stream>,
    /// The peer closed its side: close once what it asked is answered.
    pub peer_done: bool,
    pub last_activity: Instant,
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// New bytes (or nothing new) and the peer is still there.
    Open,
    /// The peer closed its side.
    Closed,
}

impl Conn {
    pub fn new(stream: Socket, peer: Peer) -> Conn {
        Conn {
            stream,
            peer,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            deferred: false,
            closing: false,
            keep_alive: true,
            want_write: false,
            continue_sent: false,
            head_only: false,
            body: None,
            peer_done: false,
            last_activity: Instant::now(),
        }
    }

    /// Reads until WouldBlock, at most `limit` buffered bytes (the parser answers 413/431 past
    /// its limits, so more is never needed).
    pub fn fill(&mut self, limit: usize) -> io::Result<ReadOutcome> {
        let mut chunk = [0u8; CHUNK];
        loop {
            if self.inbuf.len() >= limit {
                return Ok(ReadOutcome::Open);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(ReadOutcome::Closed),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    self.last_activity = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::Open),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes as much of the output as the socket takes; true when all is written.
    pub fn flush(&mut self) -> io::Result<bool> {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.outbuf.drain(..n);
                    // A client reading a long answer is not idle.
                    self.last_activity = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}
