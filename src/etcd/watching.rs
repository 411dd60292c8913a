//! The client's side of watches: their stream's messages, and the probes that notice a
//! member gone silent under a watch (a stopped member keeps its connections open).

use std::time::Instant;

use mio::Registry;

use super::response::error_answer;
use super::watch::{parse_message, Message};
use super::{Call, Endpoint, Etcd, EtcdError, EtcdEvent, EtcdId, Kind, Role, PROBE_PATH};
use crate::http::{Mode, Progress};
use crate::timer::{TimerKind, Timers};

impl Etcd {
    /// Progress of watch `id`'s current attempt.
    pub(super) fn on_watch_progress(
        &mut self,
        id: EtcdId,
        endpoint: Endpoint,
        progress: Progress,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        let error = match progress {
            Progress::Data(data) => {
                return self.on_watch_data(id, endpoint, &data, registry, timers)
            }
            Progress::Streaming { .. } => return,
            // Only an error status is read whole.
            Progress::Done { status, body } => error_answer(status, &body, endpoint, None),
            Progress::End => EtcdError::StreamEnded {
                endpoint,
                reason: "the stream ended".into(),
            },
            Progress::Failed(error) => EtcdError::Connection { endpoint, error },
        };
        self.failed(id, error, registry, timers);
    }

    /// Bytes of watch `id`'s stream.
    pub(super) fn on_watch_data(
        &mut self,
        id: EtcdId,
        endpoint: Endpoint,
        data: &[u8],
        registry: &Registry,
        timers: &mut Timers,
    ) {
        let lines = match self.calls.get_mut(&id).map(|c| &mut c.kind) {
            Some(Kind::Watch(w)) => w.lines(data),
            _ => return,
        };
        let lines = match lines {
            Ok(lines) => lines,
            Err(error) => {
                return self.failed(
                    id,
                    EtcdError::BadAnswer { endpoint, error },
                    registry,
                    timers,
                )
            }
        };
        for line in lines {
            let message = parse_message(&line, endpoint);
            if let Err(e) = self.on_message(id, endpoint, message, timers) {
                self.failed(id, e, registry, timers);
                return;
            }
        }
    }

    fn on_message(
        &mut self,
        id: EtcdId,
        endpoint: Endpoint,
        message: Message,
        timers: &mut Timers,
    ) -> Result<(), EtcdError> {
        let timeout = self.timeout;
        let Some(call) = self.calls.get_mut(&id) else {
            return Ok(());
        };
        let Kind::Watch(w) = &mut call.kind else {
            return Ok(());
        };
        let revision = w.advance(&message);
        match message {
            Message::Created { .. } => {
                w.established = true;
                self.preferred = call.endpoint;
                call.next_probe = Some(Instant::now() + timeout);
                timers.add(timeout, TimerKind::Etcd(call.attempt));
                self.ready.push(EtcdEvent::Watch {
                    id,
                    events: Vec::new(),
                    revision,
                });
            }
            Message::Events(events) => self.ready.push(EtcdEvent::Watch {
                id,
                events,
                revision,
            }),
            Message::Progress { .. } if w.established => self.ready.push(EtcdEvent::Watch {
                id,
                events: Vec::new(),
                revision,
            }),
            Message::Progress { .. } => {}
            Message::Canceled {
                compact_revision, ..
            } if compact_revision > 0 => {
                return Err(EtcdError::Compacted {
                    endpoint,
                    revision: compact_revision,
                })
            }
            Message::Canceled { reason, .. } => {
                let reason = if reason.is_empty() {
                    "cancelled".to_string()
                } else {
                    reason
                };
                return Err(EtcdError::StreamEnded { endpoint, reason });
            }
            Message::Error(e) => return Err(e),
        }
        Ok(())
    }

    /// Progress of a probe of watch `id`'s member: a 2xx shows it alive and led; silence, a
    /// refusal or "no leader" (the probe carries `hasleader` too) ends the watch.
    pub(super) fn on_probe(
        &mut self,
        id: EtcdId,
        endpoint: Endpoint,
        progress: Progress,
        registry: &Registry,
        timers: &mut Timers,
    ) {
        let timeout = self.timeout;
        let error = match progress {
            Progress::Done { status, .. } if (200..300).contains(&status) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.probe = None;
                    call.next_probe = Some(Instant::now() + timeout);
                    timers.add(timeout, TimerKind::Etcd(call.attempt));
                }
                return;
            }
            Progress::Done { status, body } => error_answer(status, &body, endpoint, None),
            Progress::Failed(error) => EtcdError::Connection { endpoint, error },
            Progress::Streaming { .. } | Progress::Data(_) | Progress::End => return,
        };
        self.failed(id, error, registry, timers);
    }

    /// `TimerKind::Etcd(conn)` is due: an attempt or probe past its deadline fails; an
    /// established watch's member is probed when its time comes.
    pub fn on_timer(
        &mut self,
        conn: u32,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Vec<EtcdEvent> {
        let now = Instant::now();
        if let Some(a) = self.attempts.get(&conn) {
            let (id, role, endpoint, deadline) = (a.call, a.role, a.endpoint, a.deadline);
            let endpoint = self.endpoints[endpoint];
            let after = self.calls.get(&id).map_or(self.timeout, |c| c.timeout);
            let timed_out = EtcdError::TimedOut { endpoint, after };
            match (role, self.calls.get(&id)) {
                (Role::Main, Some(call)) if is_established(call) => {
                    let due = call.probe.is_none() && call.next_probe.is_some_and(|t| t <= now);
                    if due {
                        self.probe(id, registry, timers);
                    }
                }
                (_, Some(_)) if deadline <= now => self.failed(id, timed_out, registry, timers),
                _ => {}
            }
        }
        std::mem::take(&mut self.ready)
    }

    fn probe(&mut self, id: EtcdId, registry: &Registry, timers: &mut Timers) {
        let Some(endpoint) = self.calls.get(&id).map(|c| c.endpoint) else {
            return;
        };
        let body = serde_json::json!({});
        match self.open(
            id,
            Role::Probe,
            endpoint,
            PROBE_PATH,
            &body,
            Mode::Whole,
            registry,
            timers,
        ) {
            Ok(conn) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.probe = Some(conn);
                }
            }
            Err(e) => self.failed(id, e, registry, timers),
        }
    }
}

fn is_established(call: &Call) -> bool {
    matches!(&call.kind, Kind::Watch(w) if w.established)
}
