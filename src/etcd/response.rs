//! etcd's answers, parsed from the gateway's JSON into typed values. proto3's JSON leaves out
//! every field at its default (a zero revision, an empty list, `false`, the enum's first
//! value), so a missing field is its default here too.

use serde_json::Value;

use super::error::{code, EtcdError};
use super::request::{LeaseId, Op, Request, Revision};
use super::Endpoint;
use crate::http::base64::{decode, Alphabet};

/// A key's value and its history, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    /// Writes since creation (1 after the first).
    pub version: i64,
    /// 0: none.
    pub lease: LeaseId,
}

impl Kv {
    /// The key as text (etcd keys are bytes; ours are UTF-8).
    pub fn key_str(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }

    pub fn value_str(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }
}

/// The answer to a [`Request`]; `revision` is the store's revision when it was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Put {
        revision: Revision,
    },
    Range {
        revision: Revision,
        kvs: Vec<Kv>,
        /// Keys in the range (more than `kvs` under a limit).
        count: i64,
        more: bool,
    },
    Delete {
        revision: Revision,
        deleted: i64,
    },
    Txn {
        revision: Revision,
        succeeded: bool,
        /// One per op of the branch that ran.
        responses: Vec<Response>,
    },
    LeaseGrant {
        revision: Revision,
        id: LeaseId,
        ttl: i64,
    },
    LeaseKeepAlive {
        id: LeaseId,
        ttl: i64,
    },
    LeaseRevoke {
        revision: Revision,
    },
}

impl Response {
    pub fn revision(&self) -> Revision {
        match self {
            Response::Put { revision }
            | Response::Range { revision, .. }
            | Response::Delete { revision, .. }
            | Response::Txn { revision, .. }
            | Response::LeaseGrant { revision, .. }
            | Response::LeaseRevoke { revision } => *revision,
            Response::LeaseKeepAlive { .. } => 0,
        }
    }
}

/// An int64 field: a JSON string (proto3's mapping) or number; absent is 0.
pub(super) fn int(v: &Value, name: &str) -> Result<i64, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("{name}: not an integer: {s:?}")),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("{name}: not an int64: {n}")),
        Some(other) => Err(format!("{name}: not an integer: {other}")),
    }
}

fn bytes(v: &Value, name: &str) -> Result<Vec<u8>, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => decode(s, Alphabet::Standard).map_err(|e| format!("{name}: {e}")),
        Some(other) => Err(format!("{name}: not base64 text: {other}")),
    }
}

fn flag(v: &Value, name: &str) -> bool {
    v.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn list<'a>(v: &'a Value, name: &str) -> &'a [Value] {
    v.get(name)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `header.revision`.
pub(super) fn revision(v: &Value) -> Result<Revision, String> {
    v.get("header").map_or(Ok(0), |h| int(h, "revision"))
}

pub(super) fn kv(v: &Value) -> Result<Kv, String> {
    Ok(Kv {
        key: bytes(v, "key")?,
        value: bytes(v, "value")?,
        create_revision: int(v, "create_revision")?,
        mod_revision: int(v, "mod_revision")?,
        version: int(v, "version")?,
        lease: int(v, "lease")?,
    })
}

fn op_response(op: &Op, v: &Value) -> Result<Response, String> {
    let revision = revision(v)?;
    Ok(match op {
        Op::Put { .. } => Response::Put { revision },
        Op::Range(_) => Response::Range {
            revision,
            kvs: list(v, "kvs").iter().map(kv).collect::<Result<_, _>>()?,
            count: int(v, "count")?,
            more: flag(v, "more"),
        },
        Op::Delete(_) => Response::Delete {
            revision,
            deleted: int(v, "deleted")?,
        },
    })
}

/// A transaction's `responses`: each `{"response_put": {...}}` and so on, in the order of
/// the branch's ops.
fn txn_responses(ops: &[Op], v: &Value) -> Result<Vec<Response>, String> {
    let answers = list(v, "responses");
    if answers.len() != ops.len() {
        return Err(format!("{} responses to {} ops", answers.len(), ops.len()));
    }
    ops.iter()
        .zip(answers)
        .map(|(op, a)| {
            let name = match op {
                Op::Put { .. } => "response_put",
                Op::Range(_) => "response_range",
                Op::Delete(_) => "response_delete_range",
            };
            let inner = a.get(name).ok_or_else(|| format!("no {name} in {a}"))?;
            op_response(op, inner)
        })
        .collect()
}

/// The first message of a gateway stream (one JSON object a line), as keep-alive answers.
fn first_message(body: &[u8]) -> Result<Value, String> {
    let line = body
        .split(|b| *b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .ok_or("an empty stream")?;
    serde_json::from_slice(line).map_err(|e| e.to_string())
}

/// A 2xx answer's body, as the answer to `request`.
pub fn parse(request: &Request, endpoint: Endpoint, body: &[u8]) -> Result<Response, EtcdError> {
    let bad = |error: String| EtcdError::BadAnswer { endpoint, error };
    if let Request::LeaseKeepAlive(id) = request {
        let message = first_message(body).map_err(bad)?;
        if let Some(err) = stream_error(&message, endpoint) {
            return Err(err);
        }
        let v = message
            .get("result")
            .ok_or_else(|| bad(format!("no result in {message}")))?;
        let ttl = int(v, "TTL").map_err(bad)?;
        // An unknown lease is answered with no TTL, not with an error.
        if ttl <= 0 {
            return Err(EtcdError::LeaseNotFound {
                endpoint,
                lease: *id,
            });
        }
        return Ok(Response::LeaseKeepAlive { id: *id, ttl });
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let revision = revision(&v).map_err(bad)?;
    let response = match request {
        Request::Op(op) => op_response(op, &v),
        Request::Txn(t) => {
            let succeeded = flag(&v, "succeeded");
            let ops = if succeeded { &t.success } else { &t.failure };
            txn_responses(ops, &v).map(|responses| Response::Txn {
                revision,
                succeeded,
                responses,
            })
        }
        Request::LeaseGrant { .. } => {
            if let Some(e) = v
                .get("error")
                .and_then(Value::as_str)
                .filter(|e| !e.is_empty())
            {
                return Err(EtcdError::Server {
                    endpoint,
                    status: 200,
                    code: None,
                    message: e.to_string(),
                });
            }
            int(&v, "ID").and_then(|id| {
                Ok(Response::LeaseGrant {
                    revision,
                    id,
                    ttl: int(&v, "TTL")?,
                })
            })
        }
        Request::LeaseRevoke(_) => Ok(Response::LeaseRevoke { revision }),
        // Answered above: its answer is a stream.
        Request::LeaseKeepAlive(_) => Err("a keep-alive read as a unary answer".into()),
    };
    response.map_err(bad)
}

/// An error answer (non-2xx): etcd's `{"error": "...", "code": N}` for unary calls, or
/// `{"error": {"grpc_code": N, "message": "..."}}` for streams; else the body as text.
pub fn error_answer(
    status: u16,
    body: &[u8],
    endpoint: Endpoint,
    request: Option<&Request>,
) -> EtcdError {
    let v = serde_json::from_slice::<Value>(body).ok();
    let (code, message) = match v.as_ref().map(error_fields) {
        Some(Some((code, message))) => (code, message),
        _ => (None, String::from_utf8_lossy(body).trim().to_string()),
    };
    match (code, request) {
        (
            Some(code::NOT_FOUND),
            Some(Request::LeaseKeepAlive(lease) | Request::LeaseRevoke(lease)),
        ) => EtcdError::LeaseNotFound {
            endpoint,
            lease: *lease,
        },
        (
            Some(code::NOT_FOUND),
            Some(Request::Op(Op::Put {
                lease: Some(lease), ..
            })),
        ) => EtcdError::LeaseNotFound {
            endpoint,
            lease: *lease,
        },
        _ => EtcdError::Server {
            endpoint,
            status,
            code,
            message,
        },
    }
}

/// The code and message of either error shape, if `v` is one.
fn error_fields(v: &Value) -> Option<(Option<i64>, String)> {
    match v.get("error")? {
        inner @ Value::Object(_) => {
            let message = inner.get("message").and_then(Value::as_str).unwrap_or("");
            Some((int(inner, "grpc_code").ok(), message.to_string()))
        }
        Value::String(e) => {
            let message = v.get("message").and_then(Value::as_str).unwrap_or(e);
            Some((int(v, "code").ok().filter(|c| *c != 0), message.to_string()))
        }
        _ => None,
    }
}

/// A stream's in-band error message (`{"error": {...}}` in place of a result), as an error.
pub(super) fn stream_error(v: &Value, endpoint: Endpoint) -> Option<EtcdError> {
    let (code, message) = error_fields(v)?;
    let status = match code {
        Some(code::UNAVAILABLE) => 503,
        _ => 500,
    };
    Some(EtcdError::Server {
        endpoint,
        status,
        code,
        message,
    })
}
