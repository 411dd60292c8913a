//! Talking to the agent: the shared call path, status handling and the CLI's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::args::{ArgError, Parsed};
use crate::http::{reason_phrase, Client, ClientError, ClientResponse};

/// Where the agent listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/mesolite/agent.sock";

/// The path of the v1 operator API.
pub const API_PATH: &str = "/api/v1";

/// Why a verb failed.
#[derive(Debug)]
pub enum CliError {
    Usage(ArgError),
    Client(ClientError),
    NoSuchContainer(String),
    /// A non-2xx answer, with its body.
    Agent {
        status: u16,
        body: String,
    },
    /// A 2xx answer whose JSON lacks what the verb needs.
    UnexpectedAnswer {
        what: &'static str,
        body: String,
    },
    Output(io::Error),
    /// A file the verb reads (an app definition) is missing or not JSON.
    Input(String),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            // The reader went away (`| head`): end quietly, like a process killed by SIGPIPE.
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 141,
            _ => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(e) => write!(f, "{e}"),
            CliError::Client(e) => write!(f, "{e}"),
            CliError::NoSuchContainer(id) => write!(f, "no such container: {id}"),
            CliError::Agent { status, body } if body.is_empty() => {
                write!(f, "agent answered {status} {}", reason_phrase(*status))
            }
            CliError::Agent { status, body } => {
                write!(
                    f,
                    "agent answered {status} {}: {body}",
                    reason_phrase(*status)
                )
            }
            CliError::UnexpectedAnswer { what, body } => {
                write!(f, "unexpected answer from the agent (no {what}): {body}")
            }
            CliError::Output(e) => write!(f, "cannot write output: {e}"),
            CliError::Input(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Usage(e) => Some(e),
            CliError::Client(e) => Some(e),
            CliError::Output(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ArgError> for CliError {
    fn from(e: ArgError) -> CliError {
        CliError::Usage(e)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> CliError {
        CliError::Client(e)
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> CliError {
        CliError::Output(e)
    }
}

/// Options every verb shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub socket: PathBuf,
    pub json: bool,
}

impl Common {
    /// `--socket` beats `MESOLITE_SOCKET` (passed in as `env_socket`) beats the default.
    pub fn from_parsed(parsed: &Parsed, env_socket: Option<&str>) -> Common {
        let socket = parsed
            .value("socket")
            .or(env_socket.filter(|s| !s.is_empty()))
            .unwrap_or(DEFAULT_SOCKET);
        Common {
            socket: PathBuf::from(socket),
            json: parsed.flag("json"),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }
}

/// `{"value": id}`, Mesos's ContainerID.
pub fn container_id(id: &str) -> Value {
    json!({ "value": id })
}

/// Accepts 2xx; a 404 about `id` becomes `NoSuchContainer`, anything else `Agent`.
pub fn check(resp: ClientResponse, id: Option<&str>) -> Result<ClientResponse, CliError> {
    match (resp.status, id) {
        (200..=299, _) => Ok(resp),
        (404, Some(id)) => Err(CliError::NoSuchContainer(id.to_string())),
        (status, _) => Err(CliError::Agent {
            status,
            body: resp.text().trim().to_string(),
        }),
    }
}

/// POSTs one operator call and checks the status.
pub fn call(common: &Common, body: &Value, id: Option<&str>) -> Result<ClientResponse, CliError> {
    check(common.client().post_json(API_PATH, body)?, id)
}

/// The node's cpus (GET_METRICS `slave/cpus_total`), for the human CPUS column to tell a hard
/// limit from none (where Mesos reports the whole node); None if the agent does not say.
pub fn node_cpus(common: &Common) -> Option<f64> {
    let answer = call(
        common,
        &json!({"type": "GET_METRICS", "get_metrics": {}}),
        None,
    )
    .ok()?
    .json()
    .ok()?;
    metric(&answer, "slave/cpus_total")
}

/// A metric's value in a GET_METRICS answer.
pub fn metric(answer: &Value, name: &str) -> Option<f64> {
    answer["get_metrics"]["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)?["value"]
        .as_f64()
}

/// The answer's JSON, or `UnexpectedAnswer` naming what the verb expected.
pub fn answer_json(resp: &ClientResponse, what: &'static str) -> Result<Value, CliError> {
    resp.json().map_err(|_| CliError::UnexpectedAnswer {
        what,
        body: resp.text(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cli::args::parse;

    fn resp(status: u16, body: &str) -> ClientResponse {
        ClientResponse {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn socket_precedence() {
        let none = parse(&[], &[], false).unwrap();
        assert_eq!(
            Common::from_parsed(&none, None).socket,
            PathBuf::from(DEFAULT_SOCKET)
        );
        assert_eq!(
            Common::from_parsed(&none, Some("/tmp/env.sock")).socket,
            PathBuf::from("/tmp/env.sock")
        );
        let flag = parse(&["--socket=/tmp/flag.sock".to_string()], &[], false).unwrap();
        assert_eq!(
            Common::from_parsed(&flag, Some("/tmp/env.sock")).socket,
            PathBuf::from("/tmp/flag.sock")
        );
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(check(resp(202, ""), Some("a")).is_ok());
        assert_eq!(
            check(resp(404, "gone"), Some("web-1"))
                .unwrap_err()
                .to_string(),
            "no such container: web-1"
        );
        let err = check(resp(500, "still running\n"), Some("web-1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "agent answered 500 Internal Server Error: still running"
        );
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            check(resp(404, "unknown path"), None)
                .unwrap_err()
                .to_string(),
            "agent answered 404 Not Found: unknown path"
        );
    }
}
