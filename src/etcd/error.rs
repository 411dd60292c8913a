//! Why an etcd request (or watch) failed, naming the member it was sent to.

use std::fmt;
use std::time::Duration;

use super::endpoint::{BadEndpoint, Endpoint};
use crate::http::ConnError;

/// gRPC status codes etcd answers with (in the gateway's `code` field).
pub mod code {
    /// The deadline of the gateway's own call to the server passed.
    pub const UNKNOWN: i64 = 2;
    pub const INVALID_ARGUMENT: i64 = 3;
    /// Only a lease is ever "not found" in the KV and lease APIs.
    pub const NOT_FOUND: i64 = 5;
    /// A revision older than the last compaction.
    pub const OUT_OF_RANGE: i64 = 11;
    /// "no leader", "request timed out", "not capable": this member cannot serve now.
    pub const UNAVAILABLE: i64 = 14;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdError {
    /// An endpoint that cannot be used (`--etcd_endpoints`).
    BadEndpoint(BadEndpoint),
    Connect {
        endpoint: Endpoint,
        error: String,
    },
    /// Sending, receiving or reading HTTP failed on an open connection.
    Connection {
        endpoint: Endpoint,
        error: ConnError,
    },
    /// No (complete) answer within the client's timeout: the member may be stopped, or
    /// without quorum.
    TimedOut {
        endpoint: Endpoint,
        after: Duration,
    },
    /// etcd answered with an error: its gRPC code (when the answer had one) and message.
    Server {
        endpoint: Endpoint,
        status: u16,
        code: Option<i64>,
        message: String,
    },
    /// The lease is unknown to etcd (expired or revoked).
    LeaseNotFound {
        endpoint: Endpoint,
        lease: i64,
    },
    /// A watch's start revision was compacted: what happened since is lost, read afresh.
    Compacted {
        endpoint: Endpoint,
        revision: i64,
    },
    /// etcd's answer is not what its API says.
    BadAnswer {
        endpoint: Endpoint,
        error: String,
    },
    /// A watch stream ended (the member closed it, or cancelled the watch).
    StreamEnded {
        endpoint: Endpoint,
        reason: String,
    },
}

impl EtcdError {
    /// The member the failed request went to, if it got that far.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            EtcdError::BadEndpoint(_) => None,
            EtcdError::Connect { endpoint, .. }
            | EtcdError::Connection { endpoint, .. }
            | EtcdError::TimedOut { endpoint, .. }
            | EtcdError::Server { endpoint, .. }
            | EtcdError::LeaseNotFound { endpoint, .. }
            | EtcdError::Compacted { endpoint, .. }
            | EtcdError::BadAnswer { endpoint, .. }
            | EtcdError::StreamEnded { endpoint, .. } => Some(endpoint),
        }
    }

    /// Whether the member, not the request, is at fault, so another member may serve it:
    /// unreachable, silent, or without a leader. A write that timed out may still have been
    /// applied; the caller's writes must bear a repeat (compare-and-set on what it wrote).
    pub fn is_unavailable(&self) -> bool {
        match self {
            EtcdError::Connect { .. }
            | EtcdError::Connection { .. }
            | EtcdError::TimedOut { .. } => true,
            EtcdError::Server { status, code, .. } => {
                *status == 503 || matches!(code, Some(code::UNAVAILABLE | code::UNKNOWN))
            }
            _ => false,
        }
    }
}

impl fmt::Display for EtcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtcdError::BadEndpoint(e) => e.fmt(f),
            EtcdError::Connect { endpoint, error } => {
                write!(f, "cannot connect to etcd at {endpoint}: {error}")
            }
            EtcdError::Connection { endpoint, error } => write!(f, "etcd at {endpoint}: {error}"),
            EtcdError::TimedOut { endpoint, after } => write!(
                f,
                "etcd at {endpoint} did not answer within {:.1}s",
                after.as_secs_f64()
            ),
            EtcdError::Server {
                endpoint,
                status,
                code,
                message,
            } => {
                write!(f, "etcd at {endpoint}: {message} (HTTP {status}")?;
                match code {
                    Some(c) => write!(f, ", code {c})"),
                    None => f.write_str(")"),
                }
            }
            EtcdError::LeaseNotFound { endpoint, lease } => {
                write!(f, "etcd at {endpoint}: lease {lease:x} not found")
            }
            EtcdError::Compacted { endpoint, revision } => write!(
                f,
                "etcd at {endpoint}: the watch's revisions are compacted (through {revision})"
            ),
            EtcdError::BadAnswer { endpoint, error } => {
                write!(f, "bad answer from etcd at {endpoint}: {error}")
            }
            EtcdError::StreamEnded { endpoint, reason } => {
                write!(f, "etcd at {endpoint} ended the watch: {reason}")
            }
        }
    }
}

impl std::error::Error for EtcdError {}

impl From<BadEndpoint> for EtcdError {
    fn from(e: BadEndpoint) -> EtcdError {
        EtcdError::BadEndpoint(e)
    }
}
