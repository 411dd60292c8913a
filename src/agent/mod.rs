//! agent (to be written).
