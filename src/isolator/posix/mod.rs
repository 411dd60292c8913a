//! `posix/cpu` and `posix/mem`: usage only, from the container's process tree in procfs, for
//! hosts without cgroups (Mesos's `src/usage/usage.cpp`); `posix/rlimits`: resource limits.

pub mod cpu;
pub mod mem;
pub(super) mod proctree;
pub mod rlimits;
