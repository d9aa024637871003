//! wasp: a lightweight host and JVM collector agent for application-server hosts.
//!
//! collectors (`host`, `jvm`) produce the typed `model`; `ship` encodes and delivers; `present` renders views;
//! `snapshot` captures and keeps dumps, histograms and bundles; `trigger` decides when; `control` and `serve`
//! are the local endpoints; `daemon` and `cli` only wire them. Imports point down that list, never up:
//! `trigger` may import `snapshot`, never the reverse; nothing below `daemon`/`cli` imports them.

pub mod access;
pub mod cli;
pub mod collect;
pub mod config;
pub(crate) mod control;
pub(crate) mod daemon;
pub mod events;
pub mod history;
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
pub mod util;
