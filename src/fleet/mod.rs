//! Many nodes: what the fleet's scheduler decides, kept apart from how nodes talk.

pub mod attributes;
pub mod placement;
