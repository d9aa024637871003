//! `wasp events`: the events the agent recorded (the journal in its data dir), newest last; no agent needed.

use crate::config::Config;
use crate::events::journal::{self, Filter};
use crate::model::event::EventKind;
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events younger than this (30m, 1h, 2d).
    #[arg(long, value_parser = crate::config::units::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Only these kinds (repeat or separate with commas): oom_kill, jvm_crash, jvm_oom, jvm_restart, ...
    #[arg(long, value_delimiter = ',', value_parser = kind)]
    pub kind: Vec<EventKind>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

fn kind(s: &str) -> Result<EventKind, String> {
    EventKind::parse(s).ok_or_else(|| {
        let all: Vec<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown kind {s:?}; one of {}", all.join(", "))
    })
}

pub fn run(a: EventsArgs, cfg: &Config) -> anyhow::Result<()> {
    let dir = crate::paths::client_data_dir(cfg);
    let filter = Filter {
        since_ms: a
            .since
            .map(|d| crate::util::clock::now_ms() - d.as_millis() as i64),
        kinds: a.kind,
    };
    let events = journal::read(&dir, cfg.events.journal_max.0, &filter)?;
    for e in &events {
        match a.format {
            Format::Json => outln!("{}", serde_json::to_string(e)?),
            Format::Text => out!(
                "{}  {:<12} {}\n",
                crate::util::clock::utc(e.timestamp_ms),
                e.kind.name(),
                e.message
            ),
        }
    }
    Ok(())
}
