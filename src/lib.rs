//! mesolite: a single-node container agent in the tradition of the Mesos containerizer.
//!
//! Layers (dependencies point down): `agent`/`cli` → `api` → `apps` → `containerizer` → `launcher`,
//! `isolator`, `cgroups`, `stats`, `deleter` → `sys`, `http`, `config`, `resources`.

// Only the OS layer, `sys`, opts out of this lint (each of its blocks has a `SAFETY:` comment).
#![deny(unsafe_code)]

pub mod agent;
pub mod api;
pub mod apps;
pub mod cgroups;
pub mod children;
pub mod cli;
pub mod config;
pub mod containerizer;
pub mod deleter;
pub mod etcd;
pub mod event;
pub mod fetcher;
pub mod fleet;
pub mod http;
pub mod isolator;
pub mod launcher;
pub mod logger;
pub mod loop_stats;
pub mod provisioner;
pub mod resources;
pub mod slot_map;
pub mod spec;
pub mod stats;
pub mod status;
#[allow(unsafe_code)]
pub mod sys;
pub mod timer;
