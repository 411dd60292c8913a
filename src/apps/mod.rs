//! Apps: Marathon's `/v2/apps` served by the agent itself. The agent keeps `instances`
//! containers of each app running: failed ones are relaunched with Marathon's exponential
//! backoff, a changed definition rolls over honouring `upgradeStrategy`, health checks
//! replace instances that fail them, and definitions and instances are checkpointed so an
//! agent restart continues them without a relaunch.
//!
//! Everything runs in the loop: the controller reacts to the containerizer's notices and to
//! its own timers, and drives the containerizer through the same interface the API uses.

pub mod definition;
pub mod health;
mod id;

pub use definition::validate::{check_node, parse as validate_body, Invalid, Violation};
pub use definition::AppDefinition;
pub use id::{AppId, Nonces, TaskId};
mod assigned;
mod backoff;
mod controller;
mod deployment;
mod env;
mod events;
mod instance;
mod plan;
mod ports;
mod reconcile;
pub mod render;
mod store;
pub mod time;
mod watching;

pub use controller::{App, AppError, Apps};
pub use deployment::{new_id as deployment_id, Action, Deployment};
pub use env::Env;
pub use instance::InstanceState;
