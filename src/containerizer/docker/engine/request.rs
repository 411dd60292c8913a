//! One Engine API request on its own connection, as a state machine driven by fd readiness:
//! connect, write the request, read the head, then the body (whole, or handed out as it streams).
//! Nothing here blocks: every read and write stops at `WouldBlock`.

use std::io::{self, Read, Write};

use mio::net::UnixStream;

use super::error::EngineError;
use crate::http::{
    parse_response_head, parse_response_with, BodyFraming, ChunkedDecoder, ParseHead,
    ParseResponse, ResponseContext,
};

/// Largest whole body accepted (inspect and list answers are far smaller).
const MAX_WHOLE_BODY: usize = 16 * 1024 * 1024;

/// How the answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole answer, within the deadline.
    Whole,
    /// The head within the deadline; then the body as it comes (pull progress, wait).
    Stream,
    /// An upgraded connection (attach): after the head, raw bytes until dockerd closes.
    Hijack,
}

/// What one step of a request produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
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
    /// A streaming body ended as framed (or dockerd closed an until-close one).
    End,
    Failed(EngineError),
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

/// A request in flight.
#[derive(Debug)]
pub struct Conn {
    pub stream: UnixStream,
    mode: Mode,
    was_head: bool,
    phase: Phase,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(stream: UnixStream, mode: Mode, bytes: Vec<u8>, was_head: bool) -> Conn {
        Conn {
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
                    self.finish(out, Progress::Failed(EngineError::Receive(e.to_string())));
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
                    Progress::Failed(EngineError::BadResponse(
                        "dockerd closed the connection before the answer was complete".into(),
                    )),
                );
                return;
            }
        }
    }

    fn write_pending(&mut self) -> Result<(), EngineError> {
        let Phase::Writing { out, written } = &mut self.phase else {
            return Ok(());
        };
        while *written < out.len() {
            match self.stream.write(&out[*written..]) {
                Ok(n) => *written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A connect still in progress reports ENOTCONN: wait for writability.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) =>
                {
                    return Ok(())
                }
                Err(e) => return Err(EngineError::Send(e.to_string())),
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
                    return self.finish(out, Progress::Failed(EngineError::BadResponse(e.message)))
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
                        self.finish(out, Progress::Failed(EngineError::BadResponse(e.message)))
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
                        self.finish(out, Progress::Failed(EngineError::BadResponse(msg.into())))
                    }
                }
            }
            Phase::Writing { .. } | Phase::Head | Phase::Finished => {}
        }
    }
}

/// Serialises a request. `Connection: close` keeps no connection state between requests; an
/// attach asks for the upgrade dockerd hijacks the connection with.
pub fn encode(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    mode: Mode,
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: docker\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    match mode {
        Mode::Hijack => head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
        Mode::Whole | Mode::Stream => head.push_str("Connection: close\r\n\r\n"),
    }
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}
