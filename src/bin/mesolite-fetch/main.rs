//! `mesolite-fetch`: fetches a container's URIs into its sandbox, for the agent.
//!
//! The agent spawns it per launch, writes one JSON `FetchRequest` on stdin and reads JSON lines
//! from stdout (see `mesolite::fetcher::protocol`); stderr is the sandbox's `stderr` file. All
//! blocking work (network, copies, archives) lives here so the agent's loop never waits, and
//! libcurl is linked into this binary only.
#![deny(unsafe_code)]

mod appc;
mod deliver;
mod download;
mod error;
mod extract;
mod identity;
mod pull;
mod run;
mod safe_fs;

use std::io::Read;
use std::process::ExitCode;

use mesolite::fetcher::protocol::{
    Action, FetchOutcome, FetchRequest, Mode, ProbeOutcome, MAX_REQUEST_BYTES,
};

use mesolite::provisioner::backend::{self, RootfsPaths};
use mesolite::provisioner::protocol::{
    AppcPullRequest, ProvisionEvent, ProvisionRequest, PullEvent, PullRequest,
};

use crate::error::FetchError;

#[cfg(test)]
fn read_request(input: impl Read) -> Result<FetchRequest, FetchError> {
    let bytes = read_bytes(input)?;
    serde_json::from_slice(&bytes).map_err(|e| FetchError::Request(e.to_string()))
}

/// The request's bytes, bounded.
fn read_bytes(input: impl Read) -> Result<Vec<u8>, FetchError> {
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
    Ok(bytes)
}

/// Whether the request is `{"mode":"<mode>",...}` (see `mesolite::provisioner::protocol`).
fn is_mode(bytes: &[u8], mode: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct ModeOnly {
        mode: String,
    }
    serde_json::from_slice::<ModeOnly>(bytes).is_ok_and(|m| m.mode == mode)
}

/// Provision mode: one container rootfs from stored layers (the copy backend's tree copies).
fn run_provision(bytes: &[u8]) -> ExitCode {
    let event = match serde_json::from_slice::<ProvisionRequest>(bytes) {
        Ok(request) => {
            let paths = RootfsPaths {
                rootfs: request.rootfs.clone(),
                scratch: request.scratch.clone(),
            };
            match backend::provision(request.backend, &request.layers, &paths) {
                Ok(()) => ProvisionEvent::Provisioned {
                    rootfs: request.rootfs,
                },
                Err(err) => ProvisionEvent::Failed {
                    error: err.to_string(),
                },
            }
        }
        Err(err) => ProvisionEvent::Failed {
            error: format!("Invalid provision request: {err}"),
        },
    };
    let ok = matches!(event, ProvisionEvent::Provisioned { .. });
    if let ProvisionEvent::Failed { error } = &event {
        eprintln!("Failed to provision: {error}");
    }
    run::emit(&event);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Pull mode: an image into the store (runs as the agent's user, root; no task user here).
fn run_pull(bytes: &[u8]) -> ExitCode {
    match serde_json::from_slice::<PullRequest>(bytes) {
        Ok(request) if pull::pull(&request) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("Invalid pull request: {err}");
            run::emit(&PullEvent::Failed {
                error: format!("Invalid pull request: {err}"),
            });
            ExitCode::FAILURE
        }
    }
}

/// AppC mode: an AppC image and its dependencies into the AppC store (as root, like pulls).
fn run_appc(bytes: &[u8]) -> ExitCode {
    match serde_json::from_slice::<AppcPullRequest>(bytes) {
        Ok(request) if appc::pull(&request) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("Invalid AppC request: {err}");
            run::emit(&PullEvent::Failed {
                error: format!("Invalid AppC request: {err}"),
            });
            ExitCode::FAILURE
        }
    }
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
    let bytes = match read_bytes(std::io::stdin().lock()) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("Failed to fetch: {err}");
            return ExitCode::FAILURE;
        }
    };
    if is_mode(&bytes, "pull") {
        return run_pull(&bytes);
    }
    if is_mode(&bytes, "appc") {
        return run_appc(&bytes);
    }
    if is_mode(&bytes, "provision") {
        return run_provision(&bytes);
    }
    let request = match serde_json::from_slice::<FetchRequest>(&bytes)
        .map_err(|e| FetchError::Request(e.to_string()))
    {
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
