//! Many nodes: agents that coordinate through etcd. Each agent registers under a lease,
//! keeps a mirror of the fleet's keys, runs what the scheduler assigned to it and publishes
//! its tasks; one agent at a time (the holder of the leader key) is the scheduler.

pub mod attributes;
mod converge;
mod coordinator;
mod keys;
mod mirror;
mod outbox;
pub mod placement;
mod publish;
mod records;
mod registration;
mod scheduler;
mod view;
mod writes;

pub use coordinator::{Fleet, FleetConfig};
pub use keys::valid_hostname;
pub use view::FleetApp;
