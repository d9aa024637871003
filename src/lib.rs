//! wasp: a lightweight host and JVM collector agent for application-server hosts.
//!
//! collectors (`host`, `jvm`) produce the typed `model`; `ship`
//! encodes and delivers; `present` renders views; `daemon` and `cli` only wire them.

pub mod cli;
pub mod collect;
pub mod config;
pub(crate) mod control;
pub(crate) mod daemon;
pub mod host;
pub mod jvm;
pub mod logging;
pub mod model;
pub(crate) mod paths;
pub mod present;
pub mod serve;
pub mod service;
pub mod ship;
pub(crate) mod snapshot;
pub mod trigger;
