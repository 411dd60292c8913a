//! Why an Engine API request failed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::http::ConnError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    Connect {
        socket: PathBuf,
        error: String,
    },
    Send(String),
    Receive(String),
    BadResponse(String),
    /// No (complete) answer within the request's deadline: dockerd may be hung.
    TimedOut(Duration),
    /// The API version could not be agreed on.
    Version(String),
    /// dockerd answered with an error status; `message` is its `{"message": ...}`.
    Status {
        status: u16,
        message: String,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Connect { socket, error } => {
                write!(
                    f,
                    "cannot connect to dockerd at {}: {error}",
                    socket.display()
                )
            }
            EngineError::Send(e) => write!(f, "cannot send to dockerd: {e}"),
            EngineError::Receive(e) => write!(f, "cannot read from dockerd: {e}"),
            EngineError::BadResponse(e) => write!(f, "bad answer from dockerd: {e}"),
            EngineError::TimedOut(d) => {
                write!(f, "dockerd did not answer within {:.1}s", d.as_secs_f64())
            }
            EngineError::Version(e) => write!(f, "cannot agree on an Engine API version: {e}"),
            EngineError::Status { status, message } => write!(f, "dockerd: {message} ({status})"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<ConnError> for EngineError {
    fn from(e: ConnError) -> EngineError {
        match e {
            ConnError::Send(e) => EngineError::Send(e),
            ConnError::Receive(e) => EngineError::Receive(e),
            ConnError::BadResponse(e) => EngineError::BadResponse(e),
        }
    }
}

impl EngineError {
    /// An error answer: dockerd's JSON `message`, else the body as text.
    pub fn from_answer(status: u16, body: &[u8]) -> EngineError {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
        EngineError::Status { status, message }
    }
}
