//! One client request on its own non-blocking connection, as a state machine driven by fd
//! readiness: write the request, read the head, then the body (whole, or handed out as it
//! streams). Nothing here blocks: every read and write stops at `WouldBlock`. The stream is
//! anything that reads and writes (a unix socket to dockerd, a TCP socket to etcd), so every
//! client in the loop shares one reading of HTTP.

use std::fmt;
use std::io::{self, Read, Write};

use super::{
    parse_response_head, parse_response_with, BodyFraming, ChunkedDecoder, ParseHead,
    ParseResponse, ResponseContext,
};

/// Largest whole body accepted (the answers of the APIs spoken this way are far smaller).
const MAX_WHOLE_BODY: usize = 16 * 1024 * 1024;

/// How the answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole answer, within the deadline.
    Whole,
    /// The head within the deadline; then the body as it comes (pull progress, wait, watch).
    Stream,
    /// An upgraded connection (attach): after the head, raw bytes until the peer closes.
    Hijack,
}

/// Why a request failed on its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnError {
    Send(String),
    Receive(String),
    BadResponse(String),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Send(e) => write!(f, "cannot send: {e}"),
            ConnError::Receive(e) => write!(f, "cannot read: {e}"),
            ConnError::BadResponse(e) => write!(f, "bad answer: {e}"),
        }
    }
}

impl std::error::Error for ConnError {}

/// What one step of a request produced; `E` is the error type of the client it is for.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress<E = ConnError> {
    /// The complete answer of a `Whole` request, or the non-2xx answer of any request.
    Done {
        status: u16,
        body: Vec<u8>,
    },
    /// A streaming request's 2xx head arrived: its deadline no longer covers the body.
    Streaming {
        status: u16,
    },
    /// Body bytes of a streaming request.
    Data(Vec<u8>),
    /// A streaming body ended as framed (or the peer closed an until-close one).
    End,
    Failed(E),
}

impl<E> Progress<E> {
    /// The same progress with the failure (if it is one) turned into another error type.
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> Progress<F> {
        match self {
            Progress::Done { status, body } => Progress::Done { status, body },
            Progress::Streaming { status } => Progress::Streaming { status },
            Progress::Data(d) => Progress::Data(d),
            Progress::End => Progress::End,
            Progress::Failed(e) => Progress::Failed(f(e)),
        }
    }

    /// Whether the request is over (nothing follows this).
    pub fn is_last(&self) -> bool {
        matches!(
            self,
            Progress::Done { .. } | Progress::End | Progress::Failed(_)
        )
    }
}

#[derive(Debug)]
enum Phase {
    Writing {
        out: Vec<u8>,
        written: usize,
    },
    Head,
    /// A non-2xx answer to a streaming request, or any answer to a whole one: read it whole.
    Whole,
    Body(Body),
    Finished,
}

#[derive(Debug)]
enum Body {
    Length(usize),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// A request in flight on `stream`.
#[derive(Debug)]
pub struct ClientConn<S> {
    pub stream: S,
    mode: Mode,
    was_head: bool,
    phase: Phase,
    buf: Vec<u8>,
}

impl<S: Read + Write> ClientConn<S> {
    /// `bytes` is the whole request, sent as the socket allows (a connect may be in progress).
    pub fn new(stream: S, mode: Mode, bytes: Vec<u8>, was_head: bool) -> ClientConn<S> {
        ClientConn {
            stream,
            mode,
            was_head,
            phase: Phase::Writing {
                out: bytes,
                written: 0,
            },
            buf: Vec::new(),
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// Whether the head has arrived (a streaming body is no longer bounded by the deadline).
    pub fn is_streaming(&self) -> bool {
        matches!(self.phase, Phase::Body(_))
    }

    /// Advances as far as the socket allows; appends what happened to `out`.
    pub fn drive(&mut self, out: &mut Vec<Progress>) {
        if let Err(e) = self.write_pending() {
            self.finish(out, Progress::Failed(e));
            return;
        }
        if matches!(self.phase, Phase::Writing { .. } | Phase::Finished) {
            return;
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let at_eof = match self.stream.read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    false
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.finish(out, Progress::Failed(ConnError::Receive(e.to_string())));
                    return;
                }
            };
            self.parse(at_eof, out);
            if self.is_finished() {
                return;
            }
            if at_eof {
                self.finish(
                    out,
                    Progress::Failed(ConnError::BadResponse(
                        "the connection closed before the answer was complete".into(),
                    )),
                );
                return;
            }
        }
    }

    fn write_pending(&mut self) -> Result<(), ConnError> {
        let Phase::Writing { out, written } = &mut self.phase else {
            return Ok(());
        };
        while *written < out.len() {
            match self.stream.write(&out[*written..]) {
                Ok(n) => *written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A connect still in progress reports ENOTCONN (unix) or EAGAIN (TCP): wait
                // for writability.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) =>
                {
                    return Ok(())
                }
                Err(e) => return Err(ConnError::Send(e.to_string())),
            }
        }
        self.phase = Phase::Head;
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<Progress>, last: Progress) {
        self.phase = Phase::Finished;
        out.push(last);
    }

    /// Consumes what `buf` holds in the current phase.
    fn parse(&mut self, at_eof: bool, out: &mut Vec<Progress>) {
        if matches!(self.phase, Phase::Head) {
            match parse_response_head(&self.buf, self.was_head) {
                ParseHead::Incomplete => return,
                ParseHead::Error(e) => {
                    return self.finish(out, Progress::Failed(ConnError::BadResponse(e.message)))
                }
                ParseHead::Complete(head) => {
                    let ok = (200..300).contains(&head.status)
                        || (head.status == 101 && self.mode == Mode::Hijack);
                    if self.mode == Mode::Whole || !ok {
                        self.phase = Phase::Whole;
                    } else {
                        self.buf.drain(..head.len);
                        out.push(Progress::Streaming {
                            status: head.status,
                        });
                        self.phase = Phase::Body(match (self.mode, head.framing) {
                            (Mode::Hijack, _) | (_, BodyFraming::UntilClose) => Body::UntilClose,
                            (_, BodyFraming::Empty) => Body::Length(0),
                            (_, BodyFraming::Length(n)) => Body::Length(n),
                            (_, BodyFraming::Chunked) => Body::Chunked(ChunkedDecoder::default()),
                        });
                    }
                }
            }
        }
        match &mut self.phase {
            Phase::Whole => {
                let ctx = ResponseContext {
                    request_was_head: self.was_head,
                    at_eof,
                };
                match parse_response_with(&self.buf, MAX_WHOLE_BODY, ctx) {
                    ParseResponse::Incomplete => {}
                    ParseResponse::Complete { status, body, .. } => {
                        self.finish(out, Progress::Done { status, body })
                    }
                    ParseResponse::Error(e) => {
                        self.finish(out, Progress::Failed(ConnError::BadResponse(e.message)))
                    }
                }
            }
            Phase::Body(body) => {
                let mut data = Vec::new();
                let ended = match body {
                    Body::Length(left) => {
                        let take = (*left).min(self.buf.len());
                        data.extend(self.buf.drain(..take));
                        *left -= take;
                        Ok(*left == 0)
                    }
                    Body::Chunked(decoder) => decoder.feed(&mut self.buf, &mut data),
                    Body::UntilClose => {
                        data.append(&mut self.buf);
                        Ok(at_eof)
                    }
                };
                if !data.is_empty() {
                    out.push(Progress::Data(data));
                }
                match ended {
                    Ok(true) => self.finish(out, Progress::End),
                    Ok(false) => {}
                    Err(msg) => {
                        self.finish(out, Progress::Failed(ConnError::BadResponse(msg.into())))
                    }
                }
            }
            Phase::Writing { .. } | Phase::Head | Phase::Finished => {}
        }
    }
}
