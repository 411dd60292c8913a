//! The fetcher, agent side: the protocol spoken with the `mesolite-fetch` binary, the URI rules
//! shared by both, and the cache index the agent keeps.
//!
//! Everything here is pure (serde, std): the downloading, copying and extracting happen only in
//! `src/bin/mesolite-fetch/`, so the agent binary never links libcurl or the archive crates.

pub mod cache;
pub mod protocol;
pub mod uri;
