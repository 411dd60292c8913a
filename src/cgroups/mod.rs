//! cgroups (to be written).
