//! `disk/*`.

pub mod du;
pub mod xfs;
