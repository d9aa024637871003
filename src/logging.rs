//! The agent's own logs, through tracing: one line per event, written by a background thread so that a slow
//! stderr or journal never blocks the collection loop (lines beyond its buffer are dropped and counted by
//! tracing-appender, not waited for).

use crate::config::LogLevel;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` overrides the configured level. Keep the guard alive: dropping it
/// flushes the buffered lines.
pub fn init(level: LogLevel) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(10_000)
        .lossy(true)
        .finish(std::io::stderr());
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true)
        .with_thread_names(true)
        .with_ansi(false)
        .try_init();
    guard
}
