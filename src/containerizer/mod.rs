//! containerizer (to be written).
