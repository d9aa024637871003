//! `wasp history`: what the host looked like then, from the local history, as `sar -f` prints a sadc file.
//! Reads the store directly (read-only), while the agent runs and after it stopped.

use crate::config::Config;
use crate::history::query::{Matcher, Query, Reader};
use crate::history::range::{parse_instant, parse_span};
use clap::ValueEnum;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// How far back from now: 10m, 1h, 2d.
    #[arg(long, conflicts_with = "from", default_value = "1h")]
    pub since: String,
    /// Start: 03:00 (the last time the clock read 03:00), "2026-11-28 03:00", RFC 3339, or Unix seconds.
    #[arg(long)]
    pub from: Option<String>,
    /// End (default now); same forms as --from.
    #[arg(long)]
    pub to: Option<String>,
    /// One row per step (sar -i): gauges averaged, rates over the step. Default: every stored interval.
    #[arg(long)]
    pub step: Option<String>,
    /// Print one stored series (a /metrics name) instead of the tables, as `GET /api/v1/history` does.
    #[arg(long)]
    pub metric: Option<String>,
    /// Label matchers for --metric: device="sda" (repeatable).
    #[arg(long = "match")]
    pub matchers: Vec<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

pub(crate) fn run(args: &HistoryArgs, cfg: &Config) -> anyhow::Result<()> {
    let now = crate::util::clock::now_ms();
    let bad = |e: String| anyhow::anyhow!(e);
    let end = match &args.to {
        Some(t) => parse_instant(t, now).map_err(bad)?,
        None => now,
    };
    let start = match &args.from {
        Some(f) => parse_instant(f, now).map_err(bad)?,
        None => end - parse_span(&args.since).map_err(bad)?,
    };
    anyhow::ensure!(start <= end, "--from is after --to");
    let step = args
        .step
        .as_deref()
        .map(parse_span)
        .transpose()
        .map_err(bad)?;
    let reader = Reader::open(&crate::history::path(&cfg.agent.data_dir))?;
    let text = if let Some(metric) = &args.metric {
        let q = Query {
            metric: metric.clone(),
            matchers: args
                .matchers
                .iter()
                .map(|m| Matcher::parse(m))
                .collect::<Result<_, _>>()
                .map_err(bad)?,
            start,
            end,
            step_ms: step,
        };
        let series = reader.query(&q)?;
        match args.format {
            Format::Json => serde_json::json!({ "series": series }).to_string() + "\n",
            Format::Table => {
                let mut s = String::new();
                for x in &series {
                    s.push_str(&format!("{metric}{:?}\n", x.labels));
                    for (t, v) in &x.points {
                        s.push_str(&format!("{}  {v}\n", crate::util::clock::utc(*t)));
                    }
                }
                s
            }
        }
    } else {
        let tables = crate::history::tables::build(&reader, start, end, step)?;
        if tables.is_empty() {
            eprintln!("wasp: nothing stored between these times");
        }
        match args.format {
            Format::Json => crate::history::tables::to_json(&tables).to_string() + "\n",
            Format::Table => crate::history::tables::render(&tables),
        }
    };
    outln!("{}", text.trim_end_matches('\n'));
    Ok(())
}
