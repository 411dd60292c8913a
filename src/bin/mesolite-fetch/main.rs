//! `mesolite-fetch`: fetches a container's URIs into its sandbox, for the agent.
//!
//! The agent spawns it per launch, writes one JSON `FetchRequest` on stdin and reads JSON lines
//! from stdout (see `mesolite::fetcher::protocol`); stderr is the sandbox's `stderr` file. All
//! blocking work (network, copies, archives) lives here so the agent's loop never waits, and
//! libcurl is linked into this binary only.

mod deliver;
mod download;
mod error;
mod extract;
mod identity;
mod run;
mod safe_fs;

use std::io::Read;
use std::process::ExitCode;

use mesolite::fetcher::protocol::{
    Action, FetchOutcome, FetchRequest, Mode, ProbeOutcome, MAX_REQUEST_BYTES,
};

use crate::error::FetchError;

fn read_request(input: impl Read) -> Result<FetchRequest, FetchError> {
    let mut bytes = Vec::new();
    input
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FetchError::Request(format!("cannot read stdin: {e}")))?;
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(FetchError::Request(format!(
            "larger than {MAX_REQUEST_BYTES} bytes"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| FetchError::Request(e.to_string()))
}

/// Reports a failure that happened before any item was attempted, against item 0.
fn fail_before_items(request: &FetchRequest, err: &FetchError) {
    eprintln!(
        "Failed to fetch all URIs into '{}': {err}",
        request.sandbox_directory.display()
    );
    if request.items.is_empty() {
        return;
    }
    match request.mode {
        Mode::Fetch => run::emit(&FetchOutcome::failure(0, err.to_string(), false)),
        Mode::Probe => run::emit(&ProbeOutcome {
            index: 0,
            size: None,
            error: Some(err.to_string()),
        }),
    }
}

fn main() -> ExitCode {
    let request = match read_request(std::io::stdin().lock()) {
        Ok(request) => request,
        Err(err) => {
            eprintln!("Failed to fetch: {err}");
            return ExitCode::FAILURE;
        }
    };
    let needs_cache = request.mode == Mode::Fetch
        && request
            .items
            .iter()
            .any(|i| i.action != Action::BypassCache);
    // Before any URI is looked at: a user's fetch must not read what the user cannot.
    if let Err(err) = identity::assume(
        request.user.as_deref(),
        &request.cache_directory,
        needs_cache,
    ) {
        fail_before_items(&request, &err);
        return ExitCode::FAILURE;
    }
    match request.mode {
        Mode::Probe => {
            run::probe_all(&request);
            ExitCode::SUCCESS
        }
        Mode::Fetch if run::fetch_all(&request) => ExitCode::SUCCESS,
        Mode::Fetch => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_malformed_requests_are_refused() {
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        let err = read_request(&big[..]).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
        assert!(read_request(&b"{"[..]).is_err());
        let ok = br#"{"mode":"probe","sandbox_directory":"/s","cache_directory":"/c",
            "stall_timeout_secs":5,"items":[]}"#;
        assert_eq!(read_request(&ok[..]).unwrap().mode, Mode::Probe);
    }
}
