//! `namespaces/*`: each adds its CLONE_NEW* flag to the launch.

pub mod ipc;
pub mod pid;
pub mod uts;
