//! resources (to be written).
