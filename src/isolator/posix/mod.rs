//! `posix/cpu` and `posix/mem`: usage only, from the container's process tree in procfs, for
//! hosts without cgroups (Mesos's `src/usage/usage.cpp`).

pub mod cpu;
pub mod mem;
mod proctree;
