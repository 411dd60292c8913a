//! `filesystem/*`.

pub mod linux;
pub mod posix;
pub mod shared;
