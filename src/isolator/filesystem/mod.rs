//! `filesystem/*`.

pub mod posix;
pub mod shared;
