//! The Docker containerizer: containers of `ContainerInfo.type` DOCKER run by dockerd, driven
//! through its Engine API from the loop.

pub mod engine;
