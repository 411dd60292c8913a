//! A watch's stream: the gateway's chunked body carries one JSON message a line
//! (`{"result": {"header", "created", "events", "canceled", ...}}`, or `{"error": {...}}`).

use serde_json::Value;

use super::error::EtcdError;
use super::request::{KeyRange, Revision};
use super::response::{int, kv, revision, stream_error, Kv};
use super::Endpoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// A change seen by a watch. A deletion's `kv` has only the key and the deleting revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    pub kv: Kv,
}

/// One message of a watch stream.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Message {
    /// The watch is in place; the store was at `revision`.
    Created {
        revision: Revision,
    },
    /// Changes, in revision order.
    Events(Vec<WatchEvent>),
    /// Nothing new through `revision` (a progress notification).
    Progress {
        revision: Revision,
    },
    /// etcd ended the watch: a compacted start (`compact_revision` > 0) or another reason.
    Canceled {
        compact_revision: Revision,
        reason: String,
    },
    Error(EtcdError),
}

pub(super) fn parse_message(line: &[u8], endpoint: Endpoint) -> Message {
    let bad = |error: String| Message::Error(EtcdError::BadAnswer { endpoint, error });
    let v: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return bad(format!("watch message: {e}")),
    };
    if let Some(e) = stream_error(&v, endpoint) {
        return Message::Error(e);
    }
    let Some(r) = v.get("result") else {
        return bad(format!("watch message without a result: {v}"));
    };
    match message(r) {
        Ok(m) => m,
        Err(e) => bad(e),
    }
}

fn message(r: &Value) -> Result<Message, String> {
    let is = |name: &str| r.get(name).and_then(Value::as_bool).unwrap_or(false);
    if is("canceled") {
        let reason = r.get("cancel_reason").and_then(Value::as_str).unwrap_or("");
        return Ok(Message::Canceled {
            compact_revision: int(r, "compact_revision")?,
            reason: reason.to_string(),
        });
    }
    if is("created") {
        return Ok(Message::Created {
            revision: revision(r)?,
        });
    }
    let events = r.get("events").and_then(Value::as_array);
    match events {
        Some(events) if !events.is_empty() => events
            .iter()
            .map(event)
            .collect::<Result<_, _>>()
            .map(Message::Events),
        _ => Ok(Message::Progress {
            revision: revision(r)?,
        }),
    }
}

fn event(v: &Value) -> Result<WatchEvent, String> {
    let kind = match v.get("type").and_then(Value::as_str) {
        None | Some("PUT") => EventKind::Put,
        Some("DELETE") => EventKind::Delete,
        Some(other) => return Err(format!("unknown event type {other:?}")),
    };
    let kv = v.get("kv").map_or(Ok(None), |k| kv(k).map(Some))?;
    let kv = kv.ok_or("an event without a kv")?;
    Ok(WatchEvent { kind, kv })
}

/// Longest watch message accepted (etcd's own limit on a request is 1.5 MiB; a batch of
/// events is smaller than this by far).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// What the client keeps of a watch: what it watches and how far it has seen.
#[derive(Debug)]
pub(super) struct WatchState {
    pub keys: KeyRange,
    /// The first revision not yet delivered (0: from whatever is current at creation).
    pub next: Revision,
    /// The created message arrived on the current attempt.
    pub established: bool,
    /// Stream bytes not yet a whole line.
    pending: Vec<u8>,
}

impl WatchState {
    pub fn new(keys: KeyRange, start_revision: Revision) -> WatchState {
        WatchState {
            keys,
            next: start_revision.max(0),
            established: false,
            pending: Vec::new(),
        }
    }

    /// A new attempt starts from where the last one got to.
    pub fn restart(&mut self) {
        self.established = false;
        self.pending.clear();
    }

    /// The whole lines that `data` completes; an error if a line grows past any message.
    pub fn lines(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(eol) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=eol).collect();
            if !line.iter().all(u8::is_ascii_whitespace) {
                out.push(line);
            }
        }
        if self.pending.len() > MAX_MESSAGE {
            return Err(format!("a watch message over {MAX_MESSAGE} bytes"));
        }
        Ok(out)
    }

    /// Notes what a message tells of progress; the revision everything is known through.
    /// Only events move it past a start revision: a header's revision may run ahead of the
    /// events still to come (a watcher catching up is sent the current revision).
    pub fn advance(&mut self, m: &Message) -> Revision {
        match m {
            Message::Created { revision } if self.next == 0 => self.next = revision + 1,
            Message::Events(events) => {
                if let Some(last) = events.iter().map(|e| e.kv.mod_revision).max() {
                    self.next = self.next.max(last + 1);
                }
            }
            Message::Progress { revision } if self.established => {
                self.next = self.next.max(revision + 1);
            }
            _ => {}
        }
        self.next - 1
    }
}
