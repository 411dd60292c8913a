//! Network isolators: `network/cni`.

pub mod cni;
