//! launcher (to be written).
