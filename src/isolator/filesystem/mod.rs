//! `filesystem/*`.

pub mod posix;
