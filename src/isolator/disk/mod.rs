//! `disk/*`.

pub mod du;
