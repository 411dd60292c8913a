//! isolator (to be written).
