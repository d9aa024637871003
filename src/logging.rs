//! The agent's own logs, through tracing: one line per event (time, level, thread, component, fields), written
//! by a background thread so that a slow stderr or journal never blocks the collection loop (lines beyond its
//! buffer are dropped by tracing-appender, not waited for). The level can be changed on a running agent.

use crate::config::units::Interval;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// error, warn, info, debug or trace; RUST_LOG overrides it.
    pub level: LogLevel,
    /// How often an INFO heartbeat line says the agent is alive, so that silence itself is a signal.
    pub heartbeat: Interval,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LogLevel::Info,
            heartbeat: Interval::secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();
static DROPPED: OnceLock<tracing_appender::non_blocking::ErrorCounter> = OnceLock::new();

/// Lines the log thread's buffer had no room for (`wasp_log_lines_dropped_total`).
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

fn filter_for(level: LogLevel) -> EnvFilter {
    // RUST_LOG, when set, wins over the configuration, at start-up and on reload alike.
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()))
}

/// Installs the global subscriber. Keep the guard alive: dropping it flushes the buffered lines.
pub fn init(level: LogLevel) -> WorkerGuard {
    // The buffer's slots are allocated and written up front: 1,024 lines are 32 KB resident (10,000 were
    // 320 KB, a twentieth of the idle agent), and a burst the writer cannot keep up with is counted.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(1024)
        .lossy(true)
        .thread_name("wasp-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let (filter, handle) = reload::Layer::new(filter_for(level));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(true)
        .with_thread_names(true)
        .with_ansi(false);
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(handle);
    }
    guard
}

/// Changes the level of a running agent (SIGHUP with a new `[log] level`).
pub fn set_level(level: LogLevel) {
    if let Some(h) = FILTER.get()
        && let Err(e) = h.reload(filter_for(level))
    {
        tracing::warn!(error = %e, "cannot change the log level");
    }
}
