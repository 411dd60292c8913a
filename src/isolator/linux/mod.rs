//! `linux/*`: privileges of the task (capabilities, no_new_privs, seccomp).

pub mod capabilities;
pub mod nnp;
pub mod seccomp;
mod seccomp_profile;
